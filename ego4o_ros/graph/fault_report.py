"""The report of the fault benchmark (``graph/fault_benchmark.py``): its targets, which a run's
results (``analysis.faults.measure_run``) meet, and the table ``ego4o-fault-benchmark`` prints."""

from __future__ import annotations

import json
import math
from pathlib import Path

FPS = 30.0  # the output rate: the continuity target allows one frame period between outputs
TARGETS = {
    "crashes": 0,
    "malformed_sent": 10_000,
    "stamp_error_ms": 1.0,
    "recorder_loss_s": 1.0,
    "memory_growth_pct": 5.0,
}


def targets_met(r: dict) -> dict[str, bool]:
    c = r["continuity"]
    rec = r["recorder"]
    return {
        "crashes": r["crashes"] == 0,
        "malformed_sent": r["malformed_sent"] >= TARGETS["malformed_sent"],
        "malformed_accepted": r["malformed_accepted"] == 0,
        "continuous": c["missing"] == 0 and c["longest_gap_s"] <= 1 / FPS + 1e-3 and c["outside"] == 0,
        "stamp_error": r["stamp_error_ms"] < TARGETS["stamp_error_ms"],
        "recorder": bool(rec)
        and rec.get("readable", False)
        and rec.get("lost_s", math.inf) <= TARGETS["recorder_loss_s"],
        "memory": r["memory"]["growth_pct"] < TARGETS["memory_growth_pct"],
    }


def _reasons(counted: dict[str, int], expected: dict[str, int]) -> str:
    names = [r for r in counted if counted[r] or expected.get(r)]
    return ", ".join(f"{r} {counted[r]:,}/{expected.get(r, 0):,}" for r in names) or "none"


def table(r: dict) -> str:
    met = targets_met(r)
    c, grid, rec, mem, d = r["continuity"], r["grid"], r["recorder"], r["memory"], r["descriptions"]
    t, cf = r["transport"], r["continuity_forwarded"]
    gap_at = f" at {c['longest_gap_at_s']:.1f} s" if c["longest_gap_s"] > 1 / FPS + 1e-3 else ""
    yes = lambda ok: "yes" if ok else "**no**"
    offsets = r["pose_offsets"]
    window = d["flood_window_s"]
    flood_s = window[1] - window[0] if window else 0.0
    after = d["caption_after_captioner_restart_s"]
    rows = [
        (
            "crashes (exceptions out of callbacks + child processes that died unasked)",
            str(r["crashes"]) + (f": {'; '.join(r['crash_messages'][:3])}" if r["crashes"] else ""),
            "0",
            yes(met["crashes"]),
        ),
        (
            f"malformed messages injected ({r['kinds']} kinds, round-robin)",
            f"{r['malformed_sent']:,}",
            ">= 10,000",
            yes(met["malformed_sent"]),
        ),
        (
            "malformed taken as data (IMU samples accepted - forwarded, + images)",
            str(r["malformed_accepted"]),
            "0",
            yes(met["malformed_accepted"]),
        ),
        (
            "IMU rejected by reason (counted / injected expecting it)",
            _reasons(r["rejected"]["imu"], r["expected_reasons"]["imu"]),
            "",
            "",
        ),
        ("camera rejected by reason", _reasons(r["rejected"]["image"], r["expected_reasons"]["image"]), "", ""),
        ("descriptions rejected by reason", _reasons(r["rejected"]["text"], r["expected_reasons"]["text"]), "", ""),
        (
            "descriptions: flood / accepted / encoded / captions",
            f"{d['flood_sent']:,} in {flood_s:.2f} s / {d['accepted']} / {d['encoded']} / {d['captions']}",
            "",
            "",
        ),
        (
            "sensor dropouts (all sensors at once)",
            f"{len(r['dropouts'])} ({r['total_outages']}); IMU present {r['covered_s']:.1f} of {r['duration_s']:.0f} s"
            f" in {r['covered_spans']} spans",
            "",
            "",
        ),
        (
            "output frames expected / published while any IMU present (samples the fusion node received)",
            f"{c['expected']:,} / {c['published']:,} (missing {c['missing']}; fusion counted dropped "
            f"{r['fusion_dropped']}, stream restarts {r['fusion_restarts']})",
            "all",
            yes(c["missing"] == 0),
        ),
        (
            "longest output gap while any IMU present",
            f"{1000 * c['longest_gap_s']:.1f} ms{gap_at}",
            f"<= {1000 / FPS:.1f} ms (one frame)",
            yes(c["longest_gap_s"] <= 1 / FPS + 1e-3),
        ),
        (
            "IMU samples sent but lost in transport (best effort) / output frames they cost",
            f"{t['lost']:,} of {t['sent']:,}"
            + (
                f" (longest hole {1000 * t['longest_hole_s']:.0f} ms at {t['longest_hole_at_s']:.1f} s)"
                if t["lost"]
                else ""
            )
            + f" / {cf['missing']} of {cf['expected']:,} expected from what was sent",
            "",
            "",
        ),
        ("outputs with no sensor present", str(c["outside"]), "0", yes(c["outside"] == 0)),
        (
            "stamp error: grid residual + |pose offset| x frame period",
            f"{r['stamp_error_ms']:.3f} ms (grid {1000 * grid['max_s']:.4f} ms over {grid['streams']} streams; pose "
            f"offset {r['worst_offset_frames']} frames, worst of {len(offsets)} spans, +-1 frame fits "
            f">= {r['offset_margin_mm']:.1f} mm worse)",
            "< 1 ms",
            yes(met["stamp_error"]),
        ),
        ("MPJPE vs ground truth under faults (median of spans)", f"{r['mpjpe_mm']:.1f} mm", "", ""),
        (
            "recorder killed: data lost (kill -> last message in its bag)",
            (
                f"{rec['lost_s']:.2f} s; bag readable ({'repaired, ' if rec.get('repaired') else ''}"
                f"{rec['messages']:,} messages); restarted recorder writing after "
                f"{rec.get('recording_again_after_s') or float('nan'):.1f} s"
                if rec.get("readable")
                else f"bag unreadable: {rec.get('error', 'not killed')}"
            ),
            "<= 1 s",
            yes(met["recorder"]),
        ),
        (
            "captioner killed: first description after restart",
            "none" if after is None else f"{after:.1f} s after the kill",
            "",
            "",
        ),
        (
            "memory growth of the fusion process (RSS at 20 % -> end)",
            f"{mem['growth_pct']:+.2f} % ({mem['baseline_mb']:.0f} -> {mem['end_mb']:.0f} MB, of which the "
            f"benchmark's own records ~{r['bookkeeping_mb']:.0f} MB)",
            "< 5 %",
            yes(met["memory"]),
        ),
    ]
    lines = ["metric | value | target | met", "--- | --- | --- | ---"]
    lines += [" | ".join(row) for row in rows]
    return "\n".join(lines)


def write_json(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
