"""The package's own messages (msg/), built into the install these tests run from: by `make`
(cmake/build_messages.sh into the venv) or by colcon (.ci/run builds the package as a ROS user
would and runs this file against that build).

The fusion node publishes ``smpl_pose`` (``ego4o_ros/msg/SmplPose``), a listener in another
process receives it over DDS and every message it got is checked against the frame the node
computed and what it published on ``joint_poses`` for the same stamp; the recorder keeps both
custom types with their definitions, and rosbags reads them back from the bag alone; the
analysis (ego4o-analyze) writes the same SmplPose for the same frames."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + (os.getpid() + 70) % 100))

from builtin_interfaces.msg import Time  # noqa: E402
from geometry_msgs.msg import PoseArray  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosidl_adapter.parser import parse_message_file  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from ego4o_ros import interface  # noqa: E402
from ego4o_ros.core import body, joint_angles  # noqa: E402
from ego4o_ros.graph.harness import Harness  # noqa: E402
from ego4o_ros.nodes.common import (  # noqa: E402
    MotionDescription,
    SmplPose,
    positions_of,
    reliable_qos,
    to_seconds,
)
from ego4o_ros.nodes.fusion_node import FusionNode  # noqa: E402
from ego4o_ros.nodes.recorder_node import RecorderNode  # noqa: E402
from ego4o_ros.nodes.wearable_replay_node import WearableReplayNode  # noqa: E402

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[2]
NOT_BUILT = (
    "ego4o_ros.msg is not built in this install: `make test` / `make demo` build it into the venv "
    "(cmake/build_messages.sh; needs a C/C++ compiler and CMake), colcon on a full ROS 2 install"
)

# Subscribes in its own process until its stdin closes, then prints what it received as JSON.
LISTENER = textwrap.dedent("""
    import json, sys, threading, time
    import rclpy
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from ego4o_ros.msg import MotionDescription, SmplPose

    rclpy.init()
    node = rclpy.create_node("smpl_pose_listener")
    qos = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                     history=HistoryPolicy.KEEP_LAST, depth=1000)
    poses, descriptions = [], []
    node.create_subscription(SmplPose, "smpl_pose", poses.append, qos)
    node.create_subscription(MotionDescription, "description_stamped", descriptions.append, qos)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print("listening", flush=True)
    while not done.is_set():
        rclpy.spin_once(node, timeout_sec=0.05)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    xyz = lambda v: [v.x, v.y, v.z]
    stamp = lambda t: t.sec * 1_000_000_000 + t.nanosec
    print(json.dumps({
        "types": {name: types for name, types in node.get_topic_names_and_types()},
        "module": SmplPose.__module__,
        "smpl_pose": [{
            "stamp_ns": stamp(m.header.stamp), "frame_id": m.header.frame_id,
            "global_orient": xyz(m.global_orient), "body_pose": [float(v) for v in m.body_pose],
            "transl": xyz(m.transl), "joint_positions": [xyz(p) for p in m.joint_positions],
            "active_sensors": list(m.active_sensors), "part_names": list(m.part_names),
            "part_confidence": [float(v) for v in m.part_confidence], "frame_index": m.frame_index,
        } for m in poses],
        "description_stamped": [{
            "stamp_ns": stamp(m.header.stamp), "window_start_ns": stamp(m.window_start), "text": m.text,
            "source": m.source, "fed_back": m.fed_back,
        } for m in descriptions],
    }), flush=True)
    node.destroy_node()
    rclpy.shutdown()
""")

# Reads the recorded bag with rosbags and the definitions stored in it: neither ego4o_ros nor
# rclpy can be imported (as on a machine where the package was never built).
BAG_READER = textwrap.dedent("""
    import json, sys
    sys.modules["ego4o_ros"] = sys.modules["rclpy"] = None
    from rosbags.highlevel import AnyReader
    from pathlib import Path

    out = {}
    with AnyReader([Path(sys.argv[1])]) as reader:
        for connection, _, raw in reader.messages():
            if connection.msgtype.startswith("ego4o_ros/"):
                msg = reader.deserialize(raw, connection.msgtype)
                row = {"stamp_ns": msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec}
                if connection.msgtype == "ego4o_ros/msg/SmplPose":
                    row.update(frame_index=int(msg.frame_index), active_sensors=list(msg.active_sensors),
                               joint_positions=[[p.x, p.y, p.z] for p in msg.joint_positions],
                               body_pose=[float(v) for v in msg.body_pose])
                else:
                    row.update(text=msg.text, source=msg.source)
                out.setdefault(connection.msgtype, []).append(row)
    print(json.dumps(out))
""")


def parameters(**values):
    return [Parameter(name, value=value) for name, value in values.items()]


def test_messages_are_built_and_the_package_is_not_shadowed():
    """ego4o_ros.msg imports; our own modules come from one place (the editable checkout under
    make, the install under colcon), and any other folder of the package holds only generated code."""
    assert SmplPose is not None and MotionDescription is not None, NOT_BUILT
    import ego4o_ros.msg

    import ego4o_ros.nodes.fusion_node

    package = Path(ego4o_ros.__file__).parent
    assert Path(ego4o_ros.nodes.fusion_node.__file__).parent.parent == package
    for extra in map(Path, ego4o_ros.__path__[1:]):
        ours = [p for p in extra.rglob("*.py") if p.relative_to(extra).parts[0] != "msg"]
        assert not ours, f"copies of our sources in {extra} could shadow the checkout: {ours[:3]}"
    assert Path(ego4o_ros.msg.__file__).parent.parent in map(Path, ego4o_ros.__path__)
    # the generated types have the fields of the .msg files
    for cls in (SmplPose, MotionDescription):
        spec = parse_message_file("ego4o_ros", str(ROOT / "msg" / f"{cls.__name__}.msg"))
        assert list(cls.get_fields_and_field_types()) == [f.name for f in spec.fields]


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    """Replay -> fusion in this process, a recorder beside them, the listener in its own process;
    a MotionDescription as the captioning node sends it goes out once the replay ends."""
    if SmplPose is None:
        pytest.fail(NOT_BUILT)
    work = tmp_path_factory.mktemp("messages")
    bag = work / "bag"
    computed, joint_poses = {}, {}  # stamp ns -> the fusion node's frame / its joint_poses positions
    with Harness() as graph:
        listener = graph.start_command(
            [sys.executable, "-c", LISTENER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=work,  # not the checkout: `-c` puts the working directory first on sys.path
        )
        assert listener.stdout.readline().strip() == "listening"
        probe = graph.create_node("messages_probe")
        probe.create_subscription(
            PoseArray,
            interface.JOINT_POSES,
            lambda m: joint_poses.__setitem__(round(to_seconds(m.header.stamp) * 1e9), positions_of(m)),
            reliable_qos(1000),
        )
        description_pub = probe.create_publisher(MotionDescription, interface.DESCRIPTION_STAMPED, reliable_qos())
        topics = ["/" + t for t in (interface.SMPL_POSE, interface.DESCRIPTION_STAMPED, interface.JOINT_POSES)]
        graph.add(RecorderNode(parameter_overrides=parameters(output=str(bag), topics=topics, discovery_period=0.1)))
        fusion = graph.add(FusionNode(parameter_overrides=parameters(use_text=False)))
        published = fusion.fusion.frame_published

        def record(now, frame):
            confidence = None if frame.confidence is None else np.asarray(frame.confidence, np.float64).copy()
            computed[round(frame.stamp * 1e9)] = (
                frame.frame_index,
                tuple(frame.sites),
                confidence,
                frame.joints.copy(),
            )
            published(now, frame)

        fusion.fusion.frame_published = record
        assert graph.spin_until(
            lambda: fusion.pub_smpl.get_subscription_count() >= 2 and description_pub.get_subscription_count() >= 2,
            timeout_s=20,
        ), "the listener and the recorder did not join"
        replay = graph.add(WearableReplayNode(parameter_overrides=parameters(max_duration=2.0, start_delay=0.3)))
        assert graph.spin_until(lambda: replay.finished, timeout_s=60, poll_s=0.02), "the replay did not finish"
        graph.drain(1.0, progress=lambda: len(computed))
        end = max(computed)
        window_end = Time(sec=end // 1_000_000_000, nanosec=end % 1_000_000_000)
        description_pub.publish(
            MotionDescription(
                header=Header(stamp=window_end, frame_id="world"),
                window_start=Time(sec=window_end.sec - 1, nanosec=window_end.nanosec),
                window_end=window_end,
                text="a person walks forward",
                source="code_captioner",
                confidence=float("nan"),
                fed_back=True,
            )
        )
        graph.spin(0.8)
        output, _ = listener.communicate("", timeout=30)
        assert listener.returncode == 0, output[-3000:]
    received = json.loads(output.strip().splitlines()[-1])
    return received, computed, joint_poses, bag


def test_smpl_pose_reaches_another_process_as_the_fusion_node_computed_it(live_run):
    received, computed, joint_poses, _ = live_run
    assert received["types"]["/smpl_pose"] == ["ego4o_ros/msg/SmplPose"]
    assert received["module"] == "ego4o_ros.msg._smpl_pose"
    poses = received["smpl_pose"]
    assert len(computed) >= 45  # ~2 s at the model's 30 Hz, less the look-ahead
    assert len(poses) == len(computed), "one smpl_pose per output frame, none lost"
    assert [p["frame_index"] for p in poses] == list(
        range(poses[0]["frame_index"], poses[0]["frame_index"] + len(poses))
    )
    for pose in poses:
        frame_index, sites, confidence, joints = computed[pose["stamp_ns"]]
        assert pose["frame_index"] == frame_index
        assert pose["active_sensors"] == list(sites) and set(sites) <= set(interface.DEFAULT_SITES)
        assert pose["frame_id"] == "world"
        # the same joints as joint_poses of the same stamp
        np.testing.assert_allclose(pose["joint_positions"], joint_poses[pose["stamp_ns"]], atol=1e-12)
        smpl = joint_angles.ros_body_pose(joints).smpl
        np.testing.assert_allclose(pose["global_orient"], smpl["global_orient"], atol=1e-9)
        np.testing.assert_allclose(pose["transl"], smpl["transl"], atol=1e-12)
        np.testing.assert_allclose(
            pose["body_pose"], smpl["body_pose"].astype(np.float32).ravel(), rtol=1e-6, atol=1e-7
        )
        assert pose["part_names"] == list(body.PART_NAMES)
        if confidence is None:
            assert pose["part_confidence"] == []
        else:
            np.testing.assert_allclose(pose["part_confidence"], confidence, atol=1e-6)
    (description,) = received["description_stamped"]
    assert description["text"] == "a person walks forward" and description["stamp_ns"] == max(computed)
    assert description["stamp_ns"] - description["window_start_ns"] == 1_000_000_000


def test_recorded_custom_messages_deserialise_from_the_bag_alone(live_run):
    """What another machine without ego4o_ros gets from the bag: the definitions stored in it."""
    received, _, _, bag = live_run
    result = subprocess.run(
        [sys.executable, "-c", BAG_READER, str(bag)], capture_output=True, text=True, timeout=120, cwd=bag.parent
    )
    assert result.returncode == 0, result.stderr[-3000:]
    recorded = json.loads(result.stdout)
    by_stamp = {p["stamp_ns"]: p for p in received["smpl_pose"]}
    poses = recorded["ego4o_ros/msg/SmplPose"]
    assert len(poses) == len(by_stamp)
    for pose in poses:
        sent = by_stamp[pose["stamp_ns"]]
        assert pose["frame_index"] == sent["frame_index"] and pose["active_sensors"] == sent["active_sensors"]
        np.testing.assert_array_equal(pose["joint_positions"], sent["joint_positions"])
        np.testing.assert_array_equal(pose["body_pose"], sent["body_pose"])
    (description,) = recorded["ego4o_ros/msg/MotionDescription"]
    assert description["text"] == "a person walks forward" and description["source"] == "code_captioner"


def test_the_analysis_writes_smpl_pose_as_the_fusion_node_publishes_it(live_run):
    """ego4o-analyze's bulk SmplPose (rosbags CDR) for the frames the node computed: read by the
    built type, equal to what the listener received (the analysis has no part confidences)."""
    from rclpy.serialization import deserialize_message, serialize_message

    from ego4o_ros.analysis.messages import smpl_pose_rows
    from ego4o_ros.analysis.pipeline import ros_body_poses
    from ego4o_ros.analysis.writing import custom_store

    received, computed, _, _ = live_run
    store, _ = custom_store()
    stamps = np.array(sorted(computed), np.int64)
    frame_index, sites, _, joints = zip(*(computed[s] for s in stamps.tolist()))
    positions, _, _, local = ros_body_poses(np.stack(joints))
    rows = smpl_pose_rows(store, stamps, local, positions, list(sites), np.array(frame_index), "world")
    by_stamp = {p["stamp_ns"]: p for p in received["smpl_pose"]}
    for stamp, row in zip(stamps.tolist(), rows):
        msg = deserialize_message(row, SmplPose)
        assert serialize_message(msg) == row  # the same bytes as the built type's own serialisation
        sent = by_stamp[stamp]
        assert msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec == stamp
        assert msg.header.frame_id == sent["frame_id"] and msg.frame_index == sent["frame_index"]
        assert list(msg.active_sensors) == sent["active_sensors"]
        assert list(msg.part_names) == [] and list(msg.part_confidence) == []
        np.testing.assert_allclose([[p.x, p.y, p.z] for p in msg.joint_positions], sent["joint_positions"], atol=1e-12)
        np.testing.assert_allclose([msg.transl.x, msg.transl.y, msg.transl.z], sent["transl"], atol=1e-12)
        orient = [msg.global_orient.x, msg.global_orient.y, msg.global_orient.z]
        np.testing.assert_allclose(orient, sent["global_orient"], atol=1e-9)
        np.testing.assert_allclose(msg.body_pose, sent["body_pose"], atol=1e-6)
