"""Live capture, ROS-free: sensor streams, the capture loop, captioning and replay.

The ROS nodes in ``ego4o_ros.nodes`` only convert messages and call these.
"""
