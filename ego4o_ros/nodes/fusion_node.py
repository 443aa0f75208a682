"""Fusion node: wearable IMUs (+ camera, + descriptions) -> body pose, online.

Subscribes ``imu/<site>`` (``sensor_msgs/Imu``, any subset of the five sites, each
with its own convention), ``camera/image_raw`` (+ ``/compressed``) and ``text_input``
(``std_msgs/String``: the captioning node's descriptions it is sure of, the loop; or any
other source of a description). Publishes, stamped with the time of the
pose they describe: ``joint_states``, ``joint_poses``, ``smpl_pose`` (when the
message package is built), ``skeleton_markers`` and ``/diagnostics``. Services
(``std_srvs/Trigger``): ``~/calibrate`` (guided: stand still in the T-pose, optionally walk;
also ``calibrate_at_start``), ``~/calibrate_tpose`` (at once) and ``~/reset_heading``.
All computing happens in ``ego4o_ros.live``; this node converts messages.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, Imu, JointState
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from .. import interface
from ..core import imu, joint_angles
from ..live import images
from ..live.calibration import CalibrationConfig
from ..live.capture import LiveCaptureConfig
from ..live.fusion import load_fusion
from ..live.text import TextGate
from .common import (
    ParameterError,
    SmplPose,
    declare,
    declare_imu_site,
    diagnostic_array,
    pose_array,
    reliable_qos,
    run_node,
    sensor_qos,
    skeleton_markers,
    smpl_pose,
    to_seconds,
    to_stamp,
    warn_unknown_parameters,
)


class FusionNode(Node):
    def __init__(self, **kwargs):
        super().__init__("fusion", **kwargs)
        sites = declare(
            self, "imu_sites", list(imu.IMU_SITES), "body sites to subscribe (any subset of the five)", nonempty=True
        )
        unknown = [site for site in sites if site not in imu.IMU_SITES]
        if unknown:
            raise ParameterError(f"fusion: parameter imu_sites: unknown site {unknown[0]!r}; sites are {imu.IMU_SITES}")
        topics, conventions = {}, {}
        for site in sites:
            topics[site], conventions[site] = declare_imu_site(self, site)
        weights = declare(self, "weights_dir", "", "folder with the models ('' = bundled defaults)")
        if weights and not Path(weights).is_dir():
            raise ParameterError(f"fusion: parameter weights_dir = {weights!r}: no such folder")
        lookahead = declare(
            self, "lookahead_frames", 2, "frames of look-ahead (0 = causal); adds lookahead/rate latency", min=0, max=30
        )
        backend = declare(self, "backend", "onnxruntime", "model runtime", choices=("onnxruntime", "torch"))
        threads = declare(self, "threads", 1, "CPU threads for the model (wearables share the machine)", min=1, max=64)
        config = LiveCaptureConfig(
            max_sensor_age_s=declare(
                self, "max_sensor_age", 0.15, "s; a sensor with older newest sample is absent", min=0.02, max=5.0
            ),
            text_max_age_s=declare(
                self, "text_max_age", 20.0, "s; a description older than this is no longer used", min=0.0, max=3600.0
            ),
            image_max_age_s=declare(
                self, "image_max_age", 0.15, "s; a camera frame older than this is not used", min=0.01, max=60.0
            ),
            latency_history=declare(
                self, "latency_history", 600, "frames the latency percentiles of /diagnostics cover", min=1, max=100000
            ),
        )
        self.frame_id = declare(
            self, "frame_id", "world", "frame of joint_poses, markers and smpl_pose (REP-103)", nonempty=True
        )
        use_text = declare(self, "use_text", True, "feed descriptions back as the model's text input")
        use_image = declare(self, "use_image", True, "encode camera frames when the capture model takes images")
        depth = declare(
            self, "sensor_qos_depth", 200, "queue depth of the best-effort sensor subscriptions", min=1, max=100000
        )
        gate = TextGate(
            max_chars=declare(self, "text_max_chars", 500, "longer descriptions are refused", min=1, max=100000),
            min_interval_s=declare(
                self, "text_min_interval", 0.5, "s; rate limit of descriptions", min=0.0, max=3600.0
            ),
        )
        calibration = CalibrationConfig(
            still_s=declare(self, "calibration_still", 3.0, "s to stand still in the T-pose", min=0.5, max=30.0),
            walk=declare(self, "calibration_walk", False, "then walk a few steps forward: each device's heading"),
            walk_s=declare(self, "calibration_walk_time", 3.0, "s of walking used", min=1.0, max=30.0),
            timeout_s=declare(self, "calibration_timeout", 20.0, "s per step before giving up", min=1.0, max=600.0),
        )
        calibrate_at_start = declare(self, "calibrate_at_start", False, "run the guided calibration (~/calibrate)")
        feet = declare(self, "grounded_feet", True, "contact-aware output: feet locked in contact, on the floor")
        diagnostics_period = declare(self, "diagnostics_period", 1.0, "s between /diagnostics", min=0.05, max=60.0)
        warn_unknown_parameters(self)

        torch.set_num_threads(threads)
        # The camera and text encoders run in threads of this process: a frame that is due
        # waits for the interpreter at most 1 ms (Python's default: 5 ms per hand-over).
        # Process-wide, as the node has its process to itself.
        sys.setswitchinterval(0.001)
        self.fusion = load_fusion(weights, lookahead, conventions, config, backend, threads, use_text, use_image, gate)
        self.capture = self.fusion.capture
        if not feet:
            self.fusion.feet = None
        self.lookahead_s = lookahead / self.capture.fps
        self.calibration_config = calibration
        if calibrate_at_start:
            self.get_logger().info(self.fusion.start_calibration(calibration))

        self.pub_joint_states = self.create_publisher(JointState, interface.JOINT_STATES, reliable_qos())
        self.pub_poses = self.create_publisher(PoseArray, interface.JOINT_POSES, reliable_qos())
        self.pub_markers = self.create_publisher(MarkerArray, interface.SKELETON_MARKERS, reliable_qos())
        self.pub_diagnostics = self.create_publisher(DiagnosticArray, interface.DIAGNOSTICS, reliable_qos())
        self.pub_smpl = self.create_publisher(SmplPose, interface.SMPL_POSE, reliable_qos()) if SmplPose else None
        if SmplPose is None:
            self.get_logger().warning("ego4o_ros/msg/SmplPose is not built in this install: smpl_pose is not published")
        for site, topic in topics.items():
            self.create_subscription(Imu, topic, functools.partial(self._on_imu, site), sensor_qos(depth))
        self.create_subscription(Image, interface.CAMERA_IMAGE, self._on_image, sensor_qos(5))
        self.create_subscription(CompressedImage, interface.CAMERA_COMPRESSED, self._on_compressed, sensor_qos(5))
        self.create_subscription(String, interface.TEXT_INPUT, self._on_description, reliable_qos())
        self.create_service(Trigger, "~/calibrate", self._on_guided_calibration)
        self.create_service(Trigger, "~/calibrate_tpose", self._on_calibrate)
        self.create_service(Trigger, "~/reset_heading", self._on_reset_heading)
        # The timer lets silent sensors expire; data arrival drives output otherwise.
        self.create_timer(1.0 / self.capture.fps, self._on_timer)
        self.create_timer(diagnostics_period, self._publish_diagnostics)
        self._warned: set[str] = set()

    # -- inputs ------------------------------------------------------------------------
    def _on_imu(self, site: str, msg: Imu) -> None:
        q, acc = msg.orientation, msg.linear_acceleration
        warnings = self.fusion.push_imu(
            site,
            to_seconds(msg.header.stamp),
            (acc.x, acc.y, acc.z),
            (q.x, q.y, q.z, q.w),
            msg.header.frame_id,
            now=self._clock_started(),
            has_orientation=msg.orientation_covariance[0] != -1.0,  # -1: "not provided"
            has_acceleration=msg.linear_acceleration_covariance[0] != -1.0,
        )
        for key, message in warnings:
            self._warn_once(key, message)
        self._publish(self.capture.advance())

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.get_logger().warn(message)

    def _on_timer(self) -> None:
        frames_out, calibration_lines = self.fusion.advance(self._clock_started())
        for line in calibration_lines:
            self.get_logger().info(line)
        self._publish(frames_out)

    def _on_image(self, msg: Image) -> None:
        reason = images.check_raw(msg.encoding, msg.height, msg.width, msg.step, len(msg.data))
        decode = functools.partial(images.decode_raw, msg.encoding, msg.height, msg.width, msg.step, msg.data)
        self.fusion.camera.offer(to_seconds(msg.header.stamp), reason, decode, self._clock_started(), self._now())

    def _on_compressed(self, msg: CompressedImage) -> None:
        reason = images.check_compressed(msg.format, msg.data)
        decode = functools.partial(images.decode_compressed, msg.data)
        self.fusion.camera.offer(to_seconds(msg.header.stamp), reason, decode, self._clock_started(), self._now())

    def _on_description(self, msg: String) -> None:
        # Junk, too long or too frequent: refused and counted; the model runs as without it.
        self.fusion.offer_text(msg.data, time.monotonic(), self._now())

    def destroy_node(self):
        self.fusion.close()
        return super().destroy_node()

    def _on_guided_calibration(self, _request, response):
        # Returns at once: the person follows the instructions in the log and /diagnostics.
        response.success, response.message = True, self.fusion.start_calibration(self.calibration_config)
        self.get_logger().info(response.message)
        return response

    def _on_calibrate(self, _request, response):
        calibrated = self.capture.calibrate_tpose()
        response.success = bool(calibrated)
        response.message = (
            f"T-pose calibration of {', '.join(calibrated)}" if calibrated else "no IMU data yet: nothing calibrated"
        )
        return response

    def _on_reset_heading(self, _request, response):
        yaw = self.capture.reset_heading()
        response.success, response.message = True, f"heading turned by {np.degrees(yaw):.1f} deg"
        return response

    # -- outputs -----------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _clock_started(self) -> float | None:
        """Now, or None while sim time has not started (no /clock yet: the clock reads 0)."""
        now = self._now()
        return now if now > 0 else None

    def _publish(self, frames_out) -> None:
        for frame in frames_out:
            try:
                pose = joint_angles.ros_body_pose(frame.joints)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError) as error:
                self.fusion.publish_errors += 1  # never take the node down for one frame
                self._warn_once("publish", f"a frame could not be turned into joint angles: {error}")
                continue
            header = Header(stamp=to_stamp(frame.stamp), frame_id=self.frame_id)
            # What a robot follows first (the retarget node reads smpl_pose, else joint_poses;
            # each publish costs ~0.5-1 ms), the pictures last.
            if self.pub_smpl is not None:
                self.pub_smpl.publish(smpl_pose(header, frame, pose))
            self.pub_poses.publish(pose_array(header, pose.positions, pose.orientations_xyzw))
            self.pub_joint_states.publish(
                JointState(header=header, name=list(joint_angles.DOF_NAMES), position=pose.dofs.tolist())
            )
            self.pub_markers.publish(skeleton_markers(header, pose.positions))
            self.fusion.frame_published(self._now(), frame)

    def _publish_diagnostics(self) -> None:
        now = self._now()
        statuses = self.fusion.statuses(self._clock_started(), now)
        header = Header(stamp=to_stamp(now), frame_id=self.frame_id)
        self.pub_diagnostics.publish(diagnostic_array(header, statuses, self.get_name()))


def main(args=None) -> int:
    return run_node(FusionNode, args)


if __name__ == "__main__":
    sys.exit(main())
