"""Small helpers shared by the nodes: time, QoS, parameters, messages <-> arrays (poses,
markers, SMPL, diagnostics), the main loop."""

from __future__ import annotations

import gc
import importlib
import signal
import threading

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Pose, PoseArray
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from .. import interface
from ..core import body
from ..live.sensors import ImuConvention

try:  # the package's own messages (msg/), built into the install by colcon or `make`
    from ego4o_ros.msg import MotionDescription, SmplPose
except ImportError:
    MotionDescription = SmplPose = None


def to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def to_stamp(seconds: float) -> Time:
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def sensor_qos(depth: int = 200) -> QoSProfile:
    """Best effort and deep: wearables at 100-200 Hz and Python pauses (ROS 2 sensor QoS convention)."""
    return QoSProfile(
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
    )


def reliable_qos(depth: int = 10) -> QoSProfile:
    return QoSProfile(
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
    )


class ParameterError(ValueError):
    """A parameter value the node cannot use: one line, naming node, parameter and what is allowed."""


def declare(node, name: str, default, description: str, *, min=None, max=None, choices=None, nonempty: bool = False):
    """Declare a parameter with a description (``ros2 param describe``) and return its value.
    ``min``/``max`` (numbers: put in the descriptor's range), ``choices`` and ``nonempty``
    are checked here; a wrong type or value raises one-line :class:`ParameterError`."""
    descriptor = ParameterDescriptor(description=description)
    if choices:
        descriptor.additional_constraints = f"one of {list(choices)}"
    elif min is not None or max is not None:
        descriptor.additional_constraints = f"range [{min}, {max}]"
    try:
        value = node.declare_parameter(name, default, descriptor).value
    except Exception as error:  # rclpy's type errors run to many lines
        given = _override_text(node, name)
        raise ParameterError(
            f"{node.get_name()}: parameter {name}{given} is not a {type(default).__name__} "
            f"({description}): {str(error).splitlines()[0][:160]}"
        ) from None
    if isinstance(default, (list, tuple)) and value is None:
        value = []
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    problem = None
    if nonempty and not value:
        problem = "must not be empty"
    elif choices is not None and value not in choices:
        problem = f"must be one of {list(choices)}"
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or (min is not None and value < min) or (max is not None and value > max):
            problem = f"must be within [{min}, {max}]"
    if problem:
        raise ParameterError(f"{node.get_name()}: parameter {name} = {value!r} {problem} ({description})")
    return value


def _override_text(node, name: str) -> str:
    override = getattr(node, "_parameter_overrides", {}).get(name)
    return "" if override is None else f" = {override.value!r}"


def warn_unknown_parameters(node) -> list[str]:
    """Parameters given to the node (YAML, -p) that it does not have: a misspelling is
    otherwise silently ignored. Warns once per name, with the closest known name."""
    import difflib

    declared = set(node._parameters) if hasattr(node, "_parameters") else set()
    unknown = sorted(set(getattr(node, "_parameter_overrides", {})) - declared - {"use_sim_time"})
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(declared), n=1)
        node.get_logger().warn(
            f"unknown parameter {name!r} ignored" + (f" (did you mean {close[0]!r}?)" if close else "")
        )
    return unknown


def points(positions: np.ndarray) -> list[Point]:
    return [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in positions]


def pose_array(header: Header, positions: np.ndarray, orientations_xyzw: np.ndarray | None = None) -> PoseArray:
    """(N, 3) positions (+ (N, 4) quaternions; identity when None) -> PoseArray."""
    msg = PoseArray(header=header)
    for i, p in enumerate(positions):
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = map(float, p)
        if orientations_xyzw is None:
            pose.orientation.w = 1.0
        else:
            pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = map(
                float, orientations_xyzw[i]
            )
        msg.poses.append(pose)
    return msg


def skeleton_markers(header: Header, positions: np.ndarray) -> MarkerArray:
    """(22, 3) joint positions -> bones (a line list) and joints (spheres), styled as
    ``interface`` says (the analysis writes the same markers)."""
    joints = points(positions)
    bones = Marker(
        header=header,
        ns=interface.MARKER_NAMESPACE,
        id=0,
        type=Marker.LINE_LIST,
        action=Marker.ADD,
        points=[joints[i] for i in interface.BONE_POINTS],
        color=ColorRGBA(**dict(zip("rgba", interface.BONE_COLOR_RGBA))),
    )
    bones.scale.x = interface.BONE_WIDTH_M
    spheres = Marker(
        header=header,
        ns=interface.MARKER_NAMESPACE,
        id=1,
        type=Marker.SPHERE_LIST,
        action=Marker.ADD,
        points=joints,
        color=ColorRGBA(**dict(zip("rgba", interface.JOINT_COLOR_RGBA))),
    )
    spheres.scale.x = spheres.scale.y = spheres.scale.z = interface.JOINT_DIAMETER_M
    for marker in (bones, spheres):
        marker.pose.orientation.w = 1.0
        marker.lifetime.nanosec = interface.MARKER_LIFETIME_NS
    return MarkerArray(markers=[bones, spheres])


def smpl_pose(header: Header, frame, pose):
    """A captured frame (``live.capture.LiveFrame``) and its ROS body pose
    (``core.joint_angles.ros_body_pose``) -> ``ego4o_ros/SmplPose``."""
    msg = SmplPose(header=header)
    msg.global_orient.x, msg.global_orient.y, msg.global_orient.z = map(float, pose.smpl["global_orient"])
    msg.body_pose = pose.smpl["body_pose"].astype(np.float32).ravel().tolist()
    msg.transl.x, msg.transl.y, msg.transl.z = map(float, pose.smpl["transl"])
    msg.joint_positions = points(pose.positions)
    msg.active_sensors = list(frame.sites)
    msg.part_names = list(body.PART_NAMES)
    msg.part_confidence = [] if frame.confidence is None else [float(c) for c in frame.confidence]
    msg.frame_index = int(frame.frame_index)
    return msg


DIAGNOSTIC_LEVELS = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "stale": DiagnosticStatus.STALE}


def diagnostic_array(header: Header, statuses, hardware_id: str) -> DiagnosticArray:
    """``core.diagnostics.Status`` list -> ``/diagnostics`` message."""
    return DiagnosticArray(
        header=header,
        status=[
            DiagnosticStatus(
                level=DIAGNOSTIC_LEVELS[s.level],
                name=s.name,
                message=s.message,
                hardware_id=hardware_id,
                values=[KeyValue(key=k, value=v) for k, v in s.values.items()],
            )
            for s in statuses
        ],
    )


def declare_imu_site(node, site: str) -> tuple[str, ImuConvention]:
    """The parameters of one worn site (``imu.<site>.*``): its topic and its conventions."""
    topic = declare(
        node,
        f"imu.{site}.topic",
        interface.imu_topic(site),
        f"sensor_msgs/Imu topic of the {site} sensor",
        nonempty=True,
    )
    convention = ImuConvention(
        acc_unit=declare(
            node, f"imu.{site}.acc_unit", "m/s^2", "linear_acceleration unit: 'm/s^2' or 'g'", choices=("m/s^2", "g")
        ),
        gravity_included=declare(
            node,
            f"imu.{site}.gravity_included",
            True,
            "true if the device reports gravity (a still sensor reads +9.81 up)",
        ),
        acc_frame=declare(
            node,
            f"imu.{site}.acc_frame",
            "sensor",
            "frame of linear_acceleration: 'sensor' (the message standard) or 'world'",
            choices=("sensor", "world"),
        ),
        world_frame=declare(
            node,
            f"imu.{site}.world_frame",
            "enu",
            "world of the orientation: 'enu' (REP-103, z up) or 'y_up'",
            choices=("enu", "y_up"),
        ),
        frame_id=declare(node, f"imu.{site}.frame_id", "", "expected header.frame_id ('' = any)"),
    )
    return topic, convention


def positions_of(msg: PoseArray) -> np.ndarray:
    """PoseArray -> (N, 3) positions."""
    return np.array([(p.position.x, p.position.y, p.position.z) for p in msg.poses]).reshape(-1, 3)


def make_executor():
    """rclpy's events executor where this rclpy has it (Kilted and later): it takes a third
    less CPU than the wait-set executor at 300+ messages/s, and its timers keep time
    better (``ego4o-graph-benchmark``). Otherwise the single-threaded executor."""
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:
        from rclpy.executors import SingleThreadedExecutor

        return SingleThreadedExecutor()
    return EventsExecutor()


def spin_until_shutdown(node, until=None) -> int:
    """A node's main loop: spin until Ctrl-C / shutdown (or ``until()`` is true), then clean up."""
    executor = make_executor()
    executor.add_node(node)
    # Ctrl-C / SIGTERM end the loop through a flag: a KeyboardInterrupt raised while the
    # events executor is inside C++ aborts the process (and a recorder's bag with it).
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while rclpy.ok() and not stop.is_set() and not (until and until()):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.remove_node(node)
        node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
    return 0


def freeze_startup_objects() -> None:
    """Take every object alive now (imported modules, loaded models) out of the garbage
    collector's walks: a full collection then visits only what was made since. Without it,
    a process holding torch and the models tracks ~570k objects and each full collection
    stalls it for 150-300 ms (measured: 8 in 150 s of the live graph, the fusion node's p99
    latency 104 ms). Called once a node is built; ``gc.unfreeze`` undoes it."""
    gc.collect()
    gc.freeze()


CPU_PRIORITIES = ("normal", "low", "idle")


def lower_cpu_priority(priority: str) -> None:
    """Step this process back on a busy machine, every thread of it (DDS's included): ``low``
    adds 10 to its nice value; ``idle`` (Linux's SCHED_IDLE) runs it only on CPU time nothing
    else wants, so it never delays the capture path, and starves if the machine has none to
    spare; ``normal`` leaves it. One way: an unprivileged process cannot step forward again."""
    import os

    if priority not in CPU_PRIORITIES:
        raise ValueError(f"cpu priority {priority!r} is not one of {list(CPU_PRIORITIES)}")
    if priority == "normal":
        return
    idle = priority == "idle" and hasattr(os, "SCHED_IDLE")
    for task in os.listdir("/proc/self/task"):  # Linux threads carry a priority of their own
        tid = int(task)
        try:
            if idle:
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            else:
                os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10))
        except ProcessLookupError:  # a thread that ended meanwhile
            pass


def run_node(node_class, args=None, until=None) -> int:
    """A node's ``main``: bad parameters or files end it with one line on stderr (exit 2),
    not a traceback."""
    import sys

    try:
        rclpy.init(args=args)  # a broken --params-file fails here
    except Exception as error:
        print(
            f"{node_class.__name__}: cannot start: {str(error).strip().splitlines()[0][:200]}",
            file=sys.stderr,
            flush=True,
        )
        return 2
    try:
        node = node_class()
    except (ValueError, FileNotFoundError) as error:
        print(
            f"{node_class.__name__}: {str(error).splitlines()[0] if str(error) else type(error).__name__}",
            file=sys.stderr,
            flush=True,
        )
        try:
            rclpy.try_shutdown()
        except Exception:  # the half-built node's handles: nothing left to save
            pass
        return 2
    freeze_startup_objects()
    lower_cpu_priority(getattr(node, "cpu_priority", "normal"))  # its own process only: not a test's, a tool's
    try:
        return spin_until_shutdown(node, None if until is None else (lambda: until(node)))
    finally:
        gc.unfreeze()  # a process that goes on (a test calling main) can collect the node again


def message_class(msgtype: str):
    """ "sensor_msgs/msg/Imu" -> the Python class (ImportError when not installed)."""
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def newly_published_topics(node, wanted: set[str], seen: set[str]):
    """Topics of ``wanted`` that now have a publisher and are not in ``seen`` yet:
    yields (topic, msgtype, message class, best_effort) and adds each to ``seen``.
    Subscribing only once a publisher exists lets a raw subscriber match its QoS (a
    reliable subscription to a best-effort publisher receives nothing)."""
    from rclpy.qos import ReliabilityPolicy

    for topic, types in node.get_topic_names_and_types():
        if topic in seen or topic not in wanted or not types:
            continue
        try:
            kind = message_class(types[0])
        except (ImportError, AttributeError):
            continue  # a custom type not built here: nobody here can publish it either
        publishers = node.get_publishers_info_by_topic(topic)
        if not publishers:
            continue
        seen.add(topic)
        yield topic, types[0], kind, any(p.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for p in publishers)
