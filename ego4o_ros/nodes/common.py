"""Small helpers shared by the nodes: time, QoS, parameters, pose messages, the main loop."""
from __future__ import annotations

import importlib
import signal
import threading

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, PoseArray
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header


def to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def to_stamp(seconds: float) -> Time:
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def sensor_qos(depth: int = 200) -> QoSProfile:
    """Best effort and deep: wearables at 100-200 Hz and Python pauses (REFERENCE.md 5)."""
    return QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE,
                      history=HistoryPolicy.KEEP_LAST, depth=depth)


def reliable_qos(depth: int = 10) -> QoSProfile:
    return QoSProfile(reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                      history=HistoryPolicy.KEEP_LAST, depth=depth)


def declare(node, name: str, default, description: str):
    """Declare a parameter with a description (``ros2 param describe``) and return its value."""
    return node.declare_parameter(name, default, ParameterDescriptor(description=description)).value


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
                float, orientations_xyzw[i])
        msg.poses.append(pose)
    return msg


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


def message_class(msgtype: str):
    """"sensor_msgs/msg/Imu" -> the Python class (ImportError when not installed)."""
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
