"""`ros2 launch ego4o_ros capture.launch.py [replay:=false] [bridge:=imuposer] [record:=false] [robot:=g1]`.

Also `foxglove:=true`; `sonic:=3` (or 2) streams the body to SONIC over ZMQ (an option of the
retarget node); `bridge:=imuposer|sensor_logger` takes your own devices (config/devices.yaml)
instead of the replay; `mqtt_broker:=ws://host:8000/mqtt` with `bridge:=sensor_logger`: the
app publishes over MQTT to that broker instead of its HTTP push.

The nodes come from ego4o_ros/graph/description.py (the same description `ego4o-capture` runs
where `launch` is missing); parameters from config/capture.yaml.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from ego4o_ros.graph.description import bridge_overrides, capture_graph, retarget_overrides
from ego4o_ros.paths import PACKAGE, share_file
from launch import LaunchDescription


def _nodes(context):
    replay = LaunchConfiguration("replay").perform(context).lower() == "true"
    record = LaunchConfiguration("record").perform(context).lower() == "true"
    foxglove = LaunchConfiguration("foxglove").perform(context).lower() == "true"
    robot = LaunchConfiguration("robot").perform(context) or None
    bridge = LaunchConfiguration("bridge").perform(context) or None
    mqtt_broker = LaunchConfiguration("mqtt_broker").perform(context) or None
    sonic = int(LaunchConfiguration("sonic").perform(context) or 0) or None
    params = LaunchConfiguration("params").perform(context) or str(share_file("config", "capture.yaml"))
    overrides = retarget_overrides(robot, sonic)
    for name, values in bridge_overrides(bridge, mqtt_broker).items():
        overrides[name] = {**overrides.get(name, {}), **values}
    return [
        Node(
            package=PACKAGE,
            executable=spec.executable,
            name=spec.name,
            parameters=[params] + ([overrides[spec.name]] if spec.name in overrides else []),
            remappings=list(spec.remappings),
            output="screen",
        )
        for spec in capture_graph(
            replay=replay, record=record, foxglove=foxglove, robot=robot, bridge=bridge, sonic=sonic
        )
    ]


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("replay", default_value="true", description="replay the bundled clip as wearables"),
            DeclareLaunchArgument(
                "bridge",
                default_value="",
                description="real devices instead of the replay: imuposer or sensor_logger (config/devices.yaml)",
            ),
            DeclareLaunchArgument(
                "mqtt_broker",
                default_value="",
                description="with bridge:=sensor_logger: the MQTT broker the app publishes to "
                "(ws://host:8000/mqtt, mqtt://host:1883) instead of HTTP push",
            ),
            DeclareLaunchArgument("record", default_value="true", description="record a bag"),
            DeclareLaunchArgument(
                "foxglove",
                default_value="false",
                description="serve a Foxglove WebSocket on 127.0.0.1 (foxglove_view.port)",
            ),
            DeclareLaunchArgument(
                "robot", default_value="", description="retarget to this robot (g1: Unitree G1; '' = no retargeting)"
            ),
            DeclareLaunchArgument(
                "sonic",
                default_value="",
                description="stream the body to SONIC over ZMQ on 127.0.0.1:5556: protocol 2 or 3 ('' = off)",
            ),
            DeclareLaunchArgument("params", default_value="", description="parameter file ('' = config/capture.yaml)"),
            OpaqueFunction(function=_nodes),
        ]
    )
