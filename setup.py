"""ego4o_ros for pip (ROS 2 from PyPI wheels): `pip install .` / `pip install -e .`.

colcon on a full ROS 2 install builds with CMakeLists.txt instead (package.xml: ament_cmake),
which also generates the messages in msg/; in the pip install `make` builds them with the same
CMakeLists.txt into the venv (cmake/build_messages.sh). Both paths install the same share
files and the same `lib/ego4o_ros` executables (test/test_packaging.py checks this).
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ego4o_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    # data/robots: the Unitree G1 URDF (BSD-3-Clause, with its LICENSE) that config/robots/g1.yaml uses;
    # core/egocentric/shaders: the renderer's GLSL, read with importlib.resources.
    package_data={PACKAGE: ["data/sample/*", "weights/*", "data/robots/*/*", "core/egocentric/shaders/*.glsl"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/config/robots", glob("config/robots/*.yaml")),   # retargeting maps
        (f"share/{PACKAGE}/msg", glob("msg/*.msg")),
        (f"share/{PACKAGE}/urdf", glob("urdf/*.urdf")),
        # `ros2 run ego4o_ros <name>` where a ros2 CLI sees this prefix (CMakeLists.txt installs the same).
        (f"lib/{PACKAGE}", sorted(glob("scripts/*"))),
    ],
    install_requires=["numpy", "scipy", "matplotlib", "pillow", "tqdm", "pyyaml", "torch", "safetensors",
                      "onnx", "onnxscript", "onnxruntime", "sentence-transformers", "open_clip_torch", "imageio",
                      "imageio-ffmpeg", "rosbags", "foxglove-sdk", "pin", "threadpoolctl",
                      "transformers", "peft", "gguf", "moderngl"],
    zip_safe=True,
    description="Ego4o wearable motion capture and understanding for ROS 2",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "ego4o-demo = ego4o_ros.tools.demo:main",
            "ego4o-build-dataset = ego4o_ros.tools.build_dataset:main",
            "ego4o-render = ego4o_ros.tools.render_clip:main",
            "ego4o-train = ego4o_ros.tools.train:main",
            "ego4o-train-benchmark = ego4o_ros.tools.train_benchmark:main",
            "ego4o-evaluate = ego4o_ros.tools.evaluate:main",
            "ego4o-caption-eval = ego4o_ros.tools.caption_eval:main",
            "ego4o-calibrate-feedback = ego4o_ros.tools.calibrate_feedback:main",
            "ego4o-benchmark = ego4o_ros.tools.benchmark:main",
            "ego4o-capture = ego4o_ros.tools.capture:main",
            "ego4o-graph-benchmark = ego4o_ros.tools.graph_benchmark:main",
            "ego4o-fault-benchmark = ego4o_ros.tools.fault_benchmark:main",
            "ego4o-render-benchmark = ego4o_ros.tools.render_benchmark:main",
            "ego4o-analyze = ego4o_ros.tools.analyze:main",
            "ego4o-analyze-benchmark = ego4o_ros.tools.analyze_benchmark:main",
            "ego4o-retarget-benchmark = ego4o_ros.tools.retarget_benchmark:main",
            "ego4o-device-benchmark = ego4o_ros.tools.device_benchmark:main",
            "fusion_node = ego4o_ros.nodes.fusion_node:main",
            "captioning_node = ego4o_ros.nodes.captioning_node:main",
            "wearable_replay_node = ego4o_ros.nodes.wearable_replay_node:main",
            "wearable_bridge_node = ego4o_ros.nodes.wearable_bridge_node:main",
            "recorder_node = ego4o_ros.nodes.recorder_node:main",
            "foxglove_view_node = ego4o_ros.nodes.foxglove_node:main",
            "retarget_node = ego4o_ros.nodes.retarget_node:main",
            "ego4o-fusion-node = ego4o_ros.nodes.fusion_node:main",
            "ego4o-captioning-node = ego4o_ros.nodes.captioning_node:main",
            "ego4o-wearable-replay = ego4o_ros.nodes.wearable_replay_node:main",
            "ego4o-wearable-bridge = ego4o_ros.nodes.wearable_bridge_node:main",
            "ego4o-recorder = ego4o_ros.nodes.recorder_node:main",
            "ego4o-foxglove-view = ego4o_ros.nodes.foxglove_node:main",
            "ego4o-retarget-node = ego4o_ros.nodes.retarget_node:main",
        ],
    },
)
