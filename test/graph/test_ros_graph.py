"""The capture graph with real rclpy (localhost discovery, this run's own domain):
replay -> fusion -> captioning -> fusion, recorded; a sensor vanishes mid-run and
garbage is thrown at the fusion node."""

import os

import numpy as np
import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import Image, Imu, JointState  # noqa: E402
from std_msgs.msg import Header, String  # noqa: E402

from ego4o_ros import interface  # noqa: E402
from ego4o_ros.core import joint_angles  # noqa: E402
from ego4o_ros.core.bag import bag_topics, read_bag  # noqa: E402
from ego4o_ros.graph import capture_graph  # noqa: E402
from ego4o_ros.graph.harness import Harness  # noqa: E402
from ego4o_ros.nodes.common import reliable_qos, sensor_qos, to_stamp  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    bag = tmp_path_factory.mktemp("bag") / "capture"
    overrides = {
        "wearable_replay": {"outages": ["head:2.0:4.0"], "camera_rate": 10.0},
        "fusion": {"imu.right_wrist.frame_id": "right_wrist_imu"},
        "recorder": {"output": str(bag)},
        "captioning": {"feedback_min_confidence": 0.0},  # every description closes the loop
    }
    received = {"joint_states": [], "diagnostics": [], "description": [], "text_input": []}
    with Harness(overrides=overrides) as graph:
        probe = graph.create_node("test_probe")
        probe.create_subscription(
            JointState, interface.JOINT_STATES, received["joint_states"].append, reliable_qos(100)
        )
        probe.create_subscription(
            DiagnosticArray, interface.DIAGNOSTICS, received["diagnostics"].append, reliable_qos()
        )
        probe.create_subscription(String, interface.DESCRIPTION, received["description"].append, reliable_qos())
        probe.create_subscription(String, interface.TEXT_INPUT, received["text_input"].append, reliable_qos())
        garbage_imu = probe.create_publisher(Imu, interface.imu_topic("right_wrist"), sensor_qos())
        garbage_image = probe.create_publisher(Image, interface.CAMERA_IMAGE, sensor_qos(5))
        nodes = {spec.name: graph.start_node(spec) for spec in capture_graph()}  # all in this process
        replay, fusion = nodes["wearable_replay"], nodes["fusion"]
        sent_garbage = False

        def send_garbage_once() -> bool:
            nonlocal sent_garbage
            if not sent_garbage and fusion.fusion.published > 30:
                sent_garbage = True
                now = probe.get_clock().now().nanoseconds * 1e-9
                for stamp, acc, frame in (
                    (now, (np.nan, 0.0, 9.8), "right_wrist_imu"),
                    (now, (0.0, 0.0, 9.8), "wrong_frame"),
                    (now + 5, (0.0, 0.0, 9.8), "right_wrist_imu"),  # future
                    (now + 0.01, (0.0, 0.0, 9.8), "right_wrist_imu"),
                    (now, (0.0, 0.0, 9.8), "right_wrist_imu"),
                ):  # backwards
                    msg = Imu(header=Header(stamp=to_stamp(stamp), frame_id=frame))
                    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = acc
                    msg.orientation.w = 1.0
                    garbage_imu.publish(msg)
                garbage_image.publish(
                    Image(
                        header=Header(stamp=to_stamp(now)), height=4, width=4, encoding="yuv422", step=8, data=bytes(32)
                    )
                )
            return replay.finished

        graph.spin_until(send_garbage_once)
        assert nodes["captioning"].wait_idle()  # the last description (made in its worker thread)
        graph.spin(1.5)
        nodes["recorder"].close()  # writes metadata.yaml, as a stopped recorder does
        yield {
            "received": received,
            "fusion": fusion,
            "replay": replay,
            "captioner": nodes["captioning"],
            "bag": bag,
        }


def test_joint_states_at_model_rate_with_sample_stamps_and_urdf_names(run):
    states = run["received"]["joint_states"]
    replay = run["replay"]
    assert len(states) >= int(replay.duration * 30) - 10
    stamps = np.array([s.header.stamp.sec + s.header.stamp.nanosec * 1e-9 for s in states])
    np.testing.assert_allclose(np.diff(stamps), 1 / 30, atol=1e-4)
    # Stamped with the replayed data's time (the replay's start + clip time), not publish time.
    start = replay._start
    assert start <= stamps[0] < start + 0.2 and stamps[-1] <= start + replay.duration + 1e-3
    assert list(states[0].name) == list(joint_angles.DOF_NAMES)
    assert all(np.isfinite(s.position).all() and len(s.position) == len(s.name) for s in states)


def test_description_loop_reaches_fusion(run):
    said = [m.data for m in run["received"]["description"]]
    assert said, "the captioning node published nothing"
    assert [m.data for m in run["received"]["text_input"]] == said  # fed back: threshold 0
    assert run["fusion"].fusion.capture.stats.texts >= 1
    assert any(n for n in run["captioner"].descriptions)


def test_vanished_sensor_keeps_output_flowing_and_shows_in_diagnostics(run):
    states = run["received"]["joint_states"]
    start = run["replay"]._start
    during = [s for s in states if 2.3 < s.header.stamp.sec + s.header.stamp.nanosec * 1e-9 - start < 3.7]
    assert len(during) >= 35  # ~42 frames while the head sensor is gone
    head_status = [st for d in run["received"]["diagnostics"] for st in d.status if st.name == "ego4o fusion: imu head"]
    messages = {st.message for st in head_status}
    assert "absent (stale)" in messages and "active" in messages


def test_garbage_is_rejected_and_counted(run):
    rejected = run["fusion"].fusion.capture.buffers["right_wrist"].rejected
    assert rejected["not_finite"] == 1 and rejected["wrong_frame"] == 1 and rejected["stamp_backwards"] == 1
    assert rejected["stamp_in_future"] == 1
    camera = run["fusion"].fusion.camera
    assert camera.rejected["unsupported_encoding"] == 1
    assert camera.received > 0  # the replay's camera frames were fine
    capture = [st for d in run["received"]["diagnostics"] for st in d.status if st.name == "ego4o fusion: capture"]
    assert capture and dict((kv.key, kv.value) for kv in capture[-1].values)["frames_published"] != "0"


def test_the_rendered_camera_is_encoded_and_used(run):
    fusion = run["fusion"].fusion
    encoder = fusion.camera.encoder
    assert encoder is not None and encoder.encoded > 0 and encoder.errors == 0
    assert fusion.capture.stats.images == encoder.encoded
    statuses = [st for d in run["received"]["diagnostics"] for st in d.status]
    camera = [dict((kv.key, kv.value) for kv in st.values) for st in statuses if st.name == "ego4o fusion: camera"]
    assert camera and int(camera[-1]["encoded"]) > 0 and float(camera[-1]["encode_p50_ms"]) > 0
    assert any(st.message == "active" for st in statuses if st.name == "ego4o fusion: camera")
    capture = [dict((kv.key, kv.value) for kv in st.values) for st in statuses if st.name == "ego4o fusion: capture"]
    assert any("image" in c["active_modalities"].split() for c in capture)


def test_recorded_bag_reads_back_with_all_topics_and_types(run):
    topics = bag_topics(run["bag"])
    expected = {
        "/imu/left_wrist": "sensor_msgs/msg/Imu",
        "/imu/head": "sensor_msgs/msg/Imu",
        "/joint_states": "sensor_msgs/msg/JointState",
        "/joint_poses": "geometry_msgs/msg/PoseArray",
        "/skeleton_markers": "visualization_msgs/msg/MarkerArray",
        "/description": "std_msgs/msg/String",
        "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
        "/ground_truth/joint_poses": "geometry_msgs/msg/PoseArray",
        "/camera/image_raw": "sensor_msgs/msg/Image",
    }
    for topic, msgtype in expected.items():
        assert topics[topic][0] == msgtype and topics[topic][1] > 0, topic
    states = [m for m in read_bag(run["bag"]) if m.topic == "/joint_states"]
    assert abs(len(states) - len(run["received"]["joint_states"])) <= 5
