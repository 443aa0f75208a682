"""The graph's interface, in one place (ROS-free): topic names, the default worn sites, and
how the skeleton is drawn. Nodes, the graph runner and benchmarks, the analysis (which
writes bags laid out as the live graph publishes) and the tools import these names, so a
topic is renamed here or nowhere.

Names are relative: they resolve in a node's namespace and can be remapped.
"""

from __future__ import annotations

from .core import body

# Inputs
IMU_PREFIX = "imu/"  # sensor_msgs/Imu per worn site: imu/<site> (core/imu.py SITES)
CAMERA_IMAGE = "camera/image_raw"  # sensor_msgs/Image, the head camera
CAMERA_COMPRESSED = "camera/image_raw/compressed"  # sensor_msgs/CompressedImage, the same camera
TEXT_INPUT = "text_input"  # std_msgs/String: descriptions the fusion node uses as its text input

# Outputs of the fusion node
JOINT_STATES = "joint_states"  # sensor_msgs/JointState: the body's joint angles (urdf/)
JOINT_POSES = "joint_poses"  # geometry_msgs/PoseArray: 22 SMPL joints, world frame
SMPL_POSE = "smpl_pose"  # ego4o_ros/SmplPose (msg/)
SKELETON_MARKERS = "skeleton_markers"  # visualization_msgs/MarkerArray

# Outputs of the captioning node
DESCRIPTION = "description"  # std_msgs/String: every description
DESCRIPTION_STAMPED = "description_stamped"  # ego4o_ros/MotionDescription (msg/)

# Replay and robot
GROUND_TRUTH_POSES = "ground_truth/" + JOINT_POSES  # the replayed clip's own joints
ROBOT_JOINT_STATES = "robot/joint_states"  # the retarget node's joint targets
ROBOT_ROOT_POSE = "robot/root_pose"
HOLD_SERVICE = "~/hold"  # std_srvs/SetBool on the retarget node: true = hold the robot, false = release
# SONIC's stream (retarget node, sonic: true): ZMQ PUB, not ROS; SONIC's defaults (--zmq-topic, --zmq-port)
SONIC_ZMQ_TOPIC = "pose"
SONIC_ZMQ_PORT = 5556
DIAGNOSTICS = "/diagnostics"

# The default wearables: a watch on the left wrist, a phone in the right pocket, earbuds.
DEFAULT_SITES = ("left_wrist", "right_pocket", "head")


def imu_topic(site: str) -> str:
    return IMU_PREFIX + site


# The skeleton marker: bones as a line list (parent, child) and joints as spheres.
BONES = tuple((int(body.PARENTS[j]), j) for j in range(1, body.NUM_JOINTS))
BONE_POINTS = tuple(i for bone in BONES for i in bone)  # the line list's point order
MARKER_NAMESPACE = "skeleton"
BONE_COLOR_RGBA = (0.2, 0.6, 1.0, 1.0)
BONE_WIDTH_M = 0.03
JOINT_COLOR_RGBA = (1.0, 0.5, 0.1, 1.0)
JOINT_DIAMETER_M = 0.05
MARKER_LIFETIME_NS = 500_000_000
