"""The capture graph, described once: read by ``launch/capture.launch.py`` (full ROS
installs) and by ``ego4o-capture`` (which starts the same nodes where ``launch`` is
missing, e.g. ROS from PyPI wheels). Parameters live in ``config/capture.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeSpec:
    name: str  # node name (= its section in config/capture.yaml)
    executable: str  # `ros2 run ego4o_ros <executable>`
    module: str  # Python module holding the node class and main()
    node_class: str
    own_process: bool = False  # the in-process runner still starts it apart
    remappings: tuple[tuple[str, str], ...] = ()


BRIDGE_PROFILES = ("imuposer", "sensor_logger")  # the profiles of config/devices.yaml


def capture_graph(
    replay: bool = True,
    record: bool = True,
    foxglove: bool = False,
    robot: str | None = None,
    bridge: str | None = None,
    sonic: int | None = None,
) -> list[NodeSpec]:
    """``robot``: a robot map (``g1``, config/robots/) adds the ``retarget`` node (its
    ``robot`` parameter must then name that map; see ``retarget_overrides``). ``sonic``: a
    SONIC protocol version (2, 3) adds it too, streaming to SONIC over ZMQ (an option of the
    retarget node, which holds the hand-off and, for v3, the G1's joints). ``bridge``:
    a profile of config/devices.yaml (``imuposer``, ``sensor_logger``) puts the
    ``wearable_bridge`` (real devices) in the replay's place; its ``profile`` parameter
    must then name it (``bridge_overrides``)."""
    nodes = [
        NodeSpec("fusion", "fusion_node", "ego4o_ros.nodes.fusion_node", "FusionNode"),
        # Its own process: a slow captioner must never stall capture.
        NodeSpec(
            "captioning", "captioning_node", "ego4o_ros.nodes.captioning_node", "CaptioningNode", own_process=True
        ),
    ]
    if bridge:
        nodes.insert(
            0,
            NodeSpec(
                "wearable_bridge", "wearable_bridge_node", "ego4o_ros.nodes.wearable_bridge_node", "WearableBridgeNode"
            ),
        )
    elif replay:
        nodes.insert(
            0,
            NodeSpec(
                "wearable_replay", "wearable_replay_node", "ego4o_ros.nodes.wearable_replay_node", "WearableReplayNode"
            ),
        )
    if record:
        nodes.append(NodeSpec("recorder", "recorder_node", "ego4o_ros.nodes.recorder_node", "RecorderNode"))
    if foxglove:  # off by default: it opens a (localhost) WebSocket
        nodes.append(
            NodeSpec(
                "foxglove_view",
                "foxglove_view_node",
                "ego4o_ros.nodes.foxglove_node",
                "FoxgloveViewNode",
                own_process=True,
            )
        )
    if robot or sonic:  # off by default; its own process: retargeting must never stall capture
        nodes.append(
            NodeSpec("retarget", "retarget_node", "ego4o_ros.nodes.retarget_node", "RetargetNode", own_process=True)
        )
    return nodes


def bridge_overrides(bridge: str | None, mqtt_broker: str | None = None) -> dict:
    """Parameter overrides for a graph with the ``wearable_bridge`` (empty without one): its
    profile (and Sensor Logger's MQTT broker, where it publishes there instead of HTTP), and
    for Sensor Logger's batches (they arrive every 0.1-0.2 s) a fusion node that waits longer
    before it takes a sensor as absent."""
    if not bridge:
        if mqtt_broker:
            raise ValueError("an MQTT broker is for the wearable bridge: name the bridge (sensor_logger)")
        return {}
    overrides = {"wearable_bridge": {"profile": bridge, **({"mqtt_broker": mqtt_broker} if mqtt_broker else {})}}
    if bridge == "sensor_logger":
        overrides["fusion"] = {"max_sensor_age": 0.35}
    return overrides


def retarget_overrides(robot: str | None, sonic: int | None = None) -> dict:
    """Parameter overrides that point the ``retarget`` node at ``robot`` (the G1 when only
    ``sonic`` is given) and turn on its SONIC stream with protocol ``sonic`` (2 or 3);
    empty without either."""
    if not robot and not sonic:
        return {}
    values: dict = {"robot": robot or "g1"}
    if sonic:
        if int(sonic) not in (2, 3):
            raise ValueError(f"SONIC protocol must be 2 or 3, not {sonic!r}")
        values.update(sonic=True, sonic_protocol=int(sonic))
    return {"retarget": values}
