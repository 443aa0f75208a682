"""The retarget node with real rclpy (localhost discovery, this run's own domain): the
bundled walk as joint_poses in -> robot/joint_states (G1 joint names in URDF order,
input stamps) and robot/root_pose out."""

import os
from pathlib import Path

import numpy as np
import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

from geometry_msgs.msg import PoseArray, PoseStamped  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from ego4o_ros import interface  # noqa: E402
from ego4o_ros.core import joint_angles  # noqa: E402
from ego4o_ros.core.features import retarget_to_template  # noqa: E402
from ego4o_ros.graph import capture_graph, retarget_overrides  # noqa: E402
from ego4o_ros.graph.harness import Harness  # noqa: E402
from ego4o_ros.nodes.common import pose_array, reliable_qos, to_seconds, to_stamp  # noqa: E402
from ego4o_ros.readers.bandai import read_bandai  # noqa: E402
from ego4o_ros.retarget.robot import urdf_joint_order  # noqa: E402

pytestmark = pytest.mark.ros

FRAMES = 20
START = 1000.0  # s: stamps of the data, not of the wall clock


@pytest.fixture(scope="module")
def run():
    sample = Path(__file__).resolve().parents[2] / "ego4o_ros" / "data" / "sample" / "dataset-2_walk_normal_001.bvh"
    joints = retarget_to_template(read_bandai(sample, target_fps=30).joints)[:FRAMES]
    spec = next(s for s in capture_graph(robot="g1") if s.name == "retarget")
    received = {"joints": [], "root": []}
    with Harness(overrides=retarget_overrides("g1")) as graph:
        node = graph.start_node(spec)
        probe = graph.create_node("retarget_test_probe")
        probe.create_subscription(
            JointState, interface.ROBOT_JOINT_STATES, received["joints"].append, reliable_qos(100)
        )
        probe.create_subscription(PoseStamped, interface.ROBOT_ROOT_POSE, received["root"].append, reliable_qos(100))
        publisher = probe.create_publisher(PoseArray, interface.JOINT_POSES, reliable_qos(100))
        assert graph.spin_until(  # discovery, both ways
            lambda: (
                publisher.get_subscription_count() > 0
                and probe.count_publishers(interface.ROBOT_JOINT_STATES) > 0
                and probe.count_publishers(interface.ROBOT_ROOT_POSE) > 0
            ),
            timeout_s=10.0,
        )
        graph.spin(0.2)
        stamps = []
        for t, frame in enumerate(joints):
            pose = joint_angles.ros_body_pose(frame)  # as the fusion node publishes it
            stamp = START + t / 30.0
            stamps.append(stamp)
            publisher.publish(
                pose_array(Header(stamp=to_stamp(stamp), frame_id="world"), pose.positions, pose.orientations_xyzw)
            )
            for _ in range(3):
                graph.spin_once(0.02)
        bad = PoseArray(header=Header(stamp=to_stamp(START + 5)))  # 0 poses: rejected, not a crash
        publisher.publish(bad)
        graph.spin_until(lambda: len(received["joints"]) >= FRAMES and node.rejected >= 1, timeout_s=5.0)
        yield {"node": node, "received": received, "stamps": stamps}


def test_node_publishes_the_robots_joint_names_in_urdf_order(run):
    messages = run["received"]["joints"]
    assert len(messages) == FRAMES
    urdf = run["node"].retargeter.map.urdf
    expected = [
        n
        for n in urdf_joint_order(urdf)
        if n.endswith("_joint")
        and "hand" not in n
        and n
        not in (
            "pelvis_contour_joint",
            "logo_joint",
            "head_joint",
            "imu_in_torso_joint",
            "imu_in_pelvis_joint",
            "d435_joint",
            "mid360_joint",
        )
    ]
    assert len(expected) == 29
    for msg in messages:
        assert list(msg.name) == expected
        assert len(msg.position) == 29 and np.isfinite(msg.position).all()
    lower, upper = run["node"].retargeter.robot.lower, run["node"].retargeter.robot.upper
    positions = np.array([m.position for m in messages])
    assert ((positions >= lower - 1e-9) & (positions <= upper + 1e-9)).all()
    assert np.ptp(positions, axis=0).max() > 0.1  # the robot walks: joints move


def test_outputs_carry_the_stamps_of_the_poses(run):
    stamps = run["stamps"]
    assert [to_seconds(m.header.stamp) for m in run["received"]["joints"]] == pytest.approx(stamps, abs=1e-6)
    roots = run["received"]["root"]
    assert [to_seconds(m.header.stamp) for m in roots] == pytest.approx(stamps, abs=1e-6)
    assert {m.header.frame_id for m in roots} == {"world"}
    heights = np.array([m.pose.position.z for m in roots])
    assert (np.abs(heights - 0.793) < 0.08).all()  # the G1's pelvis at about its standing height
    quaternions = np.array(
        [(m.pose.orientation.x, m.pose.orientation.y, m.pose.orientation.z, m.pose.orientation.w) for m in roots]
    )
    np.testing.assert_allclose(np.linalg.norm(quaternions, axis=1), 1.0, atol=1e-6)
    assert run["node"].rejected == 1
