"""The fusion node's guided calibration with real rclpy (localhost, this run's domain): a
person standing still in the T-pose with three devices whose mountings are off, the
``~/calibrate`` service, what it says in /diagnostics, and that it then corrects them."""

import os

import numpy as np
import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import Imu  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from ego4o_ros import interface  # noqa: E402
from ego4o_ros.core import rotations  # noqa: E402
from ego4o_ros.graph import capture_graph  # noqa: E402
from ego4o_ros.graph.harness import Harness  # noqa: E402
from ego4o_ros.nodes.common import reliable_qos, sensor_qos, to_stamp  # noqa: E402

pytestmark = pytest.mark.ros

SITES = interface.DEFAULT_SITES
RATE = 100.0


def still_imu(stamp: float, world_from_device: np.ndarray, rng) -> Imu:
    """A still sensor whose device sits at ``world_from_device`` (3x3, ENU): it reads that
    orientation and gravity (+9.81 up, in its own axes) plus noise, as sensor_msgs/Imu does."""
    msg = Imu(header=Header(stamp=to_stamp(stamp), frame_id=""))
    w, x, y, z = rotations.matrix_to_quat(world_from_device)
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = map(float, (x, y, z, w))
    up_in_device = world_from_device.T @ np.array([0.0, 0.0, 9.81])
    acc = up_in_device + rng.normal(0, 0.02, 3)
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = map(float, acc)
    return msg


def test_calibrate_service_finds_every_worn_device_standing_still():
    rng = np.random.default_rng(0)
    mounts = {site: rotations.axis_angle_to_matrix(rng.normal(0, 0.4, 3)) for site in SITES}
    spec = next(s for s in capture_graph(replay=False, record=False) if s.name == "fusion")
    overrides = {"fusion": {"use_text": False, "use_image": False, "diagnostics_period": 0.2, "calibration_still": 1.5}}
    with Harness(overrides=overrides) as graph:
        fusion = graph.start_node(spec)
        probe = graph.create_node("calibration_probe")
        publishers = {s: probe.create_publisher(Imu, interface.imu_topic(s), sensor_qos()) for s in SITES}
        statuses = []
        probe.create_subscription(
            DiagnosticArray,
            interface.DIAGNOSTICS,
            lambda m: statuses.extend(s for s in m.status if s.name == "ego4o fusion: calibration"),
            reliable_qos(50),
        )
        client = probe.create_client(Trigger, "/fusion/calibrate")
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(Trigger.Request())
        graph.spin_until(future.done, timeout_s=10)
        assert future.result().success and "stand still in the T-pose" in future.result().message
        start = probe.get_clock().now().nanoseconds * 1e-9
        for k in range(int(4.0 * RATE)):  # 4 s of standing still, on the receiver's clock
            stamp = start + k / RATE
            for site, publisher in publishers.items():
                publisher.publish(still_imu(stamp, mounts[site], rng))
            graph.spin_until(lambda t=stamp: probe.get_clock().now().nanoseconds * 1e-9 >= t, timeout_s=1)
        graph.spin_until(lambda: fusion.fusion.calibration.finished, timeout_s=5)
        graph.spin(0.5)
    values = {kv.key: kv.value for kv in statuses[-1].values}
    assert values["state"] == "done", values
    assert set(values["sites"].split()) == set(SITES)
    assert all(abs(float(values[f"gravity_{s}"]) - 9.81) < 0.1 for s in SITES), values
    # The mountings are undone: every device now reads its segment's T-pose orientation (identity).
    buffers = fusion.fusion.capture.buffers
    for site in SITES:
        _, ori = buffers[site].sample(np.array([buffers[site].newest_stamp]))
        angle = np.degrees(np.linalg.norm(rotations.matrix_to_axis_angle(ori[0])))
        assert angle < 3.0, (site, angle)
