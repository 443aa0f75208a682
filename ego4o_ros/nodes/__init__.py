"""The ROS 2 shell: one thin node per file (message conversion, parameters, timers) that calls
the ROS-free core in ``ego4o_ros.core``. Nothing outside this package imports rclpy."""
