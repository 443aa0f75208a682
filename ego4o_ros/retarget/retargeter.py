"""Per-frame retargeting: human SMPL-22 pose -> robot joint positions and root pose.

``Retargeter.step`` = keypoint targets (``targets``) -> IK warm-started from the previous
frame's solution (``ik``) -> smoothing (at most one frame of delay) -> optional velocity
limits -> joint limits. The IK warm start is the unfiltered solution, so the filter's lag
never feeds back into the solve. ``retarget_clip`` runs a whole motion the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pinocchio as pin

from .filters import OneEuroFilter, limit_velocity
from .ik import KeypointIk
from .robot import RobotModel
from .robot_map import RobotMap, load_robot_map
from .targets import TargetBuilder, Targets

MAX_GAP_S = 0.5  # a longer pause (or time going back) restarts the filters


@dataclass
class RetargetOptions:
    smoothing: bool = True
    min_cutoff_hz: float = 4.8  # One Euro minimum cut-off (4.8 Hz = one frame of lag at 30 Hz)
    beta: float = 4.0  # cut-off rise (Hz) per rad/s (or m/s) of speed: fast motion lags less
    velocity_limits: bool = False  # cap joint speed at velocity_scale x the URDF limits
    velocity_scale: float = 1.0
    fps: float = 30.0  # frame rate assumed when frames carry no stamps


@dataclass
class RobotFrame:
    joint_positions: np.ndarray  # (n,) rad or m, in robot.joint_names order (URDF order)
    root_position: np.ndarray  # (3,) m, world (REP-103), the root keypoint's frame
    root_orientation_xyzw: np.ndarray  # (4,)
    q: np.ndarray  # Pinocchio configuration of the output
    ik_q: np.ndarray  # the IK's own solution (before smoothing and rate limits)
    converged: bool
    iterations: int
    solve_time_s: float  # wall clock: targets + IK + filters
    cpu_time_s: float  # this thread's CPU time for the same (no waiting for a core)
    stamp: float | None = None


@dataclass
class ClipResult:
    joint_positions: np.ndarray  # (T, n)
    q: np.ndarray  # (T, nq)
    targets: np.ndarray  # (T, K, 3) keypoint targets
    reached: np.ndarray  # (T, K, 3) keypoint positions of the output
    reached_ik: np.ndarray  # (T, K, 3) keypoint positions of the IK solution (unsmoothed)
    converged: np.ndarray  # (T,) bool
    iterations: np.ndarray  # (T,)
    solve_time_s: np.ndarray  # (T,)
    cpu_time_s: np.ndarray  # (T,)
    keypoint_joints: list[str] = field(default_factory=list)  # SMPL joint of each keypoint


class Retargeter:
    def __init__(self, robot_map: RobotMap | str | Path = "g1", options: RetargetOptions | None = None):
        self.map = robot_map if isinstance(robot_map, RobotMap) else load_robot_map(robot_map)
        self.options = options or RetargetOptions()
        keypoints = self.map.keypoints
        offsets = {f"retarget_{k.name}": (k.frame, k.offset) for k in keypoints if any(k.offset)}
        self.robot = RobotModel(self.map.urdf, self.map.floating_base, offsets)
        self.frame_ids = [self.robot.frame_id(f"retarget_{k.name}" if any(k.offset) else k.frame) for k in keypoints]
        self.targets = TargetBuilder(self.map, self.robot, self.frame_ids)
        neutral = self.robot.configuration(self.map.neutral_pose)
        names = self.robot.joint_names
        unknown = set(self.map.posture_weights) | set(self.map.rest_pose) | set(self.map.neutral_pose)
        unknown -= set(names)
        if unknown:
            raise ValueError(f"{self.map.source}: no such joints in {self.map.urdf.name}: {sorted(unknown)}")
        posture = np.array([self.map.posture_weights.get(n, self.map.ik.posture_weight) for n in names])
        self.ik = KeypointIk(
            self.robot,
            self.frame_ids,
            [k.position_weight for k in keypoints],
            [k.orientation_weight for k in keypoints],
            self.map.ik,
            neutral,
            posture,
        )
        self.neutral_q = neutral
        self.reset()

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.robot.joint_names

    def reset(self) -> None:
        """Forget the motion so far (warm start, filters, last stamp)."""
        self._ik_q: np.ndarray | None = None
        self._output_q: np.ndarray | None = None
        self._stamp: float | None = None
        self._filter = OneEuroFilter(self.options.min_cutoff_hz, self.options.beta, self.options.min_cutoff_hz)

    def _initial_guess(self, targets: Targets) -> np.ndarray:
        q = self.neutral_q.copy()
        if self.map.floating_base:  # put the root where its target is: the rest is local
            rest_rotation = self.targets.rest_rotations[0]
            q[:3] = targets.positions[0]
            q[3:7] = pin.Quaternion(targets.rotations[0] @ rest_rotation.T).coeffs()
        return q

    def _time_step(self, stamp: float | None) -> float | None:
        """Seconds since the previous frame; None after a gap or a jump back (restart filters)."""
        if stamp is None:
            return 1.0 / self.options.fps
        previous, self._stamp = self._stamp, stamp
        if previous is None or not 0 < stamp - previous <= MAX_GAP_S:
            return None
        return stamp - previous

    def step(
        self, joints_body: np.ndarray, rotations_body: np.ndarray | None = None, stamp: float | None = None
    ) -> RobotFrame:
        """One frame: (22, 3) joint positions in the body frame (m, Y up, facing +Z,
        +X = the body's left, floor at y = 0), optionally (22, 3, 3) global rotations
        (SMPL's convention; fitted to the positions when omitted)."""
        started, started_cpu = time.perf_counter(), time.thread_time()
        dt = self._time_step(stamp)
        targets = self.targets(joints_body, rotations_body)
        cold = self._ik_q is None
        q0 = self._initial_guess(targets) if cold else self._ik_q
        # A cold start is far from the answer: give it more iterations.
        result = self.ik.solve(
            q0,
            targets.positions,
            targets.rotations,
            max_iterations=self.map.ik.max_iterations * (5 if cold else 1),
            previous=None if cold else self._ik_q,
        )
        self._ik_q = result.q
        q = self._condition(result.q, dt)
        elapsed, elapsed_cpu = time.perf_counter() - started, time.thread_time() - started_cpu
        joint_positions, root_position, root_xyzw = self.pose_of(q)
        return RobotFrame(
            joint_positions,
            root_position,
            root_xyzw,
            q,
            result.q,
            result.converged,
            result.iterations,
            elapsed,
            elapsed_cpu,
            stamp,
        )

    def pose_of(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A configuration -> joint positions (URDF order), the root keypoint's position and
        orientation (xyzw) in the world: what ``step`` reports, for a configuration changed
        after it (e.g. by the hand-off, ``retarget.handoff``)."""
        position, rotation = self.robot.frame_placements(q, self.frame_ids[:1])
        return self.robot.joint_positions(q).copy(), position[0], pin.Quaternion(rotation[0]).coeffs().copy()

    def _condition(self, q: np.ndarray, dt: float | None) -> np.ndarray:
        """Smoothing, velocity limits, joint limits; dt None restarts the filters."""
        options, robot = self.options, self.robot
        if dt is None:
            self._filter.reset()
            self._output_q = None
        q = q.copy()
        if self.map.floating_base and self._output_q is not None and np.dot(q[3:7], self._output_q[3:7]) < 0:
            q[3:7] *= -1  # same rotation, the sign nearer the last output (the filter averages them)
        if options.smoothing:
            q = self._filter(q, dt if dt is not None else 0.0)
            if self.map.floating_base:
                q[3:7] /= np.linalg.norm(q[3:7])
        if options.velocity_limits and self._output_q is not None:
            limits = robot.velocity_limits * options.velocity_scale
            q[robot.index_q] = limit_velocity(q[robot.index_q], self._output_q[robot.index_q], limits, dt)
        q = robot.clamp(q)
        self._output_q = q
        return q

    def keypoint_positions(self, q: np.ndarray) -> np.ndarray:
        return self.robot.frame_placements(q, self.frame_ids)[0]

    def retarget_clip(
        self, joints_body: np.ndarray, fps: float, rotations_body: np.ndarray | None = None, reset: bool = True
    ) -> ClipResult:
        """A whole motion (T, 22, 3), frame by frame as live (stamps t / fps)."""
        if reset:
            self.reset()
        all_targets = self.targets(joints_body, rotations_body)  # only for the report
        frames = []
        for t in range(len(joints_body)):
            frames.append(self.step(joints_body[t], None if rotations_body is None else rotations_body[t], t / fps))
        q = np.array([f.q for f in frames])
        return ClipResult(
            joint_positions=np.array([f.joint_positions for f in frames]),
            q=q,
            targets=all_targets.positions,
            reached=np.array([self.keypoint_positions(x) for x in q]),
            reached_ik=np.array([self.keypoint_positions(f.ik_q) for f in frames]),
            converged=np.array([f.converged for f in frames]),
            iterations=np.array([f.iterations for f in frames]),
            solve_time_s=np.array([f.solve_time_s for f in frames]),
            cpu_time_s=np.array([f.cpu_time_s for f in frames]),
            keypoint_joints=[k.joint for k in self.map.keypoints],
        )
