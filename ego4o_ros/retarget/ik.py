"""Damped least-squares IK on Pinocchio frame Jacobians, joint limits kept.

Per iteration: the weighted position and orientation errors of the keypoints and their
Jacobians (``LOCAL_WORLD_ALIGNED``: world axes at the frame) give one Levenberg-Marquardt
step ``(J^T W J + P + d^2 I) dv = J^T W e + P (q_neutral - q)``, where ``P`` is a weak pull
of every joint towards a neutral posture (it settles joints that no keypoint observes,
such as wrist roll, instead of leaving them wherever they drifted), and optionally
``S (q_previous - q)``, a pull towards the previous frame's solution that keeps the solver
on its branch near singularities (an arm overhead, where shoulder pitch and yaw align,
can otherwise flip by a radian in one frame). Joint limits: a
joint at a limit that the step pushes further out is frozen for that step (the step is
solved again without it) and the result is clamped, so every iterate is inside the
limits. Warm-started from the previous frame, it usually converges in a few iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from .robot import RobotModel
from .robot_map import IkSettings

WORLD_ALIGNED = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED


@dataclass
class IkResult:
    q: np.ndarray
    iterations: int
    converged: bool


class KeypointIk:
    def __init__(
        self,
        robot: RobotModel,
        frame_ids: list[int],
        position_weights,
        orientation_weights,
        settings: IkSettings,
        neutral_q: np.ndarray,
        posture_weights: np.ndarray,
    ):
        """``posture_weights``: one per 1-DOF joint (URDF order), per rad."""
        self.robot, self.model, self.data = robot, robot.model, robot.data
        self.settings = settings
        self.frame_ids = list(frame_ids)
        self.position_weights = np.asarray(position_weights, np.float64)
        self.orientation_weights = np.asarray(orientation_weights, np.float64)
        self.positioned = np.flatnonzero(self.position_weights > 0)
        self.oriented = np.flatnonzero(self.orientation_weights > 0)
        rows = 3 * (len(self.positioned) + len(self.oriented))
        self._jacobian = np.zeros((rows, self.model.nv))
        self._error = np.zeros(rows)
        self._row_weights = np.concatenate(
            [
                np.repeat(self.position_weights[self.positioned], 3),
                np.repeat(self.orientation_weights[self.oriented], 3),
            ]
        )
        self.neutral_q = neutral_q
        self._posture = np.zeros(self.model.nv)
        self._posture[robot.index_v] = np.asarray(posture_weights, np.float64) ** 2
        self._damping = settings.damping**2 * np.eye(self.model.nv)

    def residuals(self, q: np.ndarray, target_positions, target_rotations) -> np.ndarray:
        """Weighted errors (and, in self._jacobian, their Jacobian) at q."""
        model, data = self.model, self.data
        pin.computeJointJacobians(model, data, q)  # also places the joints
        pin.updateFramePlacements(model, data)
        row = 0
        for i in self.positioned:
            fid = self.frame_ids[i]
            self._error[row : row + 3] = target_positions[i] - data.oMf[fid].translation
            self._jacobian[row : row + 3] = pin.getFrameJacobian(model, data, fid, WORLD_ALIGNED)[:3]
            row += 3
        for i in self.oriented:
            fid = self.frame_ids[i]
            # rotation taking the frame onto its target, as a world-axes rotation vector
            self._error[row : row + 3] = pin.log3(target_rotations[i] @ data.oMf[fid].rotation.T)
            self._jacobian[row : row + 3] = pin.getFrameJacobian(model, data, fid, WORLD_ALIGNED)[3:]
            row += 3
        return self._error

    def solve(
        self,
        q0: np.ndarray,
        target_positions: np.ndarray,
        target_rotations: np.ndarray,
        max_iterations: int | None = None,
        previous: np.ndarray | None = None,
    ) -> IkResult:
        """From q0; ``previous`` (the last frame's solution) adds the smoothness pull."""
        settings, robot = self.settings, self.robot
        max_iterations = max_iterations or settings.max_iterations
        q = robot.clamp(q0.copy())
        smooth = settings.smoothness_weight**2 if previous is not None else 0.0
        for iteration in range(1, max_iterations + 1):
            error = self.residuals(q, target_positions, target_rotations)
            weighted_jacobian = self._jacobian * self._row_weights[:, None]
            hessian = weighted_jacobian.T @ weighted_jacobian + self._damping
            hessian[np.diag_indices_from(hessian)] += self._posture
            gradient = weighted_jacobian.T @ (error * self._row_weights)
            posture_error = np.zeros(self.model.nv)
            posture_error[robot.index_v] = (self.neutral_q - q)[robot.index_q]
            gradient += self._posture * posture_error
            if smooth:
                hessian[robot.index_v, robot.index_v] += smooth
                gradient[robot.index_v] += smooth * (previous - q)[robot.index_q]
            step = np.linalg.solve(hessian, gradient)
            blocked = self._pushing_out(q, step)
            if blocked.any():  # freeze those joints and solve again
                free = np.flatnonzero(~blocked)
                step = np.zeros_like(step)
                step[free] = np.linalg.solve(hessian[np.ix_(free, free)], gradient[free])
            q = robot.clamp(pin.integrate(self.model, q, step))
            if np.abs(step).max() < settings.tolerance:
                return IkResult(q, iteration, True)
        return IkResult(q, max_iterations, False)

    def _pushing_out(self, q: np.ndarray, step: np.ndarray) -> np.ndarray:
        """Tangent-space mask of the joints at a limit that the step pushes further out
        (a joint short of its limit that would overshoot is clamped instead)."""
        robot = self.robot
        values, moves = q[robot.index_q], step[robot.index_v]
        at_limit = ((values <= robot.lower + 1e-9) & (moves < 0)) | ((values >= robot.upper - 1e-9) & (moves > 0))
        mask = np.zeros(self.model.nv, dtype=bool)
        mask[robot.index_v[at_limit]] = True
        return mask
