"""Humanoid retargeting, ROS-free: SMPL-22 body pose -> a robot's joint positions.

``Retargeter(map)`` with a map from ``config/robots/`` (``g1``, ``ego4o_body``) or any YAML
path: per frame, keypoint targets in the robot's proportions (``targets``), damped
least-squares IK on Pinocchio warm-started from the previous frame (``ik``), then a
smoothing filter with at most one frame of delay, optional velocity limits and the joint
limits (``filters``). The ``retarget`` node (``nodes/retarget_node.py``) wraps it for ROS.
"""

from .retargeter import ClipResult, Retargeter, RetargetOptions, RobotFrame
from .robot_map import Keypoint, RobotMap, available_robots, load_robot_map


def single_threaded_blas() -> None:
    """Keep numpy's BLAS on one thread in this process. The IK's matrices are small
    (35 x 35 on the G1): a threaded BLAS only adds overhead, and on a busy machine its
    threads wait for cores (measured 9x slower per frame on 2 shared cores)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


__all__ = [
    "ClipResult",
    "Keypoint",
    "RetargetOptions",
    "Retargeter",
    "RobotFrame",
    "RobotMap",
    "available_robots",
    "load_robot_map",
    "single_threaded_blas",
]
