"""Reliability benchmark of the live capture graph under faults (``ego4o-fault-benchmark``).

The real graph, for ``duration_s``: the wearable replay (the bundled walk, looped: 3 IMUs at
100 Hz + a camera), captioning and recorder in their own processes, as ``ros2 launch`` starts
them; the fusion node in this process (as ``benchmark.GraphRun``) beside one node of the
benchmark's own that is relay, injector and monitor at once:

- **Dropouts.** The replay publishes on ``raw/...``; the relay forwards each message to the
  fusion node's topic unless its site is dropped at that message's stamp (a seeded schedule of
  0.5-3 s spans of some sensors, about a third of them every sensor at once). The stamps it
  forwarded are the ground truth of when a sensor was present.
- **Malformed messages** (``malformed`` in all, round-robin over ``KINDS``: NaN/inf values,
  zero and non-unit quaternions, huge accelerations, "not provided" covariances, wrong
  frame_id, stamps far ahead, backwards or zero; images with a wrong encoding, size or stamp,
  corrupt compressed data; emoji, random unicode, control characters, 100 kB and empty texts)
  on the very topics the real data uses, so they interleave with it; and a burst of ``flood``
  valid descriptions within one second.
- **Kills.** The captioning and the recorder processes get SIGKILL mid-run and are restarted
  (the recorder into a new bag); the killed bag is read back (repaired, on a copy) with the
  project's bag reader.

Measured, from what the graph published rather than what the fusion node says about itself:
crashes (exceptions out of this process's callbacks, child processes that died unasked); output
frames expected over the spans where at least one IMU sample reached the fusion node (the last
``lookahead`` frames before every-sensor outages are never made, by design: their look-ahead
data does not exist) against those published, and the longest gap in the output while a sensor
was present; beside it, the samples forwarded but lost by the best-effort transport (a loaded
machine can starve a reader for a second) and the frames that cost, reported, not the node's;
the stamp error, from two independent checks: every output stamp on the data's grid (within a
stream, ``first + k / fps``; a stream starts on a forwarded sample's stamp or continues the grid
of the stream before it) and, per span between outages, the frame offset ``k`` that best matches
the output pose at stamp ``s`` to the replayed ground truth at ``s + k / fps`` (must be 0): error =
grid residual + |k| x frame period; inputs rejected by reason (the fusion node's counters, beside
what was injected expecting each reason, and real IMU samples accepted vs forwarded, which
exposes a malformed sample taken as data); data lost by the killed recorder (kill -> last
message in its bag); RSS growth of this process (fusion node + benchmark bookkeeping) from 20 %
of the run to its end.

In three parts: the run (``fault_run.py``: relay, injection, supervision; it fills in a
``FaultRecord``), its measures (``analysis/faults.py``, ROS-free: ``measure_run`` and the array
functions it calls) and its report (``fault_report.py``: the targets and the table).
"""

from __future__ import annotations

import sys

from ..analysis.faults import FaultRecord, measure_run
from .fault_report import TARGETS, table, targets_met, write_json
from .fault_run import FaultConfig, FaultRun

__all__ = ["TARGETS", "FaultConfig", "run_fault_benchmark", "table", "targets_met", "write_json"]


def run_fault_benchmark(config: FaultConfig, progress: bool = True) -> dict:
    """Run the benchmark; returns the results (``table(results)`` prints them)."""

    def report(record: FaultRecord, elapsed: float) -> None:
        print(
            f"  {elapsed:5.0f} s: {len(record.joint_states)} frames received, {sum(record.sent.values())} malformed "
            f"sent, {record.crash_count} crashes",
            file=sys.stderr,
            flush=True,
        )

    print(
        f"ego4o-fault-benchmark: {config.duration_s:g} s, seed {config.seed}, out {config.out}",
        file=sys.stderr,
        flush=True,
    )
    run = FaultRun(config)
    for d in run.schedule:
        print(f"  dropout {d.start:6.2f}-{d.end:6.2f} s: {' '.join(d.sites)}", file=sys.stderr)
    return measure_run(run.run(report if progress else None))
