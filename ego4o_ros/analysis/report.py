"""The analysis report: one self-contained HTML page (figures embedded as PNG, also
written next to it in ``figures/``).

Figures: which sensors were present when, the descriptions over time, joint angles, a
strip of skeleton frames and, when the bag holds ground truth, the error over time of
the offline and the recorded live motion. Tables: the recording (sensors, rates,
rejected samples, notes such as a repaired tail), the scores, the descriptions and the
time each stage took.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from ..core import body, imu

FIGURES = {  # file stem -> caption (the report names every figure it embeds)
    "presence": "Sensor presence",
    "descriptions": "Descriptions over time",
    "joint_angles": "Joint angles",
    "skeleton_frames": "Skeleton frames",
    "errors": "Error against ground truth",
}
ANGLE_JOINTS = (
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
)


def merged_captions(captions) -> list[tuple[int, int, str]]:
    """Consecutive identical descriptions as one span (start ns, end ns, text); one the
    captioner was unsure of (not fed back into capture) says so."""
    spans = []
    for c in captions:
        text = c.text if c.fed_back else f"{c.text} (unsure: not fed back)"
        if spans and spans[-1][2] == text:
            spans[-1] = (spans[-1][0], c.end_ns, text)
        else:
            spans.append((c.start_ns, c.end_ns, text))
    return spans


def _figure(width=9.0, height=2.6, rows=1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=80, layout="constrained")
    return fig, fig.subplots(rows, 1, squeeze=False)[:, 0]


def _save(fig, path: Path) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = buffer.getvalue()
    path.write_bytes(data)
    return data


def presence_figure(analysis, path: Path) -> bytes:
    grid = analysis.motion.grid
    t = grid.times_s
    fig, (ax,) = _figure(height=0.45 * imu.NUM_SITES + 1.0)
    dt = 1.0 / grid.fps
    for row in range(imu.NUM_SITES):
        present = grid.present[:, row].astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], present, [0]])))
        spans = [(t[a], (b - a) * dt) for a, b in zip(edges[::2], edges[1::2])]
        ax.broken_barh(spans, (row - 0.35, 0.7), color="tab:green" if spans else "none")
    captured = analysis.motion.valid.astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], captured, [0]])))
    ax.broken_barh([(t[a], (b - a) * dt) for a, b in zip(edges[::2], edges[1::2])], (-1.35, 0.7), color="tab:blue")
    ax.set_yticks(range(-1, imu.NUM_SITES), ["motion captured", *imu.IMU_SITES])
    ax.set_ylim(-1.6, imu.NUM_SITES - 0.4)
    ax.set_xlim(0, max(t[-1] + dt, dt))
    ax.set_xlabel("time since the first sample (s)")
    ax.set_title(FIGURES["presence"])
    ax.invert_yaxis()
    return _save(fig, path)


def descriptions_figure(analysis, path: Path) -> bytes:
    start = analysis.motion.grid.start_ns
    fig, (ax,) = _figure(height=2.4)
    spans = merged_captions(analysis.captions)
    texts = sorted({text for _, _, text in spans})
    colour = {text: f"C{k % 10}" for k, text in enumerate(texts)}
    total = max(analysis.motion.grid.times_s[-1], 1e-3)
    labelled_until = [-np.inf] * 3
    for k, (a, b, text) in enumerate(spans):
        lane = k % 3
        x = (a - start) * 1e-9
        ax.broken_barh([(x, max((b - a) * 1e-9, 0.05))], (lane - 0.3, 0.6), color=colour[text], alpha=0.6)
        if x >= labelled_until[lane]:  # a label only where the previous one in its lane has ended
            ax.text(x, lane, " " + text, va="center", fontsize=7, clip_on=True)
            labelled_until[lane] = x + total * len(text) / 150
    ax.set_yticks([])
    ax.set_ylim(-0.6, 2.6)
    ax.set_xlim(0, max(analysis.motion.grid.times_s[-1], 1e-3))
    ax.set_xlabel("time since the first sample (s)")
    ax.set_title(f"{FIGURES['descriptions']} ({len(analysis.captions)} descriptions, {len(spans)} changes)")
    ax.invert_yaxis()
    return _save(fig, path)


def joint_angles_figure(analysis, path: Path) -> bytes:
    """Rotation angle (degrees) of each joint relative to its parent, from the fitted
    rotations that joint_states carries."""
    motion = analysis.motion
    t = motion.grid.times_s
    fig, axes = _figure(height=5.0, rows=2)
    for k, name in enumerate(ANGLE_JOINTS):
        j = body.JOINT_NAMES.index(name)
        trace = np.clip((np.trace(motion.local_rotations[:, j], axis1=-2, axis2=-1) - 1) / 2, -1, 1)
        ax = axes[0 if "hip" in name or "knee" in name else 1]
        ax.plot(t, np.degrees(np.arccos(trace)), lw=0.8, label=name, color=f"C{k}")
    for ax, title in zip(axes, ("legs", "arms")):
        ax.set_ylabel("degrees")
        ax.legend(fontsize=7, ncols=4, loc="upper right")
        ax.set_title(
            f"{FIGURES['joint_angles']}: {title} (rotation from the rest pose, relative to the parent joint)",
            fontsize=9,
        )
    axes[-1].set_xlabel("time since the first sample (s)")
    return _save(fig, path)


def skeleton_figure(analysis, path: Path, count: int = 6) -> bytes:
    from ..core import frames
    from ..core.render import render_sequences

    motion = analysis.motion
    valid = np.flatnonzero(motion.valid)
    # The longest segment, cut to at most 20 s so the frames are far enough apart to differ.
    a, b = max(motion.segments, key=lambda s: s[1] - s[0])
    b = min(b, a + int(20 * motion.grid.fps))
    sequences, titles = [motion.joints[a:b]], ["offline"]
    truth = analysis.recording.truth
    if truth is not None and len(valid):
        index = np.searchsorted(truth[0], motion.grid.stamps_ns[a:b]).clip(0, len(truth[0]) - 1)
        sequences.append(truth[1][index] @ frames.ROS_FROM_BODY)
        titles.append("ground truth")
    render_sequences(
        sequences,
        path,
        titles=titles,
        fps=motion.grid.fps,
        strip_frames=count,
        panel_size=1.6,
        suptitle=f"{FIGURES['skeleton_frames']} ({(b - a) / motion.grid.fps:.1f} s from "
        f"{motion.grid.times_s[a]:.1f} s)",
    )
    return path.read_bytes()


def errors_figure(analysis, path: Path) -> bytes | None:
    from .scoring import per_frame_errors

    recording, motion = analysis.recording, analysis.motion
    if recording.truth is None:
        return None
    fig, (ax,) = _figure(height=2.8)
    valid = motion.valid
    runs = [("offline", motion.grid.stamps_ns[valid], motion.positions_ros[valid], "tab:blue")]
    if recording.live is not None:
        runs.append(("live (recorded)", recording.live[0], recording.live[1], "tab:orange"))
    for name, stamps, joints, color in runs:
        s, err = per_frame_errors(stamps, joints, recording.truth, motion.grid.fps)
        if len(s):
            ax.plot(
                (s - motion.grid.start_ns) * 1e-9, err, lw=0.8, color=color, label=f"{name}: mean {err.mean():.1f} mm"
            )
    ax.set_ylabel("MPJPE (mm)")
    ax.set_xlabel("time since the first sample (s)")
    ax.legend(fontsize=8)
    ax.set_title(f"{FIGURES['errors']} (each frame in its canonical frame)")
    return _save(fig, path)


def _table(rows, header=None) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _fmt(value) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def write_report(analysis, out_dir: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg", force=False)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(exist_ok=True)
    recording, motion = analysis.recording, analysis.motion
    made = {}
    for stem, draw in (
        ("presence", presence_figure),
        ("descriptions", descriptions_figure),
        ("joint_angles", joint_angles_figure),
        ("skeleton_frames", skeleton_figure),
        ("errors", errors_figure),
    ):
        if stem == "descriptions" and not analysis.captions or not motion.valid.any() and stem != "presence":
            continue
        data = draw(analysis, figures_dir / f"{stem}.png")
        if data is not None:
            made[stem] = data
    sensors = []
    for site in imu.IMU_SITES:
        stream = recording.imu.get(site)
        i = imu.IMU_SITES.index(site)
        if stream is None:
            sensors.append([site, "-", 0, "-", "-", "-"])
            continue
        rejected = ", ".join(f"{k} {v}" for k, v in stream.rejected.items() if v) or "none"
        sensors.append(
            [
                site,
                stream.topic,
                len(stream.stamps_ns),
                f"{stream.rate_hz:.1f}",
                f"{100 * motion.grid.present[:, i].mean():.1f} %",
                rejected,
            ]
        )
    seconds = analysis.seconds
    duration = recording.duration_s
    summary = [
        ["bag", str(recording.path)],
        ["storage", recording.storage],
        ["duration", f"{duration:.2f} s ({recording.messages} messages)"],
        [
            "frames captured",
            f"{int(motion.valid.sum())} of {len(motion.valid)} at {motion.grid.fps:g} Hz, "
            f"{len(motion.segments)} segment(s)",
        ],
        ["descriptions", len(analysis.captions)],
    ]
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>ego4o analysis: "
        f"{html.escape(recording.path.name)}</title><style>body{{font-family:sans-serif;max-width:1000px;"
        "margin:auto}} table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ccc;padding:2px 6px;"
        "font-size:13px;text-align:left} .note{background:#fff3cd;padding:8px;border:1px solid #e0c060}"
        "figure{margin:12px 0} img{max-width:100%}</style></head><body>",
        f"<h1>ego4o analysis: {html.escape(recording.path.name)}</h1>",
    ]
    for note in recording.notes:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    parts.append("<h2>Recording</h2>" + _table(summary))
    parts.append(_table(sensors, ["site", "topic", "samples", "rate Hz", "present", "rejected"]))
    if analysis.scores:
        rows = []
        for name in ("offline", "live"):
            s = analysis.scores.get(name)
            if s:
                rows.append([name, s["frames"], _fmt(s["mpjpe_mm"]), _fmt(s["pa_mpjpe_mm"]), f"{s['jitter_kms3']:.3f}"])
        parts.append(
            "<h2>Against the ground truth</h2>"
            + _table(rows, ["motion", "frames matched", "MPJPE mm", "PA-MPJPE mm", "jitter km/s^3"])
        )
        parts.append(
            f"<p>Ground truth: {analysis.scores['truth_frames']} frames of ground_truth/joint_poses; "
            "each frame scored in its own canonical frame (live/scoring.py). Jitter of the ground truth: "
            f"{analysis.scores.get('truth_jitter_kms3', float('nan')):.3f} km/s^3.</p>"
        )
    parts.append("<h2>Figures</h2>")
    for stem, data in made.items():
        encoded = base64.b64encode(data).decode()
        parts.append(
            f"<figure id='{stem}'><img alt='{html.escape(FIGURES[stem])}' src='data:image/png;base64,"
            f"{encoded}'><figcaption>{html.escape(FIGURES[stem])} (figures/{stem}.png)</figcaption></figure>"
        )
    if analysis.captions:
        start = motion.grid.start_ns
        rows = [
            [f"{(a - start) * 1e-9:.1f}", f"{(b - start) * 1e-9:.1f}", text]
            for a, b, text in merged_captions(analysis.captions)
        ]
        parts.append("<h2>Descriptions</h2>" + _table(rows, ["from s", "to s", "description"]))
    timing = [[name, f"{seconds[name]:.2f}"] for name in seconds]
    parts.append("<h2>Time per stage</h2>" + _table(timing, ["stage", "seconds"]))
    outputs = [[k, v] for k, v in analysis.outputs.items() if k != "bag_topics"]
    parts.append("<h2>Files</h2>" + _table(outputs + [["report", "report.html"]]))
    parts.append("</body></html>")
    path = out_dir / "report.html"
    path.write_text("\n".join(parts))
    return {"report": path.name, "figures": [f"figures/{stem}.png" for stem in made]}
