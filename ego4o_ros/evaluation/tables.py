"""The evaluation's tables: scores per (groups, row, mode) summed into one table per
group, and their Markdown. Groups: all clips; Bandai dataset 1 and 2; the sources of the
ood_motion collection ("ood <archive>", ``readers/ood.py``); takes whose
action+style pair no training take has ("unseen pairs"); by the number of IMUs; and,
per IMU site, the combinations without it ("without <site>", which feed the summary of
each body part's error where its sensor is not worn)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..core import body, imu
from ..readers.ood import GROUPS as OOD_GROUPS

ROWS = (  # the order of the rows in every table
    "ground_truth_stitched",
    "vqvae_reconstruction",
    "baseline_lstm",
    "ego4o_imu",
    "ego4o_imu_feet",
    "ego4o_imu_tto",
    "ego4o_generated_text",
    "ego4o_imu_lm_reference",
    "ego4o_lm_text",
    "ego4o_lm_text_oracle_gate",
    "ego4o_gt_text",
    "ego4o_image",
    "ego4o_image_generated_text",
    "ego4o_image_lm_reference",
    "ego4o_image_lm_text",
    "ego4o_all",
)
GROUP_ORDER = ("all", "dataset 1", "dataset 2", "unseen pairs", *OOD_GROUPS, "1 IMU", "2 IMU", "3 IMU")
# The body part each IMU site sits on (the part holding the joint it measures): a
# combination without that site joins the group "without <site>", whose part column is
# that part's error where no sensor is worn on it.
SITE_PARTS = {  # in the order of the body parts
    site.name: part for part, joints in body.BODY_PARTS.items() for site in imu.SITES if site.ori_joint in joints
}


def without_group(site: str) -> str:
    return f"without {site}"


def summarise(records: list, seconds: dict, minutes: dict) -> dict:
    """Records (groups, row, mode, scores) and the seconds / minutes of motion spent per
    (row, mode) -> {group: {"row/mode": {mpjpe_mm, pa_mpjpe_mm, jitter_kms3, frames,
    part_*, s_per_min, and feet_* (``feet_summary``) where the scores have feet}}}."""
    out = defaultdict(dict)
    keys = sorted(
        {(g, r, m) for groups, r, m, _ in records for g in groups},
        key=lambda k: (k[0], ROWS.index(k[1]) if k[1] in ROWS else len(ROWS), k[2]),
    )
    for group, row, mode in keys:
        entries = [s for groups, r, m, s in records if r == row and m == mode and group in groups]
        frames = sum(e["frames"] for e in entries)
        result = {
            "mpjpe_mm": float(np.concatenate([e["mpjpe"] for e in entries]).mean()),
            "pa_mpjpe_mm": float(np.concatenate([e["pa_mpjpe"] for e in entries]).mean()),
            "jitter_kms3": float(np.nanmean([e["jitter"] for e in entries])),
            "frames": int(frames),
        }
        if "jitter_world" in entries[0]:
            result["jitter_world_kms3"] = float(np.nanmean([e["jitter_world"] for e in entries]))
        for part in entries[0]["parts"]:
            result[f"part_{part}"] = float(sum(e["parts"][part] for e in entries) / max(frames, 1))
        result |= feet_summary([e["feet"] for e in entries if e.get("feet")])
        spent = minutes.get((row, mode), 0.0)
        result["s_per_min"] = seconds.get((row, mode), 0.0) / spent if spent else float("nan")
        out[group][f"{row}/{mode}"] = result
    return dict(out)


# The feet's figures in a table row (``feet_*`` for the method's output, ``feet_gt_*`` for the
# ground truth on the same frames): each summed over clips, then divided by its count.
FEET_FIGURES = {
    "skate_mm_s": "contact_steps",
    "penetration_mm": "frames",
    "penetrating_frames": "frames",
    "floating_mm": "contact_frames",
}


def feet_summary(feet: list[dict]) -> dict:
    """``scoring._feet`` sums of clips -> {feet_skate_mm_s, feet_penetration_mm,
    feet_penetration_frac, feet_floating_mm, feet_contact_frac, and feet_gt_* of the first
    four}, each averaged over the frames (or contact steps, or contact frames) of all clips;
    {} without any."""
    if not feet:
        return {}
    total = {key: sum(f[key] for f in feet) for key in feet[0]}
    out = {"feet_contact_frac": total["contact_frames"] / max(total["frames"], 1)}
    for prefix in ("", "gt_"):
        for figure, count in FEET_FIGURES.items():
            name = "penetration_frac" if figure == "penetrating_frames" else figure
            value = total[prefix + figure] / total[count] if total[count] else float("nan")
            out[f"feet_{prefix}{name}"] = float(value)
    return out


def action_right(descriptions: list[dict]) -> float:
    """Fraction of LM loop descriptions naming the action of the take's own description."""
    from ..readers.bandai import action_of

    return (
        float(np.mean([action_of(d["text"]) == action_of(d["truth"]) for d in descriptions])) if descriptions else 0.0
    )


def format_unsensed(table: dict) -> str:
    """One line per row: each part's error where its sensor is not worn (from the
    "without <site>" groups), and their mean."""
    sites = [s for s in SITE_PARTS if without_group(s) in table]
    if not sites:
        return ""
    names = [n for n in table[without_group(sites[0])] if n.startswith(("ego4o", "baseline"))]
    header = ["method/mode", *[f"{SITE_PARTS[s]} (no {s})" for s in sites], "mean"]
    lines = ["\n**parts without their sensor** (mm)\n", " | ".join(header), " | ".join("---" for _ in header)]
    for name in names:
        values = [table[without_group(s)].get(name, {}).get(f"part_{SITE_PARTS[s]}", np.nan) for s in sites]
        lines.append(" | ".join([name, *[f"{v:.1f}" for v in values], f"{np.nanmean(values):.1f}"]))
    return "\n".join(lines)


def format_feet(table: dict, groups: tuple[str, ...] = ("all", "1 IMU", "2 IMU", "3 IMU")) -> str:
    """One table per group: each row's foot-skate (mm/s, and its ratio to the ground truth's on
    the same frames), floor penetration (mean depth mm, % of frames), floating (mm) and MPJPE."""
    lines = []
    for group in [g for g in groups if g in table]:
        rows = {name: r for name, r in table[group].items() if "feet_skate_mm_s" in r}
        if not rows:
            continue
        header = ["method/mode", "skate mm/s", "x truth", "penetration mm", "% frames", "floating mm", "MPJPE mm"]
        header += ["truth: skate", "penetration", "floating"]
        lines += [f"\n**feet: {group}** (truth: the ground truth on the same frames)\n"]
        lines += [" | ".join(header), " | ".join("---" for _ in header)]
        for name, r in rows.items():
            truth = r["feet_gt_skate_mm_s"]
            cells = [
                name,
                f"{r['feet_skate_mm_s']:.0f}",
                f"{r['feet_skate_mm_s'] / truth:.2f}" if truth > 0 else "",
                f"{r['feet_penetration_mm']:.2f}",
                f"{100 * r['feet_penetration_frac']:.1f}",
                f"{r['feet_floating_mm']:.1f}",
                f"{r['mpjpe_mm']:.1f}",
                f"{r['feet_gt_skate_mm_s']:.0f}",
                f"{r['feet_gt_penetration_mm']:.2f}",
                f"{r['feet_gt_floating_mm']:.1f}",
            ]
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def format_table(table: dict, groups: tuple[str, ...] = GROUP_ORDER, only_listed: bool = False) -> str:
    """Markdown tables, one per group (``groups`` first, then the rest unless
    ``only_listed``), with the peer ratio of every Ego4o row."""
    lines = []
    rest = [] if only_listed else [g for g in table if g not in groups]
    for group in [g for g in groups if g in table] + rest:
        rows = table[group]
        parts = [k for k in next(iter(rows.values())) if k.startswith("part_")]
        header = [
            "method/mode",
            "MPJPE mm",
            "x peer",
            "PA-MPJPE mm",
            "jitter km/s^3",
            *[p[5:] for p in parts],
            "frames",
            "s per min",
        ]
        lines += [f"\n**{group}**\n", " | ".join(header), " | ".join("---" for _ in header)]
        for name, r in rows.items():
            mode = name.split("/")[1]
            peer = rows.get(f"baseline_lstm/{mode}")
            ratio = f"{r['mpjpe_mm'] / peer['mpjpe_mm']:.2f}" if peer and name.startswith("ego4o") else ""
            jitter = f"{r['jitter_kms3']:.3f}"
            if "jitter_world_kms3" in r:
                jitter += f" (world {r['jitter_world_kms3']:.3f})"
            lines.append(
                " | ".join(
                    [
                        name,
                        f"{r['mpjpe_mm']:.1f}",
                        ratio,
                        f"{r['pa_mpjpe_mm']:.1f}",
                        jitter,
                        *[f"{r[p]:.1f}" for p in parts],
                        str(r["frames"]),
                        f"{r['s_per_min']:.2f}",
                    ]
                )
            )
    return "\n".join(lines)


def format_curve(table: dict, lookaheads: tuple[int, ...], groups=("all", "1 IMU", "2 IMU", "3 IMU")) -> str:
    """Online MPJPE against look-ahead (frames, and ms at 30 Hz) for the peer and Ego4o."""
    lines = ["\n**online MPJPE (mm) against look-ahead** (Ego4o / peer, IMUs only)\n"]
    header = ["group", *[f"L={L} ({L / 30 * 1000:.0f} ms)" for L in lookaheads]]
    lines += [" | ".join(header), " | ".join("---" for _ in header)]
    for group in [g for g in groups if g in table]:
        cells = []
        for L in lookaheads:
            ours, peer = table[group].get(f"ego4o_imu/online@{L}"), table[group].get(f"baseline_lstm/online@{L}")
            if ours and peer:
                ratio = ours["mpjpe_mm"] / peer["mpjpe_mm"]
                cells.append(f"{ours['mpjpe_mm']:.1f} / {peer['mpjpe_mm']:.1f} ({ratio:.2f}x)")
            else:
                cells.append("")
        lines.append(" | ".join([group, *cells]))
    return "\n".join(lines)
