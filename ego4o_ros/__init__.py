"""ego4o_ros: wearable motion capture and understanding for ROS 2.

The package's own messages (``ego4o_ros.msg``: SmplPose, MotionDescription) are generated from
msg/. A colcon install puts them inside this package. A pip install into a venv (``make``, which
runs cmake/build_messages.sh) puts them in ``<venv>/lib/ego4o_ros_messages/ego4o_ros``, off
sys.path so that an editable install keeps importing the source checkout: that folder is added to
this package's ``__path__`` here (nothing else is imported).
"""

import os as _os
import sys as _sys

_messages = _os.path.join(_sys.prefix, "lib", "ego4o_ros_messages", __name__)
if not _os.path.isdir(_os.path.join(__path__[0], "msg")) and _os.path.isdir(_messages):
    __path__.append(_messages)
del _messages
