"""Joint positions -> SMPL-style joint rotations, the robot-facing DOFs and the body URDF.

The capture model outputs 22 joint positions. Retargeting and ``robot_state_publisher``
want rotations, so this module fits one rotation per joint (SMPL's convention: joint
``j``'s rotation turns everything below it) to the positions:

* a joint with one child turns its rest bone onto the observed bone by the smallest
  rotation *after* its parent's rotation (no twist of its own: positions cannot show
  twist);
* a joint with several children (pelvis, spine3) takes the best rigid fit (Kabsch) of
  its rest child offsets onto the observed ones. HumanML3D's raw directions put hips
  and collars straight sideways, which real bodies do not (3-16 cm errors), so the
  rest directions of those six branch bones are fitted to motion (``fit_rest_offsets``,
  on the bundled Bandai take, which is rigid at the branches: fit error < 1e-9 m);
* an end joint (feet, head, wrists) follows its parent.

``forward_kinematics`` of these rotations on the template skeleton reproduces every
single-child bone exactly; the branching bones (hips, collars) to within the fit.

For ROS everything is turned into REP-103 axes (x forward, y left, z up, see
``frames.ROS_FROM_BODY``): the rest pose faces +x. Each joint becomes three revolute
DOFs ``<joint>_rx, _ry, _rz`` applied in that order (intrinsic XYZ Euler angles),
the root additionally three prismatic DOFs ``pelvis_tx, _ty, _tz``; ``body_urdf()``
writes the matching URDF.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from . import body, frames, rotations

ROOT_DOFS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
EULER_AXES = ("x", "y", "z")
JOINT_DOF_NAMES = tuple(f"{name}_r{axis}" for name in body.JOINT_NAMES for axis in EULER_AXES)
DOF_NAMES = ROOT_DOFS + JOINT_DOF_NAMES  # the JointState names, in order (6 + 63)
CHILDREN = tuple(tuple(c for c, p in enumerate(body.PARENTS) if p == j) for j in range(body.NUM_JOINTS))
BRANCH_JOINTS = tuple(j for j in range(body.NUM_JOINTS) if len(CHILDREN[j]) > 1)

# Rest directions of the branch bones (hips, spine1, neck, collars), body frame, from
# fit_rest_offsets() on the bundled take; every other bone keeps HumanML3D's direction.
_FITTED_DIRECTIONS = {
    1: (0.9432, -0.3323, 0.0),
    2: (-0.9509, -0.3096, 0.0),
    3: (0.0120, 0.9999, 0.0),
    12: (-0.0248, 0.9997, 0.0),
    13: (0.3345, 0.9422, -0.0182),
    14: (-0.3810, 0.9244, -0.0167),
}


def _rest_offsets(directions: dict) -> np.ndarray:
    offsets = body.template_offsets().copy()
    for j, direction in directions.items():
        offsets[j] = rotations.normalize(np.asarray(direction, np.float64)) * body.TEMPLATE_BONE_LENGTHS[j]
    return offsets


REST_OFFSETS = _rest_offsets(_FITTED_DIRECTIONS)  # (22, 3) m, body frame: the URDF's skeleton


def _smallest_rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return rotations.quat_to_matrix(rotations.qbetween(u, v))


def _kabsch(rest: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Rotation R (..., 3, 3) minimising sum |R rest_k - observed_k|^2; rest (K, 3), observed (..., K, 3)."""
    h = np.einsum("ki,...kj->...ij", rest, observed)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    fix = np.broadcast_to(np.eye(3), d.shape + (3, 3)).copy()
    fix[..., 2, 2] = d
    return np.swapaxes(vt, -1, -2) @ fix @ np.swapaxes(u, -1, -2)


def _depth(j: int) -> int:
    return 0 if body.PARENTS[j] < 0 else 1 + _depth(body.PARENTS[j])


# The tree level by level (8 levels for 22 joints), each level's joints split by how their
# rotation is fitted: a level's joints depend only on the levels above, so each group is one
# batched computation (live, one frame: ~3x faster than joint by joint).
_LEVELS = tuple(
    tuple(
        tuple(j for j in range(body.NUM_JOINTS) if _depth(j) == depth and kind(j))
        for kind in (
            lambda j: len(CHILDREN[j]) > 1 or body.PARENTS[j] < 0,  # Kabsch
            lambda j: len(CHILDREN[j]) == 1 and body.PARENTS[j] >= 0,  # smallest rotation after the parent's
            lambda j: len(CHILDREN[j]) == 0,  # an end joint: its parent's
        )
    )
    for depth in range(max(map(_depth, range(body.NUM_JOINTS))) + 1)
)


def global_rotations_from_joints(joints: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """(..., 22, 3) positions -> (..., 22, 3, 3) global joint rotations (body frame)."""
    offsets = REST_OFFSETS if offsets is None else offsets
    joints = np.asarray(joints, np.float64)
    out = np.empty(joints.shape + (3,))
    parents = np.array(body.PARENTS)
    for branching, single, ends in _LEVELS:
        for j in branching:
            children = list(CHILDREN[j])
            out[..., j, :, :] = _kabsch(offsets[children], joints[..., children, :] - joints[..., j : j + 1, :])
        if single:
            single_list = list(single)
            child = [CHILDREN[j][0] for j in single]
            parent_rot = out[..., parents[single_list], :, :]
            carried = np.einsum("...nij,nj->...ni", parent_rot, offsets[child])
            bones = joints[..., child, :] - joints[..., single_list, :]
            out[..., single_list, :, :] = _smallest_rotation(carried, bones) @ parent_rot
        if ends:
            out[..., list(ends), :, :] = out[..., parents[list(ends)], :, :]
    return out


def fit_rest_offsets(joints: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Rest offsets whose branch bones best match a motion (T, 22, 3): alternate the
    rotation fit and the mean branch offset in the parent's frame."""
    offsets = body.template_offsets().copy()
    for _ in range(iterations):
        global_rot = global_rotations_from_joints(joints, offsets)
        for j in BRANCH_JOINTS:
            for c in CHILDREN[j]:
                mean = np.einsum("tji,tj->i", global_rot[:, j], joints[:, c] - joints[:, j])
                offsets[c] = rotations.normalize(mean) * body.TEMPLATE_BONE_LENGTHS[c]
    return offsets


def local_rotations(global_rot: np.ndarray) -> np.ndarray:
    """Global (..., 22, 3, 3) -> parent-relative rotations; the root's stays global."""
    parents = np.array(body.PARENTS)
    local = global_rot.copy()
    local[..., 1:, :, :] = np.swapaxes(global_rot[..., parents[1:], :, :], -1, -2) @ global_rot[..., 1:, :, :]
    return local


def to_ros_rotation(rot_body: np.ndarray) -> np.ndarray:
    """A rotation expressed in body axes, re-expressed in REP-103 axes (conjugation)."""
    return frames.ROS_FROM_BODY @ rot_body @ frames.BODY_FROM_ROS


def _dofs(joints_body: np.ndarray, local: np.ndarray) -> np.ndarray:
    angles = Rotation.from_matrix(to_ros_rotation(local)).as_euler("XYZ")  # intrinsic x, then y, then z
    return np.concatenate([frames.ROS_FROM_BODY @ joints_body[0], angles.reshape(-1)])


def _smpl(joints_body: np.ndarray, local: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "global_orient": rotations.matrix_to_axis_angle(frames.ROS_FROM_BODY @ local[0]),
        "body_pose": rotations.matrix_to_axis_angle(local[1:]),
        "transl": frames.ROS_FROM_BODY @ joints_body[0],
    }


def joint_positions_dofs(joints_body: np.ndarray) -> np.ndarray:
    """One frame (22, 3) body-frame positions -> (69,) values for ``DOF_NAMES`` (m, rad)."""
    return _dofs(joints_body, local_rotations(global_rotations_from_joints(joints_body)))


def smpl_parameters(joints_body: np.ndarray) -> dict[str, np.ndarray]:
    """One frame -> SMPL-style parameters.

    ``body_pose`` (21, 3) axis-angle in SMPL's own (body) axes, parent-relative, so an
    SMPL model takes it as is; ``global_orient`` maps the SMPL body axes into the
    REP-103 world and ``transl`` (pelvis position) is in that world, so the posed body
    comes out in ROS axes.
    """
    return _smpl(joints_body, local_rotations(global_rotations_from_joints(joints_body)))


@dataclass
class RosBodyPose:
    """Everything the ROS outputs need about one frame, from one rotation fit."""

    positions: np.ndarray  # (22, 3) m, REP-103
    orientations_xyzw: np.ndarray  # (22, 4) global joint rotations in REP-103 axes
    dofs: np.ndarray  # (69,) values for DOF_NAMES
    smpl: dict[str, np.ndarray]  # smpl_parameters()


def ros_body_pose(joints_body: np.ndarray) -> RosBodyPose:
    global_rot = global_rotations_from_joints(joints_body)
    local = local_rotations(global_rot)
    return RosBodyPose(
        joints_body @ frames.ROS_FROM_BODY.T,
        rotations.matrix_to_xyzw(to_ros_rotation(global_rot)),
        _dofs(joints_body, local),
        _smpl(joints_body, local),
    )


def urdf_forward_kinematics(dof_values: np.ndarray) -> np.ndarray:
    """The URDF's kinematics: (69,) DOF values -> (22, 3) joint positions in REP-103 axes."""
    local = Rotation.from_euler("XYZ", dof_values[3:].reshape(body.NUM_JOINTS, 3)).as_matrix()
    offsets = (frames.ROS_FROM_BODY @ REST_OFFSETS.T).T
    positions, _ = body.forward_kinematics(local, dof_values[:3], offsets)
    return positions


def _rpy_of_z_to(direction: np.ndarray) -> str:
    """URDF rpy turning +z onto ``direction`` (a cylinder along a bone)."""
    rot = _smallest_rotation(np.array([0.0, 0.0, 1.0]), direction)
    # URDF rpy: R = Rz(yaw) Ry(pitch) Rx(roll); written out to avoid scipy's gimbal warning.
    pitch = np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0))
    roll, yaw = np.arctan2(rot[2, 1], rot[2, 2]), np.arctan2(rot[1, 0], rot[0, 0])
    if abs(rot[2, 0]) > 1 - 1e-9:  # bone along +-x: roll and yaw share one axis
        roll, yaw = 0.0, np.arctan2(-rot[0, 1], rot[1, 1])
    return f"{roll:.6f} {pitch:.6f} {yaw:.6f}"


def body_urdf(root_link: str = "world", robot_name: str = "ego4o_body") -> str:
    """URDF text of the template body: three revolute DOFs per joint (x, y, z in turn)
    plus three prismatic root DOFs, joint names = ``DOF_NAMES``, REP-103 axes."""
    offsets = (frames.ROS_FROM_BODY @ REST_OFFSETS.T).T
    lines = [
        '<?xml version="1.0"?>',
        "<!-- Generated by ego4o_ros.core.joint_angles.body_urdf(); do not edit by hand. -->",
        f'<robot name="{robot_name}">',
        f'  <link name="{root_link}"/>',
    ]

    def link(name, visuals=""):
        lines.append(f'  <link name="{name}">{visuals}</link>' if visuals else f'  <link name="{name}"/>')

    def joint(name, kind, parent, child, axis, xyz="0 0 0"):
        limit = (
            '<limit lower="-3.0" upper="3.0" effort="0" velocity="100"/>'
            if kind == "prismatic"
            else '<limit lower="-3.14159" upper="3.14159" effort="0" velocity="100"/>'
        )
        lines.append(
            f'  <joint name="{name}" type="{kind}"><parent link="{parent}"/><child link="{child}"/>'
            f'<origin xyz="{xyz}" rpy="0 0 0"/><axis xyz="{axis}"/>{limit}</joint>'
        )

    axes = {"x": "1 0 0", "y": "0 1 0", "z": "0 0 1"}
    parent = root_link
    for dof in ROOT_DOFS:
        link(f"{dof}_link")
        joint(dof, "prismatic", parent, f"{dof}_link", axes[dof[-1]])
        parent = f"{dof}_link"
    link_of = {}
    for j, name in enumerate(body.JOINT_NAMES):
        up = parent if j == 0 else link_of[body.PARENTS[j]]
        xyz = "0 0 0" if j == 0 else " ".join(f"{v:.6f}" for v in offsets[j])
        for k, axis in enumerate(EULER_AXES):
            child = name if axis == "z" else f"{name}_r{axis}_link"
            visuals = ""
            if axis == "z":
                visuals = '<visual><geometry><sphere radius="0.03"/></geometry></visual>'
                for c in CHILDREN[j]:
                    length = float(np.linalg.norm(offsets[c]))
                    middle = " ".join(f"{v:.6f}" for v in offsets[c] / 2)
                    visuals += (
                        f'<visual><origin xyz="{middle}" rpy="{_rpy_of_z_to(offsets[c])}"/>'
                        f'<geometry><cylinder radius="0.02" length="{length:.6f}"/></geometry></visual>'
                    )
            link(child, visuals)
            joint(f"{name}_r{axis}", "revolute", up, child, axes[axis], xyz if k == 0 else "0 0 0")
            up = child
        link_of[j] = name
    lines.append("</robot>")
    return "\n".join(lines) + "\n"
