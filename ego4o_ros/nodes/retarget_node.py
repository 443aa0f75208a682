"""Retarget node: captured body pose -> a humanoid robot's joint targets, live.

Subscribes ``joint_poses`` (``geometry_msgs/PoseArray``, the 22 SMPL joints the fusion
node publishes), or ``smpl_pose`` (``ego4o_ros/msg/SmplPose``, where the message package
is built; ``input: smpl_pose``). Publishes, stamped with the stamp of the pose they come
from: ``robot/joint_states`` (``sensor_msgs/JointState``, the robot's joints in URDF
order) and ``robot/root_pose`` (``geometry_msgs/PoseStamped``, the robot's root link in
``frame_id``), and ``/diagnostics``. The robot is a YAML map (``robot``: ``g1`` by default,
``config/robots/``). All computing happens in ``ego4o_ros.retarget``; this node converts
messages.

The hand-off (``retarget.handoff``): the ``~/hold`` service (``std_srvs/SetBool``: true =
hold, false = release) or the ``hold`` parameter freezes the targets (the held pose is
published for every input); on release, and when the input poses come back after more
than ``input_timeout`` s, the targets return to the live pose with every joint no faster
than ``handoff_velocity_scale`` x its URDF velocity limit (the root: ``handoff_linear_speed``
m/s, ``handoff_angular_speed`` rad/s). With ``sonic: true`` the node also streams the body in
SONIC's ZMQ protocol (``retarget.sonic``) from a PUB socket bound to ``sonic_address``
(127.0.0.1 unless told otherwise): the same pose, held and blended the same way.
"""

from __future__ import annotations

import collections
import sys

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseArray, PoseStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from std_srvs.srv import SetBool

from .. import interface
from ..core import body
from ..retarget import Retargeter, RetargetOptions, load_robot_map, single_threaded_blas
from ..retarget import sonic as sonic_protocol
from ..retarget.handoff import HandOff, robot_blocks
from ..retarget.live import HandedOffRetarget
from ..retarget.targets import from_ros
from .common import SmplPose, declare, positions_of, reliable_qos, spin_until_shutdown, to_seconds


class RetargetNode(Node):
    def __init__(self, **kwargs):
        super().__init__("retarget", **kwargs)
        robot = declare(self, "robot", "g1", "robot map: a name in config/robots/ (g1, ego4o_body) or a YAML path")
        urdf = declare(self, "urdf", "", "URDF file overriding the map's ('' = the map's own)")
        self.enabled = declare(self, "enabled", True, "retarget and publish (false: inputs are ignored)")
        source = declare(
            self, "input", interface.JOINT_POSES, "'joint_poses' (PoseArray) or 'smpl_pose' (when msg/ is built)"
        )
        self.frame_id = declare(self, "frame_id", "world", "frame of robot/root_pose (the frame of the input poses)")
        options = RetargetOptions(
            smoothing=declare(self, "smoothing", True, "One Euro smoothing of the output (at most one frame of delay)"),
            min_cutoff_hz=declare(self, "smoothing_min_cutoff", 4.8, "Hz; One Euro minimum cut-off"),
            beta=declare(self, "smoothing_beta", 4.0, "Hz per rad/s; One Euro speed coefficient (higher: less lag)"),
            velocity_limits=declare(self, "velocity_limits", True, "cap joint speeds at the URDF velocity limits"),
            velocity_scale=declare(self, "velocity_scale", 1.0, "fraction of the URDF velocity limits allowed"),
            fps=declare(self, "rate", 30.0, "Hz; frame rate assumed for inputs without usable stamps"),
        )
        single_threaded_blas()  # small matrices: BLAS threads only wait for cores
        self.retargeter = Retargeter(load_robot_map(robot, urdf or None), options)
        self.joint_names = list(self.retargeter.joint_names)
        self.get_logger().info(
            f"retargeting to {self.retargeter.map.name} ({self.retargeter.map.urdf}): {len(self.joint_names)} joints"
        )

        self.pub_joints = self.create_publisher(JointState, interface.ROBOT_JOINT_STATES, reliable_qos())
        self.pub_root = self.create_publisher(PoseStamped, interface.ROBOT_ROOT_POSE, reliable_qos())
        self.pub_diagnostics = self.create_publisher(DiagnosticArray, interface.DIAGNOSTICS, reliable_qos())
        depth = declare(self, "qos_depth", 10, "queue depth of the input subscription")
        if source == interface.SMPL_POSE:
            if SmplPose is None:
                raise ValueError("input: smpl_pose needs the ego4o_ros messages (colcon build); use joint_poses")
            self.create_subscription(SmplPose, interface.SMPL_POSE, self._on_smpl_pose, reliable_qos(depth))
        elif source == interface.JOINT_POSES:
            self.create_subscription(PoseArray, interface.JOINT_POSES, self._on_joint_poses, reliable_qos(depth))
        else:
            raise ValueError(f"input must be 'joint_poses' or 'smpl_pose', not {source!r}")
        self._setup_handoff(options.fps)
        self._setup_sonic()
        self.create_service(SetBool, interface.HOLD_SERVICE, self._on_hold)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(
            declare(self, "diagnostics_period", 1.0, "s between /diagnostics messages"), self._publish_diagnostics
        )
        self.published = self.not_converged = self.rejected = 0
        self.solve_times_ms: collections.deque = collections.deque(maxlen=300)

    def _setup_handoff(self, fps: float) -> None:
        scale = declare(
            self, "handoff_velocity_scale", 0.1, "after a hold or an outage: joints at this x URDF speed", min=1e-3
        )
        linear = declare(self, "handoff_linear_speed", 0.5, "m/s: root (and SONIC joints) after a hold", min=1e-3)
        angular = declare(self, "handoff_angular_speed", 1.0, "rad/s: root and SONIC rotations after a hold", min=1e-3)
        timeout = declare(
            self, "input_timeout", 0.5, "s without input poses = an outage: blend back in", min=0.05, max=0.5
        )
        self.input_timeout = timeout
        blocks = robot_blocks(self.retargeter.robot, scale, linear, angular)
        self.handoff = HandOff(blocks, timeout, max_step_s=1.5 / fps)
        self.sonic_handoff = HandOff(sonic_protocol.handoff_blocks(linear, angular), timeout, 1.5 / fps)
        self.live = HandedOffRetarget(self.retargeter, self.handoff, sonic_handoff=self.sonic_handoff)
        self.live.hold(declare(self, "hold", False, "freeze the robot's targets (also the ~/hold service)"))

    def _setup_sonic(self) -> None:
        self.sonic = self.socket = None
        enabled = declare(self, "sonic", False, "also stream the body in SONIC's ZMQ protocol")
        version = declare(self, "sonic_protocol", 3, "SONIC protocol: 2 (SMPL) or 3 (SMPL + G1 joints)", choices=(2, 3))
        address = declare(self, "sonic_address", "127.0.0.1", "address the PUB socket binds ('*': every interface)")
        port = declare(
            self, "sonic_port", interface.SONIC_ZMQ_PORT, "TCP port of the PUB socket (0: any free)", min=0, max=65535
        )
        topic = declare(self, "sonic_topic", sonic_protocol.DEFAULT_TOPIC, "ZMQ topic (SONIC's --zmq-topic)")
        rate = declare(self, "sonic_rate", sonic_protocol.SONIC_RATE_HZ, "Hz of the streamed frames", min=1.0)
        if not enabled:
            return
        import zmq

        self.sonic = sonic_protocol.SonicStream(version, rate, topic, max_gap_s=self.input_timeout)
        self.live.sonic = self.sonic
        self.live.isaaclab = sonic_protocol.isaaclab_order(self.joint_names) if version == 3 else None
        self.socket = zmq.Context.instance().socket(zmq.PUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        endpoint = f"tcp://{address}:{port}" if port else f"tcp://{address}:*"
        try:
            self.socket.bind(endpoint)
        except zmq.ZMQError as error:
            self.socket.close(0)
            raise RuntimeError(f"SONIC stream: cannot bind {endpoint}: {error} (sonic_address, sonic_port)") from None
        self._zmq_noblock = zmq.NOBLOCK
        self.sonic_endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.get_logger().info(
            f"SONIC stream: protocol v{version}, topic '{topic}', {rate:g} Hz, bound to {self.sonic_endpoint}"
        )

    def _on_hold(self, request, response):
        self.set_parameters([Parameter("hold", Parameter.Type.BOOL, bool(request.data))])
        response.success = True
        response.message = (
            "held: the robot's targets are frozen"
            if request.data
            else "released: blending to the live pose at bounded joint speed"
        )
        return response

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "enabled":
                self.enabled = bool(parameter.value)
                self.retargeter.reset()  # resume from the next pose, not from a stale one
            elif parameter.name == "hold":
                self.live.hold(bool(parameter.value))
            elif parameter.name.startswith(("sonic", "handoff")) or parameter.name == "input_timeout":
                return SetParametersResult(successful=False, reason=f"{parameter.name} is read at start only")
        return SetParametersResult(successful=True)

    def destroy_node(self):
        if self.socket is not None:
            self.socket.close(0)
            self.socket = None
        return super().destroy_node()

    # -- inputs ------------------------------------------------------------------------
    def _on_joint_poses(self, msg: PoseArray) -> None:
        orientations = np.array(
            [(p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w) for p in msg.poses]
        ).reshape(-1, 4)
        self._retarget(msg.header, positions_of(msg), orientations)

    def _on_smpl_pose(self, msg) -> None:
        positions = np.array([(p.x, p.y, p.z) for p in msg.joint_positions]).reshape(-1, 3)
        self._retarget(msg.header, positions, None)

    def _retarget(self, header: Header, positions_ros: np.ndarray, orientations_xyzw) -> None:
        if not self.enabled:
            return
        if len(positions_ros) != body.NUM_JOINTS or not np.isfinite(positions_ros).all():
            self.rejected += 1
            return
        joints, rotations = from_ros(positions_ros, orientations_xyzw)
        frame, sent = self.live.step(joints, rotations, to_seconds(header.stamp))
        self.solve_times_ms.append(frame.solve_time_s * 1000)
        self.not_converged += not frame.converged
        self.pub_joints.publish(
            JointState(header=Header(stamp=header.stamp), name=self.joint_names, position=sent.joint_positions.tolist())
        )
        root = PoseStamped(header=Header(stamp=header.stamp, frame_id=self.frame_id))
        root.pose.position.x, root.pose.position.y, root.pose.position.z = map(float, sent.root_position)
        o = root.pose.orientation
        o.x, o.y, o.z, o.w = map(float, sent.root_xyzw)
        self.pub_root.publish(root)
        self.published += 1
        if sent.sonic_message is not None:
            self.socket.send(sent.sonic_message, self._zmq_noblock)  # PUB drops, never blocks, at its high-water mark

    # -- diagnostics -------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        times = np.array(self.solve_times_ms) if self.solve_times_ms else np.array([np.nan])
        values = {
            "robot": self.retargeter.map.name,
            "enabled": str(self.enabled),
            "hand_off": self.handoff.state,
            "hand_off_blends": str(self.handoff.blends),
            "frames_published": str(self.published),
            "not_converged": str(self.not_converged),
            "rejected_inputs": str(self.rejected),
            "solve_p50_ms": f"{np.percentile(times, 50):.2f}",
            "solve_p99_ms": f"{np.percentile(times, 99):.2f}",
        }
        if self.sonic is not None:
            values.update(
                sonic_endpoint=self.sonic_endpoint,
                sonic_protocol=str(self.sonic.version),
                sonic_messages=str(self.sonic.messages),
                sonic_frames=str(self.sonic.next_index),
            )
        level = DiagnosticStatus.OK if self.enabled else DiagnosticStatus.STALE
        status = DiagnosticStatus(
            level=level,
            name="ego4o retarget",
            hardware_id=self.get_name(),
            message="retargeting" if self.enabled else "disabled",
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        self.pub_diagnostics.publish(
            DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[status])
        )


def main(args=None) -> int:
    rclpy.init(args=args)
    return spin_until_shutdown(RetargetNode())


if __name__ == "__main__":
    sys.exit(main())
