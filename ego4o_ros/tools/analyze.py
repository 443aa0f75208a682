"""ego4o-analyze: recordings (rosbag2 MCAP / sqlite3, ROS 1 .bag) -> offline motion,
descriptions, a bag to open in Foxglove/RViz, npz + CSV and an HTML report. No ROS needed."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bags", nargs="+", help="rosbag2 directories and/or ROS 1 .bag files")
    parser.add_argument("--out", default="out/analysis", help="output folder (one subfolder per bag)")
    parser.add_argument(
        "--params", help="parameter file with the fusion node's sensor settings (default: config/capture.yaml)"
    )
    parser.add_argument("--weights", help="weights folder (default: the bundled weights)")
    parser.add_argument("--jobs", type=int, default=1, help="bags analysed in parallel (one process each)")
    parser.add_argument(
        "--threads", type=int, default=0, help="model threads per bag (default: the CPUs, shared by --jobs)"
    )
    parser.add_argument("--force", action="store_true", help="redo bags whose results exist already")
    parser.add_argument("--tto", action="store_true", help="test-time optimisation of every window (slow)")
    parser.add_argument("--backend", choices=["onnxruntime", "torch"], default="onnxruntime")
    parser.add_argument(
        "--text",
        action="store_true",
        help="close the live loop offline: capture again with the descriptions as the model's text input (slower)",
    )
    parser.add_argument("--no-captions", action="store_true", help="no descriptions")
    parser.add_argument(
        "--no-image", action="store_true", help="leave the recorded camera frames out of the capture (IMUs only)"
    )
    parser.add_argument("--no-inputs", action="store_true", help="leave the input topics out of the output bag")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads < 0:
        parser.error(f"--threads must be >= 0 (0: the CPUs), got {args.threads}")

    from ..analysis import AnalysisConfig, analyze_bags

    config = AnalysisConfig(
        params=args.params,
        weights=args.weights,
        captions=not args.no_captions,
        image=not args.no_image,
        tto=args.tto,
        copy_inputs=not args.no_inputs,
        report=not args.no_report,
        backend=args.backend,
        text=args.text,
        threads=args.threads,
    )
    results = analyze_bags(args.bags, args.out, config, jobs=args.jobs, force=args.force, progress=not args.no_progress)
    failed = 0
    for result in results:
        if "error" in result:
            failed += 1
            print(f"{result['bag']}: FAILED: {result['error']}", file=sys.stderr)
            continue
        state = "already done" if result.get("skipped") else f"{result['seconds']['total']:.1f} s"
        line = (
            f"{result['bag']}: {result['duration_s']:.1f} s, {result['frames']} frames, "
            f"{result['descriptions']} descriptions ({state})"
        )
        for name in ("offline", "live"):
            score = (result.get("scores") or {}).get(name)
            if score:
                line += f"; {name} MPJPE {score['mpjpe_mm']:.1f} mm"
        print(line)
        for note in result.get("notes", []):
            print(f"  note: {note}")
    print(f"results in {args.out}/<bag>/ (report.html, analysed_bag/, motion.npz, joints.csv)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
