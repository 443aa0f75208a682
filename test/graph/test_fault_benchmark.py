"""The reliability benchmark (issue 13): its measures on made-up data, a short run of the real
graph under faults, and a description flood against a real fusion node (real rclpy,
localhost discovery, this run's own domain)."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + (os.getpid() + 70) % 100))

from ego4o_ros.analysis.faults import (
    CAMERA,
    covered_intervals,
    dropout_schedule,
    grid_residual,
    memory_growth,
    output_continuity,
    pose_offsets,
    transport_loss,
)
from ego4o_ros.core import frames
from ego4o_ros.graph.fault_benchmark import FaultConfig, run_fault_benchmark
from ego4o_ros.graph.fault_report import table, targets_met
from ego4o_ros.paths import SAMPLE_CLIP
from ego4o_ros.readers import read_clip

pytestmark = pytest.mark.ros

SITES = ("left_wrist", "right_pocket", "head")


def test_dropout_schedule_is_seeded_bounded_and_has_total_outages():
    schedule = dropout_schedule(120.0, SITES, seed=3)
    assert schedule == dropout_schedule(120.0, SITES, seed=3) != dropout_schedule(120.0, SITES, seed=4)
    assert all(0.5 <= d.end - d.start <= 3.0 for d in schedule)
    assert all(a.end < b.start for a, b in zip(schedule, schedule[1:]))
    assert schedule[0].start >= 3.0 and schedule[-1].end <= 117.0
    total = [d for d in schedule if set(SITES) <= set(d.sites)]
    partial = [d for d in schedule if not set(SITES) <= set(d.sites)]
    assert total and partial and any(CAMERA in d.sites for d in partial)


def test_continuity_and_grid_measures_find_missing_frames_and_off_grid_stamps():
    base, fps = 1000.0, 30.0
    imu = {"head": base + np.r_[np.arange(0, 300), np.arange(500, 800)] / 100}  # a 2 s hole
    intervals = covered_intervals(imu, 0.15)
    assert intervals == [pytest.approx((base, base + 2.99)), pytest.approx((base + 5.0, base + 7.99))]
    first = base + np.arange(0, 88) / fps  # up to 2.9 s: the last 2 (look-ahead) frames are never made
    second = base + 5.0 + np.arange(0, 88) / fps
    stamps = np.r_[first, second]
    good = output_continuity(intervals, stamps, fps, lookahead=2)
    assert good["missing"] == 0 and good["outside"] == 0 and good["longest_gap_s"] == pytest.approx(1 / fps)
    holed = output_continuity(intervals, np.delete(stamps, [40, 41, 42]), fps, lookahead=2)
    assert holed["missing"] == 3 and holed["longest_gap_s"] == pytest.approx(4 / fps)
    assert output_continuity(intervals, np.r_[stamps, base + 4.0], fps, 2)["outside"] == 1
    inputs = np.concatenate(list(imu.values()))
    assert grid_residual(stamps, inputs, fps)["max_s"] < 1e-9
    late = np.r_[first, second + 0.004]  # the second stream starts between two samples
    assert grid_residual(late, inputs, fps)["anchor_s"] == pytest.approx(0.004, abs=1e-6)
    jitter = stamps.copy()
    jitter[10] += 0.002
    assert grid_residual(jitter, inputs, fps)["within_s"] == pytest.approx(0.002, abs=1e-6)


def test_transport_loss_counts_samples_sent_and_never_received():
    sent = {"head": 100.0 + np.arange(300) / 100, "left_wrist": 100.0 + np.arange(300) / 100}
    assert transport_loss(sent, sent, 100.0) == {
        "lost": 0,
        "sent": 600,
        "longest_hole_s": 0.0,
        "longest_hole_at_s": None,
    }
    received = {"head": np.delete(sent["head"], np.arange(100, 150)), "left_wrist": np.delete(sent["left_wrist"], [7])}
    loss = transport_loss(sent, received, 100.0)
    assert loss["lost"] == 51 and loss["sent"] == 600
    assert loss["longest_hole_s"] == pytest.approx(0.51) and loss["longest_hole_at_s"] == pytest.approx(0.99)


def test_pose_offset_finds_stamps_that_lie_about_their_pose():
    clip = read_clip(SAMPLE_CLIP, target_fps=30)
    truth = clip.joints @ frames.ROS_FROM_BODY.T
    t = 500.0 + np.arange(len(truth)) / 30
    rng = np.random.default_rng(0)
    noisy = truth + rng.normal(0, 0.02, truth.shape)
    honest = pose_offsets([(t[0], t[-1])], (t[10:-10], noisy[10:-10]), (t, truth), 30.0)
    assert [o["offset_frames"] for o in honest] == [0] and honest[0]["margin_mm"] > 0
    # Stamps 3 frames early (the pose at s + 3/30 stamped s), as after the issue-13 stamp drift.
    early = pose_offsets([(t[0], t[-1])], (t[10:-10], noisy[13:-7]), (t, truth), 30.0)
    assert [o["offset_frames"] for o in early] == [3]
    one = pose_offsets([(t[0], t[-1])], (t[10:-10], noisy[11:-9]), (t, truth), 30.0)
    assert [o["offset_frames"] for o in one] == [1]  # a single frame is still caught (gain > 1 mm)
    # A stream that lags by 3 frames over its first 2.5 s (a model's warm-up) and is exact after:
    # judged from the warm-up's end, the stamps are right; the warm-up alone would say otherwise.
    lagging = noisy[10:-10].copy()
    lagging[:75] = noisy[7:82]
    warm = pose_offsets([(t[0], t[-1])], (t[10:-10], lagging), (t, truth), 30.0, warm_up_s=3.0)
    assert [o["offset_frames"] for o in warm] == [0] and warm[0]["frames"] == len(lagging)
    start = pose_offsets([(t[0], t[10] + 2.5)], (t[10:-10], lagging), (t, truth), 30.0)
    assert [o["offset_frames"] for o in start] == [-3]


def test_memory_growth_from_the_20_percent_mark():
    samples = [(t, 1000e6 + (50e6 if t < 5 else 0) + t * 1e5) for t in range(100)]
    growth = memory_growth(samples, 100.0)
    assert growth["baseline_mb"] == pytest.approx(1002e6 / 2**20, rel=1e-3)
    assert growth["growth_pct"] == pytest.approx(100 * (1009.7e6 - 1002e6) / 1002e6, rel=0.05)


def test_short_fault_run_of_the_real_graph(tmp_path):
    """60 s of the real graph under dropouts, 10,000 malformed messages, a 3,000-description
    flood, the captioner killed early and the recorder later: every target of the benchmark met
    (no crash, junk rejected and never taken as data, output continuous with no frame missing,
    stamps exact, the killed bag readable and <= 1 s lost, memory flat), and the captioner
    restarted and describing again, its descriptions closing the loop once more."""
    # The captioner is killed just after the 3 s warm-up: reloading its language model takes
    # ~35 s on a loaded 2-core machine (measured 34.7 s at load 5; its first description came
    # 37.3 s after the kill at load 6), so 60 s leaves it time to come back and describe (the
    # benchmark's 120 s run kills it at 36 s). 10,000 malformed in 60 s is 5x the benchmark's
    # rate: every target still met at load 6.
    config = FaultConfig(duration_s=60.0, malformed=10_000, seed=1, kill_captioner_at=0.06, out=tmp_path)
    results = run_fault_benchmark(config, progress=False)
    print(table(results))
    met = targets_met(results)
    assert results["crashes"] == 0, results["crash_messages"]
    assert met == {name: True for name in met}, met  # the benchmark's own targets, each of them
    assert results["malformed_sent"] == 10_000 and results["malformed_accepted"] == 0
    # Each kind rejected for the reason it was made for (best-effort transport may lose some).
    for group in ("imu", "image", "text"):
        for reason, sent in results["expected_reasons"][group].items():
            assert 0.8 * sent <= results["rejected"][group][reason], (group, reason)
    continuity = results["continuity"]  # over what reached the fusion node (transport loss apart)
    assert continuity["expected"] > 1000 and continuity["published"] == continuity["expected"]
    transport = results["transport"]
    assert transport["sent"] > 10_000 and 0 <= transport["lost"] < 0.05 * transport["sent"], transport
    assert results["continuity_forwarded"]["expected"] >= continuity["expected"]
    assert results["worst_offset_frames"] == 0 and len(results["pose_offsets"]) >= 2  # fitted, not vacuous
    d = results["descriptions"]
    window = d["flood_window_s"]
    assert d["flood_sent"] == 3_000
    # The rate limit (one description per 0.5 s) held through the flood: accepted are the
    # captions plus at most one per 0.5 s of the flood (and of its queue draining, < 1 s).
    assert d["accepted"] <= d["captions"] + 2 * (window[1] - window[0] + 1.0) + 1, d
    # The captioner: killed, restarted, and describing again; its description went round the
    # loop (through the relay into the fusion node) after the kill.
    events = [event for _, event in results["events"]]
    assert "captioning killed (SIGKILL)" in events and "captioning restarted" in events
    assert d["caption_after_captioner_restart_s"] is not None, "the restarted captioner never described again"


FLOODER = r"""
import sys, time
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

rclpy.init()
node = rclpy.create_node("description_flooder")
pub = node.create_publisher(String, sys.argv[1], QoSProfile(depth=3000, reliability=ReliabilityPolicy.RELIABLE))
deadline = time.monotonic() + 30
while pub.get_subscription_count() < 1 and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(0.5)
junk = ["\U0001F57A\U0001F483" * 20, "x" * 100_000, "", " \n", "walk\x01\x1b[2J"]
junk.append("\u1E9E\u2202\u0192\u00A9\u02D9\u2206")
# 2,000 distinct valid descriptions with 600 junk ones interleaved (3 in every 13).
texts = [junk[i % 6] if i % 13 in (3, 7, 11) else f"a person walks forward, step {i}." for i in range(2600)]
start = time.time()  # the clock the replay stamps its data with
for i, text in enumerate(texts):
    pub.publish(String(data=text))
    if i % 100 == 99:
        time.sleep(0.05)
end = time.time()
print(start, end, len(texts), flush=True)
time.sleep(1.0)  # reliable delivery of what is still queued
node.destroy_node()
rclpy.shutdown()
"""
# What the flooder's junk must be refused as (TextGate's reasons).
JUNK_REASONS = {
    "\U0001f57a\U0001f483" * 20: "not_text",
    "x" * 100_000: "too_long",
    "": "empty",
    " \n": "empty",
    "walk\x01\x1b[2J": "not_text",
    "\u1e9e\u2202\u0192\u00a9\u02d9\u2206": "not_text",
}


def test_description_flood_does_not_slow_capture():
    """2,600 descriptions (2,000 distinct valid ones, 600 junk interleaved) in ~2 s against a real
    fusion node fed by a replay. Load-independent (how much of a flood reaches the node depends
    on how the processes share the CPU: its reader keeps the newest 10): every description that
    reached the node is judged by what it is (junk refused for its reason, valid ones accepted
    at most once per 0.5 s), each accepted one is encoded or superseded (nothing queues up),
    handling the flood costs the node little CPU time, and capture keeps its 30 Hz grid through
    the flood with every frame the data's clock asks for published or counted."""
    from sensor_msgs.msg import JointState

    from ego4o_ros import interface
    from ego4o_ros.graph import capture_graph
    from ego4o_ros.graph.harness import Harness
    from ego4o_ros.nodes.common import reliable_qos, to_seconds

    specs = {s.name: s for s in capture_graph(replay=True, record=False)}
    # The replay in its own process (as in the benchmarks), without the camera: rendering it
    # here would be the load, not the flood. Sensor queues deep enough that a starved process
    # loses no data (frames it is too late for are skipped and counted instead).
    overrides = {"wearable_replay": {"loop": True, "camera_rate": 0.0}, "fusion": {"sensor_qos_depth": 3000}}
    stamps = []  # of every joint_states received
    with Harness(overrides=overrides) as graph:
        probe = graph.create_node("flood_probe")
        probe.create_subscription(
            JointState, interface.JOINT_STATES, lambda m: stamps.append(to_seconds(m.header.stamp)), reliable_qos(3000)
        )
        fusion = graph.start_node(specs["fusion"]).fusion
        graph.start_process(specs["wearable_replay"])
        gate, text = fusion.text.gate, fusion.text
        seen = []  # (text, monotonic time, reason) of every description that reached the gate
        offer = gate.offer
        gate.offer = lambda description, now: seen.append((description, now, offer(description, now))) or seen[-1][2]
        cpu = [0.0]  # CPU time this process's executor spent on descriptions
        offer_text = fusion.offer_text

        def timed_offer_text(*args, **kwargs):
            started = time.thread_time()
            try:
                return offer_text(*args, **kwargs)
            finally:
                cpu[0] += time.thread_time() - started

        fusion.offer_text = timed_offer_text
        assert graph.spin_until(lambda: fusion.published >= 60, timeout_s=60), "no capture before the flood"
        before = fusion.published, fusion.capture.stats.dropped, fusion.capture.stats.gap_frames
        command = [sys.executable, "-c", FLOODER, interface.TEXT_INPUT]
        flooder = graph.start_command(command, stdout=subprocess.PIPE, text=True)
        # A crashed callback raises out of the spin and fails the test.
        assert graph.spin_until(lambda: flooder.poll() is not None, timeout_s=60), "the flooder did not finish"
        assert flooder.returncode == 0
        start, end, sent = flooder.stdout.read().split()
        start, end, sent = float(start), float(end), int(sent)
        # Until capture has output the data of a second after the flood (however late it runs).
        assert graph.spin_until(lambda: bool(stamps) and stamps[-1] > end + 1.0, timeout_s=60), (
            "capture stopped in the flood"
        )
        assert text.wait_idle(10.0)  # the encoder thread has taken what was accepted
        graph.spin(0.2)
        stats = fusion.capture.stats
        after = fusion.published, stats.dropped, stats.gap_frames, stats.restarts

    # What reached the node, against what was sent: judged by what it is.
    junk_sent, valid_sent = 600, 2000
    assert sent == junk_sent + valid_sent
    assert all(t in JUNK_REASONS or t.startswith("a person walks forward, step ") for t, _, _ in seen)
    junk_seen = [(t, reason) for t, _, reason in seen if t in JUNK_REASONS]
    valid_seen = [(now, reason) for t, now, reason in seen if t not in JUNK_REASONS]
    # Its reader keeps the newest 10 and delivers them reliably: at least those arrive.
    assert 10 <= len(seen) <= sent and len(junk_seen) <= junk_sent and len(valid_seen) <= valid_sent
    assert all(reason == JUNK_REASONS[t] for t, reason in junk_seen), "junk not refused for what it is"
    assert all(reason in (None, "rate_limited") for _, reason in valid_seen)
    accepted = [now for now, reason in valid_seen if reason is None]
    span = valid_seen[-1][0] - valid_seen[0][0] if valid_seen else 0.0
    assert 1 <= len(accepted) <= 1 + span / gate.min_interval_s, (len(accepted), span)
    assert np.all(np.diff(accepted) >= gate.min_interval_s - 1e-9)
    assert gate.accepted + sum(gate.rejected.values()) == len(seen) and gate.accepted == len(accepted)
    # Each accepted description was encoded into the capture or superseded by a newer one.
    assert stats.texts + text.superseded == gate.accepted, (stats.texts, text.superseded)

    # Handling a description (the node's callback past rclpy: gate, cache, hand-off to the
    # encoder thread) takes CPU time in microseconds, whatever the load: measured ~20 us.
    assert cpu[0] / len(seen) < 0.5e-3, f"{1e6 * cpu[0] / len(seen):.0f} us of CPU per description"

    # Capture through the flood, on the data's clock (the replay stamps its data with the wall
    # clock the flooder timed the flood on): outputs on one 30 Hz grid from before the flood to
    # after it, and every frame the data's clock asks for in between received here or counted
    # by the node (skipped when it fell behind, or in a hole of the data); none lost unseen.
    stamps = np.unique(np.array(stamps))
    grid = np.round((stamps - stamps[0]) * 30)
    counted = after[1] + after[2]  # over the node's whole run: an upper bound for any window
    flood = (stamps >= start) & (stamps <= end)
    asked = int((end - start) * 30)
    message = (
        f"{len(seen)} of {sent} descriptions reached the node ({len(accepted)} accepted), costing it "
        f"{1000 * cpu[0]:.1f} ms of CPU; frames: {len(stamps)} received of {int(grid[-1]) + 1} on the grid, "
        f"{flood.sum()} of {asked} in the {end - start:.2f} s flood; published {before[0]} -> {after[0]}, "
        f"skipped {before[1]} -> {after[1]}, in holes {before[2]} -> {after[2]}, stream restarts {after[3]}"
    )
    print(message)
    assert np.abs(stamps - stamps[0] - grid / 30).max() < 1e-4, message
    assert stamps[0] < start and stamps[-1] > end, message
    assert len(stamps) + counted >= grid[-1] + 1, message
    assert flood.sum() + counted >= asked, message
