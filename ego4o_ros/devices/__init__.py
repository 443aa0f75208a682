"""Real wearables, ROS-free: the wire formats of the apps people use, parsed into samples.

* ``imuposer``: the IMUPoser / MobilePoser iOS app's UDP text lines (iPhone, Apple Watch
  relayed by the phone, AirPods);
* ``sensor_logger``: Sensor Logger's JSON batches (HTTP push; MQTT carries the same);
* ``mqtt``: the user's MQTT broker, subscribed to where the app publishes (paho-mqtt);
* ``conventions``: each device's units, gravity, axes, quaternion order and world ->
  the ``sensor_msgs/Imu`` standard the fusion node expects by default;
* ``clock``: each device's clock -> the receiver's (a windowed minimum of arrival minus
  device time, re-anchored when the device clock jumps);
* ``config``: ``config/devices.yaml`` (which device is which site, and how it reports);
* ``bridge``: packets in, one standard IMU sample per worn site out, every refused packet
  counted by reason, silent devices reported and never invented;
* ``recordings``: readings -> the packets a device would send (tests, benchmark).

The ROS shell is ``nodes/wearable_bridge_node.py``. Layer: above ``core`` only.
"""

from .bridge import Bridge, BridgeLimits, ImuOutput
from .clock import ClockConfig, ClockMapper
from .config import DeviceConfig, DevicesFileError, Profile, load_profile
from .conventions import DeviceConvention, from_ros, to_ros
from .packets import BRIDGE_REASONS, DEVICE_REASONS, Packet, Refusal

__all__ = [
    "BRIDGE_REASONS",
    "DEVICE_REASONS",
    "Bridge",
    "BridgeLimits",
    "ClockConfig",
    "ClockMapper",
    "DeviceConfig",
    "DeviceConvention",
    "DevicesFileError",
    "ImuOutput",
    "Packet",
    "Profile",
    "Refusal",
    "from_ros",
    "load_profile",
    "to_ros",
]
