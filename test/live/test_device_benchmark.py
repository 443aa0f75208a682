"""A recording made here in the IMUPoser app's wire format (the bundled walk, synthesised and
written as the app's lines) replayed through the bridge into the live capture loop: the same
body as the samples fed straight in, the arm that moves moves, and a wrong convention in the
devices file shows."""

from dataclasses import replace

import numpy as np
import pytest

from ego4o_ros.devices import DeviceConvention
from ego4o_ros.devices.recordings import standard_from_body, write_lines
from ego4o_ros.live.capture import LiveCaptureConfig, load_live_capture
from ego4o_ros.live.device_benchmark import load_recording, replay, sample_walk_recording, score
from ego4o_ros.paths import DEFAULT_WEIGHTS
from ego4o_ros.tools.device_benchmark import main

START = 1.7e9


@pytest.fixture(scope="module")
def walk_file(tmp_path_factory):
    recording = sample_walk_recording()
    path = tmp_path_factory.mktemp("recording") / "walk.lines"
    write_lines(path, [data for _, data in recording.datagrams])
    return path


def capture():
    loop, _ = load_live_capture(DEFAULT_WEIGHTS, 2, config=LiveCaptureConfig(max_catchup_frames=10**9))
    loop.warm_up()
    return loop


def direct_frames():
    """The same readings pushed straight into the capture loop (the replay node's path)."""
    from ego4o_ros.core import features, imu
    from ego4o_ros.paths import SAMPLE_CLIP
    from ego4o_ros.readers import read_clip

    clip = read_clip(SAMPLE_CLIP, target_fps=30)
    clip = replace(clip, joints=features.retarget_to_template(clip.joints))
    readings = imu.resample_imu(imu.synthesize_from_clip(clip), 50.0)
    loop, out = capture(), []
    for k in range(readings.num_frames):
        for site in ("left_wrist", "right_pocket", "head"):  # in the order the lines were written
            i = imu.IMU_SITES.index(site)
            acc, quat = standard_from_body(readings.acc[k, i], readings.ori[k, i])
            loop.push_imu(site, START + k / 50.0, acc, quat, now=START + k / 50.0)
            out += loop.advance(now=START + k / 50.0)
    return {round(f.stamp, 4): f.joints for f in out}


def matched_error_mm(frames_out, direct):
    pairs = [(f.joints, direct[round(f.stamp, 4)]) for f in frames_out if round(f.stamp, 4) in direct]
    assert len(pairs) > 200
    return float(np.mean([np.linalg.norm(a - b, axis=-1).mean() for a, b in pairs])) * 1000


def test_a_recording_in_the_wire_format_gives_the_body_the_samples_give(walk_file):
    recording = load_recording(walk_file)  # the shipped imuposer profile: phone, watch, AirPods
    assert {d.site for d in recording.profile.devices} == {"left_wrist", "right_pocket", "head"}
    frames_out, measured, bridge = replay(recording, capture())
    row = score(recording, frames_out, measured, bridge)
    assert row.refused == 0 and row.samples == len(recording.datagrams) == 3 * 454
    assert row.frames >= 265 and row.nan_frames == 0
    assert row.wrist_correlation["left_wrist"] > 0.9  # the arm that moves moves
    assert row.bone_spread_mm < 30 and -30 < row.foot_min_mm and row.foot_p95_mm < 60
    direct = direct_frames()
    assert matched_error_mm(frames_out, direct) < 0.1  # through the bridge = straight in (baseline)
    # the earbuds read without their axes remap: the head is wrong, and it shows
    wrong = replace(
        recording.profile.devices[2],
        convention=DeviceConvention(acc_unit="g", acc_sign=-1.0, gravity_included=False, world_frame="nwu"),
    )
    assert recording.profile.devices[2].site == "head"
    miswired = replace(recording, profile=replace(recording.profile, devices=recording.profile.devices[:2] + (wrong,)))
    frames_wrong, _, _ = replay(miswired, capture())
    assert matched_error_mm(frames_wrong, direct) > 10 * max(matched_error_mm(frames_out, direct), 1.0)


def test_the_command_prints_a_row_per_recording(walk_file, capsys, tmp_path):
    assert main(["--recording", str(walk_file), "--json", str(tmp_path / "out.json")]) == 0
    printed = capsys.readouterr().out
    assert "| walk.lines | right_pocket left_wrist head |" in printed and "NaN frames" in printed
    assert (tmp_path / "out.json").exists()
    with pytest.raises(SystemExit):
        main(["--recording", str(tmp_path / "missing")])
