"""ego4o-analyze: bags (recorded by the graph, written here, killed mid-recording, ROS 1)
-> offline motion, descriptions, an output bag, arrays and a report. Real bags, real
models; the graph run sets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and its own domain."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ego4o_ros.analysis import AnalysisConfig, analyze_bags
from ego4o_ros.analysis.cdr import decode_imu
from ego4o_ros.analysis.messages import imu_template, marker_values, output_templates, pose_values, string_cdr
from ego4o_ros.analysis.pipeline import available_cpus, ros_body_poses, with_threads
from ego4o_ros.analysis.reading import convert_stream
from ego4o_ros.analysis.recording import tile_bag, write_replay_bag
from ego4o_ros.analysis.report import FIGURES
from ego4o_ros.analysis.scoring import score_pairs
from ego4o_ros.core import frames, imu, joint_angles
from ego4o_ros.core.bag import BagWriter, TopicSpec, bag_topics, deserialize, read_bag, standard_typestore
from ego4o_ros.live.replay import ReplayConfig
from ego4o_ros.live.scoring import canonical, matched_pairs
from ego4o_ros.live.sensors import ImuConvention, to_body_frame

ROOT = Path(__file__).resolve().parents[2]
CONFIG = AnalysisConfig()


def analyse(bag: Path, out: Path, **kwargs) -> dict:
    result = analyze_bags([bag], out, CONFIG, progress=False, **kwargs)[0]
    assert "error" not in result, result.get("traceback")
    return result


def mean_pose_baseline(truth_ros: np.ndarray) -> dict:
    """``score_pairs`` on the same frames of a model that ignores its IMUs and always answers
    the mean of the true poses, each taken in the canonical frame the scoring puts it in."""
    mean_ros = canonical(truth_ros).mean(0) @ frames.ROS_FROM_BODY.T
    return score_pairs(np.repeat(mean_ros[None], len(truth_ros), 0), truth_ros)


def load_motion(result: dict, out: Path) -> dict:
    name = Path(result["bag"]).stem if Path(result["bag"]).is_file() else Path(result["bag"]).name
    return dict(np.load(out / name / "motion.npz"))


# -- building blocks, against the code they stand in for ---------------------------------------


def test_bulk_messages_are_byte_equal_to_rosbags_serialisation():
    store = standard_typestore()
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(3, 22, 3))
    positions, orientations, dofs, _ = ros_body_poses(joints)
    stamps = np.array([1_700_000_000_123_456_789, 5, 2_000_000_000], np.int64)
    templates = output_templates("world")
    rows = {
        "joint_states": templates["joint_states"].encode(stamps, dofs),
        "joint_poses": templates["joint_poses"].encode(stamps, pose_values(positions, orientations)),
        "skeleton_markers": templates["skeleton_markers"].encode(stamps, marker_values(positions)),
    }
    for k, stamp in enumerate(stamps):
        state = store.deserialize_cdr(rows["joint_states"][k].tobytes(), "sensor_msgs/msg/JointState")
        assert list(state.name) == list(joint_angles.DOF_NAMES)
        np.testing.assert_array_equal(state.position, dofs[k])
        assert state.header.stamp.sec * 10**9 + state.header.stamp.nanosec == stamp
        poses = store.deserialize_cdr(rows["joint_poses"][k].tobytes(), "geometry_msgs/msg/PoseArray")
        np.testing.assert_array_equal([[p.position.x, p.position.y, p.position.z] for p in poses.poses], positions[k])
        markers = store.deserialize_cdr(rows["skeleton_markers"][k].tobytes(), "visualization_msgs/msg/MarkerArray")
        assert [m.type for m in markers.markers] == [5, 7] and len(markers.markers[1].points) == 22
        assert markers.markers[0].header.stamp.nanosec == stamp % 10**9
        # Re-serialising the decoded message gives the same bytes: nothing is off-layout.
        for topic, msgtype, msg in (
            ("joint_states", "sensor_msgs/msg/JointState", state),
            ("joint_poses", "geometry_msgs/msg/PoseArray", poses),
            ("skeleton_markers", "visualization_msgs/msg/MarkerArray", markers),
        ):
            assert bytes(store.serialize_cdr(msg, msgtype)) == rows[topic][k].tobytes()


def test_batched_joint_values_and_the_scoring_frame_equal_the_per_frame_ones():
    """The analysis converts and scores all frames at once; the live graph converts one
    frame at a time, and scoring puts each frame in ``frames.canonical_frame`` of its own."""
    from ego4o_ros.core import frames, metrics
    from ego4o_ros.live.scoring import canonical

    rng = np.random.default_rng(1)
    joints = np.load(ROOT.parent / "shared/data/humanml3d_sample/012314_new_joints.npy")[:40].astype(np.float64)
    positions, orientations, dofs, _ = ros_body_poses(joints)
    for k in (0, 17, 39):
        pose = joint_angles.ros_body_pose(joints[k])
        np.testing.assert_allclose(positions[k], pose.positions, atol=1e-12)
        np.testing.assert_allclose(orientations[k], pose.orientations_xyzw, atol=1e-9)
        np.testing.assert_allclose(dofs[k], pose.dofs, atol=1e-9)
    noisy = positions + rng.normal(0, 0.03, positions.shape)
    per_frame = np.stack([frames.canonical_frame(j[None]).points(j[None])[0] for j in noisy @ frames.ROS_FROM_BODY])
    np.testing.assert_allclose(canonical(noisy), per_frame, atol=1e-9)
    truth = np.stack([frames.canonical_frame(j[None]).points(j[None])[0] for j in positions @ frames.ROS_FROM_BODY])
    scored = score_pairs(noisy, positions)
    assert scored["frames"] == 40
    assert scored["mpjpe_mm"] == pytest.approx(float(metrics.mpjpe(per_frame[None], truth[None])), rel=1e-9)


@pytest.mark.parametrize(
    "convention",
    [
        ImuConvention(),
        ImuConvention(acc_unit="g", gravity_included=False),
        ImuConvention(acc_frame="world", world_frame="y_up"),
        ImuConvention(world_frame="y_up", gravity_included=False),
    ],
)
def test_bulk_conversion_equals_the_fusion_nodes_per_sample_conversion(convention):
    rng = np.random.default_rng(2)
    quat = rng.normal(size=(50, 4))
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    acc = rng.normal(0, 5, (50, 3))
    stamps = 10**9 + np.arange(50) * 10**7
    rows = imu_template("head_imu").encode(stamps, np.concatenate([quat, acc], axis=1))
    decoded = decode_imu([r.tobytes() for r in rows])
    np.testing.assert_array_equal(decoded["stamp_ns"], stamps)
    assert set(decoded["frame_id"]) == {"head_imu"}
    stream = convert_stream("head", "imu/head", decoded, convention)
    for k in (0, 13, 49):
        want_acc, want_ori = to_body_frame(acc[k], quat[k], convention)
        np.testing.assert_allclose(stream.acc[k], want_acc, atol=1e-12)
        np.testing.assert_allclose(stream.ori[k], want_ori, atol=1e-12)
    # The fusion node's rejections: a wrong frame_id when one is expected, NaN, no orientation.
    bad = np.concatenate([quat, acc], axis=1)[:3].copy()
    bad[0, 4] = np.nan
    bad[1, :4] = 0.0
    rows = imu_template("other").encode(stamps[:3] + 10**9, bad)
    decoded = decode_imu([r.tobytes() for r in rows])
    stream = convert_stream("head", "imu/head", decoded, replace(convention, frame_id="other"))
    assert stream.rejected["not_finite"] == 1 and stream.rejected["bad_orientation"] == 1
    assert len(stream.stamps_ns) == 1


def test_a_short_recording_repeated_is_a_long_one_with_every_stamp_moved_on(tmp_path):
    """``tile_bag`` (the benchmark's long bags from a short recording): the IMU stream goes
    on without a gap or a repeat, nested stamps (every marker of a MarkerArray) move with
    their message, bag times keep their offset to the stamps, start-up messages stay out."""
    rng = np.random.default_rng(0)
    start = 1_700_000_000_000_000_000
    stamps = start + np.arange(200, dtype=np.int64) * 10_000_000  # 2 s of one IMU at 100 Hz
    values = np.concatenate([np.tile([0.0, 0.0, 0.0, 1.0], (200, 1)), rng.normal(size=(200, 3))], axis=1)
    marker_stamps = stamps[::10]
    markers = output_templates()["skeleton_markers"].encode(marker_stamps, marker_values(rng.normal(size=(20, 22, 3))))
    source = tmp_path / "short"
    topics = [
        TopicSpec("/imu/head", "sensor_msgs/msg/Imu"),
        TopicSpec("/skeleton_markers", "visualization_msgs/msg/MarkerArray", "reliable"),
        TopicSpec("/description", "std_msgs/msg/String", "reliable"),
    ]
    with BagWriter(source, topics) as writer:
        writer.write("/description", start - 5 * 10**9, string_cdr("loading"))  # before the data: start-up
        for stamp, row in zip(stamps, imu_template("head_imu").encode(stamps, values)):
            writer.write("/imu/head", int(stamp) + 1_000_000, row.tobytes())
        for stamp, row in zip(marker_stamps, markers):
            writer.write("/skeleton_markers", int(stamp) + 2_000_000, row.tobytes())
        writer.write("/description", int(stamps[150]), string_cdr("a person walks"))
    long = tile_bag(source, tmp_path / "long", 5.0)
    assert bag_topics(long) == {
        "/imu/head": ("sensor_msgs/msg/Imu", 500),
        "/skeleton_markers": ("visualization_msgs/msg/MarkerArray", 50),
        "/description": ("std_msgs/msg/String", 2),
    }
    received = {"/imu/head": [], "/skeleton_markers": [], "/description": []}
    for message in read_bag(long):
        msg = deserialize(message)
        if message.topic == "/description":
            received[message.topic].append((message.timestamp_ns, msg.data))
            continue
        headers = [m.header for m in msg.markers] if message.topic == "/skeleton_markers" else [msg.header]
        header_stamps = {h.stamp.sec * 10**9 + h.stamp.nanosec for h in headers}
        assert len(header_stamps) == 1
        received[message.topic].append((message.timestamp_ns, header_stamps.pop()))
    imu_times = np.array(received["/imu/head"])
    assert np.array_equal(imu_times[:, 1], start + np.arange(500) * 10_000_000)
    assert np.all(imu_times[:, 0] - imu_times[:, 1] == 1_000_000)
    marker_times = np.array(received["/skeleton_markers"])
    assert np.array_equal(marker_times[:, 1], start + np.arange(50) * 100_000_000)
    assert np.all(marker_times[:, 0] - marker_times[:, 1] == 2_000_000)
    assert received["/description"] == [
        (int(stamps[150]), "a person walks"),
        (int(stamps[150]) + 2 * 10**9, "a person walks"),
    ]


# -- whole bags -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph_bag(tmp_path_factory):
    """The live graph (ego4o-capture: replay of the bundled walk -> fusion -> captioning,
    recorded) in its own processes, on this run's own ROS domain, localhost only."""
    from ego4o_ros.graph.harness import ros_environment

    bag = tmp_path_factory.mktemp("graph") / "capture"
    env = ros_environment()  # localhost only; the environment's domain, else this run's own
    subprocess.run(
        [sys.executable, "-m", "ego4o_ros.tools.capture", "--bag", str(bag), "--domain-id", env["ROS_DOMAIN_ID"]],
        env=env,
        check=True,
        timeout=240,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return bag


@pytest.mark.ros
def test_a_bag_recorded_by_the_graph_analyses_end_to_end(graph_bag, tmp_path):
    result = analyse(graph_bag, tmp_path)
    folder = tmp_path / graph_bag.name
    motion = load_motion(result, tmp_path)
    # Every frame of the recorded wearable data is captured, at the model rate.
    assert motion["valid"].all() and result["frames"] == len(motion["valid"])
    assert result["duration_s"] > 8 and result["frames"] >= 30 * 8
    assert np.isfinite(motion["joints_ros"]).all() and result["descriptions"] >= 2
    topics = bag_topics(folder / "analysed_bag")
    for topic in ("/joint_states", "/joint_poses", "/skeleton_markers"):
        assert topics[topic][1] == result["frames"]
    assert topics["/description"][1] == result["descriptions"]
    # Input topics kept as they were; the recorded live outputs beside ours under live/.
    recorded = bag_topics(graph_bag)
    for topic in ("/imu/left_wrist", "/imu/right_pocket", "/imu/head", "/ground_truth/joint_poses"):
        assert topics[topic] == recorded[topic]
    assert topics["/live/joint_states"] == recorded["/joint_states"]
    states = [m for m in read_bag(folder / "analysed_bag") if m.topic == "/joint_states"]
    first = deserialize(states[0])
    assert list(first.name) == list(joint_angles.DOF_NAMES)
    assert states[0].timestamp_ns == first.header.stamp.sec * 10**9 + first.header.stamp.nanosec
    # Scored against the replay's ground truth, the recorded live run too.
    scores = result["scores"]
    assert scores["offline"]["frames"] > 0.9 * result["frames"] and scores["live"]["frames"] > 0
    # Each far below a constant mean pose on the same frames (a model that ignores its IMUs
    # scores about that) and below 60 mm; measured: offline 20 mm, live 22 mm, mean pose 75 mm.
    truth = (motion["truth_stamps_ns"], motion["truth_joints_ros"])
    poor = []
    for name, stamps, joints in (
        ("offline", motion["stamps_ns"][motion["valid"]], motion["joints_ros"][motion["valid"]]),
        ("live", motion["live_stamps_ns"], motion["live_joints_ros"]),
    ):
        _, predicted, true = matched_pairs(stamps, joints, *truth, 0.5e9 / float(motion["fps"]))
        model_mm, baseline_mm = score_pairs(predicted, true)["mpjpe_mm"], mean_pose_baseline(true)["mpjpe_mm"]
        assert model_mm == pytest.approx(scores[name]["mpjpe_mm"])  # the frames the analysis scored
        if not (model_mm < 0.5 * baseline_mm and model_mm < 60):
            poor.append(f"{name} MPJPE {model_mm:.1f} mm vs {baseline_mm:.1f} mm over {len(true)} frames")
    assert not poor, f"not below half of a constant mean pose's MPJPE (and 60 mm): {'; '.join(poor)}"
    lines = (folder / "joints.csv").read_text().splitlines()
    assert len(lines) == result["frames"] + 1 and lines[0].startswith("time_s,stamp_ns,sensors,pelvis_x")
    # The recorded head camera reached the capture model, as it did live.
    note = next(n for n in result["notes"] if n.startswith("camera:"))
    frames = int(note.split()[1])
    assert frames >= 25 * 8 and "encoded for the capture model" in note


@pytest.mark.ros
def test_the_recorded_camera_changes_the_offline_capture(graph_bag, tmp_path):
    with_camera = load_motion(analyse(graph_bag, tmp_path / "camera"), tmp_path / "camera")
    imu_only_config = replace(CONFIG, image=False, captions=False, report=False)
    result = analyze_bags([graph_bag], tmp_path / "imu", imu_only_config, progress=False)[0]
    imu_only = load_motion(result, tmp_path / "imu")
    assert not any(n.startswith("camera:") and "encoded" in n for n in result["notes"])
    assert np.abs(with_camera["joints_ros"] - imu_only["joints_ros"]).max() > 1e-3


@pytest.mark.ros
def test_report_exists_and_names_its_figures(graph_bag, tmp_path):
    result = analyse(graph_bag, tmp_path)
    report = (tmp_path / graph_bag.name / "report.html").read_text()
    for stem, caption in FIGURES.items():
        assert caption in report
        assert f"figures/{stem}.png" in report
        assert (tmp_path / graph_bag.name / "figures" / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    assert report.count("data:image/png;base64,") == len(FIGURES)
    assert "MPJPE" in report and "live" in report
    for stage in ("read", "capture", "captions", "write"):
        assert stage in result["seconds"]


def test_a_sensor_missing_for_a_span_still_gives_output_for_the_whole_span(tmp_path):
    bag = write_replay_bag(tmp_path / "outage", 8.0, config=ReplayConfig(outages=(("head", 2.0, 5.0),)))
    out = tmp_path / "out"
    result = analyse(bag, out)
    motion = load_motion(result, out)
    t, present = motion["times_s"], motion["present"]
    head = imu.IMU_SITES.index("head")
    assert not present[(t > 2.2) & (t < 4.8), head].any()  # gone ...
    assert present[(t < 1.8) | (t > 5.2), head].all()  # ... only then
    assert present[:, imu.IMU_SITES.index("left_wrist")].all()
    assert motion["valid"].all() and t[-1] > 7.9  # output for every frame, the gap too
    assert np.isfinite(motion["joints_ros"][(t > 2.2) & (t < 4.8)]).all()
    assert bag_topics(out / "outage" / "analysed_bag")["/joint_states"][1] == len(t)
    # Nothing to redo on a second run: the bag is done.
    again = analyze_bags([bag], out, CONFIG, progress=False)[0]
    assert again.get("skipped") is True


_KILLED_WRITER = """
import os, signal, sys
from ego4o_ros.core.bag import BagWriter, TopicSpec, read_bag
source, target = sys.argv[1], sys.argv[2]
messages = list(read_bag(source))
start = messages[0].timestamp_ns
topics = sorted({(m.topic, m.msgtype) for m in messages})
writer = BagWriter(target, [TopicSpec(t, k, "sensor") for t, k in topics], flush_period_s=3600)
second = 0
for m in messages:
    if m.timestamp_ns - start >= (second + 1) * 10**9:
        writer.flush()       # what the recorder's flush thread does every second
        second += 1
    if m.timestamp_ns - start >= 4.5e9:
        os.kill(os.getpid(), signal.SIGKILL)   # the recorder is killed: no footer, no metadata.yaml
    writer.write(m.topic, m.timestamp_ns, m.cdr)
"""


def test_a_truncated_bag_is_repaired_and_analysed_up_to_the_break(tmp_path):
    source = write_replay_bag(tmp_path / "complete", 6.0)
    killed = tmp_path / "killed"
    process = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(source), str(killed)], cwd=ROOT)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "metadata.yaml").exists()
    before = sorted((p.name, p.stat().st_size) for p in killed.iterdir())
    out = tmp_path / "out"
    result = analyse(killed, out)
    assert any("repaired" in note for note in result["notes"])
    assert "repaired" in (out / "killed" / "report.html").read_text()
    motion = load_motion(result, out)
    # The four flushed seconds are there; what followed the last flush is lost.
    assert 3.5 < motion["times_s"][motion["valid"]][-1] < 4.5
    assert motion["valid"].all()
    assert sorted((p.name, p.stat().st_size) for p in killed.iterdir()) == before  # the input is untouched


def test_a_ros1_bag_with_imu_messages_is_read(tmp_path):
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    from ego4o_ros.live.replay import WearableReplay
    from ego4o_ros.paths import SAMPLE_CLIP

    store = get_typestore(Stores.ROS1_NOETIC)
    replay = WearableReplay.from_file(SAMPLE_CLIP, ReplayConfig(sites=("left_wrist", "head")))
    samples = replay.imu_samples(0.0, 3.0)
    path = tmp_path / "wearables.bag"
    Imu, Header, Time = (
        store.types[n] for n in ("sensor_msgs/msg/Imu", "std_msgs/msg/Header", "builtin_interfaces/msg/Time")
    )
    Quaternion, Vector3 = store.types["geometry_msgs/msg/Quaternion"], store.types["geometry_msgs/msg/Vector3"]
    base = 1_600_000_000
    with Writer(path) as writer:
        connections = {
            site: writer.add_connection(f"/imu/{site}", "sensor_msgs/msg/Imu", typestore=store)
            for site in ("left_wrist", "head")
        }
        for seq, sample in enumerate(samples):
            ns = base * 10**9 + int(round(sample.stamp * 1e9))
            cov = np.zeros(9)
            msg = Imu(
                Header(seq, Time(ns // 10**9, ns % 10**9), f"{sample.site}_imu"),
                Quaternion(*map(float, sample.quat_xyzw)),
                cov,
                Vector3(0.0, 0.0, 0.0),
                cov,
                Vector3(*map(float, sample.acc)),
                cov,
            )
            writer.write(connections[sample.site], ns, bytes(store.serialize_ros1(msg, "sensor_msgs/msg/Imu")))
    out = tmp_path / "out"
    result = analyse(path, out)
    assert result["storage"] == "ros1"
    assert result["sensors"] == {"left_wrist": 300, "head": 300}
    motion = load_motion(result, out)
    assert motion["valid"].all() and 2.9 < motion["times_s"][-1] <= 3.0
    sites = list(imu.IMU_SITES)
    assert motion["present"][:, [sites.index("left_wrist"), sites.index("head")]].all()
    assert not motion["present"][:, sites.index("right_pocket")].any()
    # The ROS 1 messages were copied into the output rosbag2 as CDR, values intact.
    copied = [m for m in read_bag(out / "wearables" / "analysed_bag") if m.topic == "/imu/head"]
    first = deserialize(copied[0])
    head0 = next(s for s in samples if s.site == "head")
    np.testing.assert_allclose(
        [first.linear_acceleration.x, first.linear_acceleration.y, first.linear_acceleration.z], head0.acc
    )


def test_bags_in_parallel_processes(tmp_path):
    bags = [write_replay_bag(tmp_path / f"bag{k}", 3.0, start_s=1_700_000_000.0 + 100 * k) for k in range(2)]
    results = analyze_bags(bags, tmp_path / "out", replace(CONFIG, report=False), jobs=2, progress=False)
    assert [r.get("error") for r in results] == [None, None]
    assert [r["frames"] for r in results] == [90, 90]  # samples at 0 .. 2.99 s at 30 Hz
    assert all((tmp_path / "out" / f"bag{k}" / "motion.npz").exists() for k in range(2))
    assert not list((tmp_path / "out").glob(".*partial"))


def test_model_threads_follow_the_cpus_and_leave_the_results_unchanged(tmp_path):
    assert with_threads(AnalysisConfig(threads=3), jobs=2).threads == 3  # as given
    assert with_threads(AnalysisConfig(), jobs=2).threads == max(1, available_cpus() // 2)
    bag = write_replay_bag(tmp_path / "bag", 4.0)  # long enough for a description (64 frames)
    motions = []
    for threads in (1, 2):
        out = tmp_path / f"threads{threads}"
        result = analyze_bags([bag], out, replace(CONFIG, report=False, threads=threads), progress=False)[0]
        assert "error" not in result and result["config"]["threads"] == threads and result["descriptions"] >= 1
        motions.append(np.load(out / "bag" / "motion.npz"))
    assert np.array_equal(motions[0]["joints_ros"], motions[1]["joints_ros"], equal_nan=True)
    assert list(motions[0]["caption_texts"]) == list(motions[1]["caption_texts"])
