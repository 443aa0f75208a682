"""Run the capture graph without ``launch``: ``ego4o-capture`` (the README's main job).

Replays the bundled walk (or ``--clip``) as wearables into the fusion node, captions in
their own process, records a bag, and prints a summary; see ``graph/runner.py``. With
``--bridge imuposer|sensor_logger`` your own devices stream in instead (config/devices.yaml).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..graph.runner import print_summary, run_capture


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, help="parameter file (default: config/capture.yaml)")
    parser.add_argument("--clip", help="motion file to replay (default: the bundled walk)")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = real time)")
    parser.add_argument("--bag", help="bag directory to record (default: out/capture/ego4o_<time>)")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--foxglove", action="store_true", help="serve a Foxglove WebSocket on 127.0.0.1 (port in the params)"
    )
    parser.add_argument(
        "--robot",
        help="also retarget to this robot (g1: Unitree G1; a map in config/robots/) and publish robot/joint_states",
    )
    parser.add_argument(
        "--sonic",
        type=int,
        choices=(2, 3),
        help="also stream the body to SONIC (GR00T whole-body control) over ZMQ on 127.0.0.1:5556, "
        "protocol 2 (SMPL) or 3 (SMPL + G1 joints); implies --robot g1 unless given",
    )
    parser.add_argument(
        "--bridge",
        help="real devices instead of the replay: a profile of config/devices.yaml (imuposer, sensor_logger)",
    )
    parser.add_argument(
        "--mqtt-broker",
        help="with --bridge sensor_logger: the MQTT broker the app publishes to (ws://host:8000/mqtt, "
        "mqtt://host:1883, ...) instead of its HTTP push",
    )
    parser.add_argument("--duration", type=float, help="with --bridge: seconds to capture (default: until Ctrl-C)")
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID (default: the environment's, else per run)")
    parser.add_argument("--json", type=Path, help="write the summary here too")
    args = parser.parse_args(argv)

    if args.bridge and args.clip:
        parser.error("--clip replays a motion file; --bridge streams from devices: give one")
    if args.mqtt_broker and args.bridge != "sensor_logger":
        parser.error("--mqtt-broker is where Sensor Logger publishes: give it with --bridge sensor_logger")
    summary = run_capture(
        args.params,
        args.clip,
        args.speed,
        args.bag,
        not args.no_record,
        args.foxglove,
        args.robot,
        args.domain_id,
        bridge=args.bridge,
        duration=args.duration,
        sonic=args.sonic,
        mqtt_broker=args.mqtt_broker,
    )
    print_summary(summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    return 0 if summary["joint_states"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
