"""Packaging: package.xml, msg/, CMakeLists.txt, scripts/ and the pip wheel agree.

Two install paths: pip with ROS 2 from PyPI wheels (setup.py; `make` then builds the messages
in msg/ into the venv with CMakeLists.txt, cmake/build_messages.sh), and colcon on a full ROS 2
install (CMakeLists.txt, ament_cmake). This file checks them without building: the manifest,
the message definitions (parsed, converted to IDL and turned into Python by the rosidl tools
from the wheels, then merged into our package the way the colcon install merges them), the
CMake rules, the files a pip wheel carries, and that `make` and CI build the messages. The
builds themselves: `make test` runs every test on the venv build, .ci/run also runs `colcon build`
and test/nodes/test_messages.py (+ this file) against that install.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package
from rosidl_adapter.parser import is_valid_message_name, parse_message_file

from ego4o_ros.core.body import JOINT_NAMES as SMPL_JOINTS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "ego4o_ros"

# `ros2 run ego4o_ros <name>` -> module whose main() it runs.
EXECUTABLES = {
    "fusion_node": "ego4o_ros.nodes.fusion_node",
    "captioning_node": "ego4o_ros.nodes.captioning_node",
    "wearable_replay_node": "ego4o_ros.nodes.wearable_replay_node",
    "wearable_bridge_node": "ego4o_ros.nodes.wearable_bridge_node",
    "recorder_node": "ego4o_ros.nodes.recorder_node",
    "foxglove_view_node": "ego4o_ros.nodes.foxglove_node",
    "retarget_node": "ego4o_ros.nodes.retarget_node",
    "capture": "ego4o_ros.tools.capture",
}
# pip console scripts (setup.py) that must exist.
CONSOLE_SCRIPTS = {
    "ego4o-capture": "ego4o_ros.tools.capture:main",
    "ego4o-fusion-node": "ego4o_ros.nodes.fusion_node:main",
    "ego4o-captioning-node": "ego4o_ros.nodes.captioning_node:main",
    "ego4o-wearable-replay": "ego4o_ros.nodes.wearable_replay_node:main",
    "ego4o-wearable-bridge": "ego4o_ros.nodes.wearable_bridge_node:main",
    "ego4o-device-benchmark": "ego4o_ros.tools.device_benchmark:main",
    "ego4o-recorder": "ego4o_ros.nodes.recorder_node:main",
    "ego4o-foxglove-view": "ego4o_ros.nodes.foxglove_node:main",
    "ego4o-graph-benchmark": "ego4o_ros.tools.graph_benchmark:main",
    **{name: f"{module}:main" for name, module in EXECUTABLES.items() if name != "capture"},
}
# Share folders whose every file (README.md aside) must be installed.
SHARE_DIRS = ("launch", "config", "urdf", "msg")
# Files other people add; they must land in the wheel once they exist.
REQUIRED_SHARE_FILES = (
    "launch/capture.launch.py",
    "urdf/ego4o_body.urdf",
    "config/capture.yaml",
    "msg/SmplPose.msg",
    "msg/MotionDescription.msg",
)

# Python modules that are ROS packages although they are not imported as `<pkg>.msg`.
ROS_PYTHON_PACKAGES = {
    "rclpy",
    "ament_index_python",
    "launch",
    "launch_ros",
    "rosidl_runtime_py",
    "rosbag2_py",
    "tf2_ros",
    "message_filters",
    "diagnostic_updater",
    "cv_bridge",
    "sensor_msgs_py",
    "rcl_interfaces",
    "builtin_interfaces",
}
# Third-party Python modules with rosdep keys (pip-only libraries are left to requirements.txt).
ROSDEP_KEYS = {
    "numpy": "python3-numpy",
    "scipy": "python3-scipy",
    "yaml": "python3-yaml",
    "matplotlib": "python3-matplotlib",
    "PIL": "python3-pil",
    "tqdm": "python3-tqdm",
    "zmq": "python3-zmq",
    "paho": "python3-paho-mqtt",
}
INTERFACE_KINDS = {"msg", "srv", "action"}

# (type as written, field name) of each message, in order.
EXPECTED_FIELDS = {
    "SmplPose": [
        ("std_msgs/Header", "header"),
        ("geometry_msgs/Vector3", "global_orient"),
        ("float32[63]", "body_pose"),
        ("geometry_msgs/Vector3", "transl"),
        ("geometry_msgs/Point[22]", "joint_positions"),
        ("string[]", "active_sensors"),
        ("string[]", "part_names"),
        ("float32[]", "part_confidence"),
        ("uint32", "frame_index"),
    ],
    "MotionDescription": [
        ("std_msgs/Header", "header"),
        ("builtin_interfaces/Time", "window_start"),
        ("builtin_interfaces/Time", "window_end"),
        ("string", "text"),
        ("string", "source"),
        ("float32", "confidence"),
        ("bool", "fed_back"),
    ],
}


# --------------------------------------------------------------------------- helpers


def manifest():
    return parse_package(str(ROOT / "package.xml"))


def dependency_names(deps) -> set[str]:
    return {d.name for d in deps}


def msg_files() -> list[Path]:
    return sorted((ROOT / "msg").glob("*.msg"))


def share_files(folder: str) -> list[Path]:
    return sorted(
        p for p in (ROOT / folder).rglob("*") if p.is_file() and p.name != "README.md" and "__pycache__" not in p.parts
    )


def python_sources() -> list[Path]:
    files = [p for p in (ROOT / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts]
    files += sorted((ROOT / "launch").glob("*.py"))
    files += sorted(p for p in (ROOT / "scripts").glob("*") if p.is_file())
    return files


def imported_modules(path: Path) -> set[str]:
    """Absolute imports of a Python file (at any depth: imports inside functions count)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def ros_package_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in INTERFACE_KINDS:
        return parts[0]
    return parts[0] if parts[0] in ROS_PYTHON_PACKAGES else None


def cmake_commands() -> list[tuple[str, list[str]]]:
    """CMakeLists.txt as (command, arguments) in order, comments dropped, ${PROJECT_NAME} and
    list variables from set() expanded. Enough for this file's flat CMake (no nested parens)."""
    text = "\n".join(line.split("#", 1)[0] for line in (ROOT / "CMakeLists.txt").read_text().splitlines())
    variables = {"PROJECT_NAME": [PACKAGE]}
    commands = []
    for name, raw in re.findall(r"([A-Za-z_]\w*)\s*\(([^()]*)\)", text):
        args = []
        for token in shlex.split(raw):
            whole = re.fullmatch(r"\$\{(\w+)\}", token)
            if whole and whole.group(1) in variables:
                args.extend(variables[whole.group(1)])
            else:
                args.append(re.sub(r"\$\{(PROJECT_NAME)\}", PACKAGE, token))
        if name == "set" and args:
            variables[args[0]] = args[1:]
        commands.append((name, args))
    return commands


def cmake_calls(name: str) -> list[list[str]]:
    return [args for command, args in cmake_commands() if command == name]


def keyword_values(args: list[str], keyword: str, keywords: set[str]) -> list[str]:
    """Values after ``keyword`` in a CMake argument list, up to the next keyword."""
    if keyword not in args:
        return []
    out = []
    for token in args[args.index(keyword) + 1 :]:
        if token in keywords:
            break
        out.append(token)
    return out


# --------------------------------------------------------------------------- package.xml


def test_package_xml_is_an_ament_cmake_interface_package():
    pkg = manifest()
    pkg.validate()  # catkin_pkg's own checks (raises InvalidPackage)
    assert pkg.name == PACKAGE
    assert pkg.package_format == 3
    assert pkg.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in {g.name for g in pkg.member_of_groups}
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= dependency_names(pkg.buildtool_depends)
    assert "rosidl_default_runtime" in dependency_names(pkg.exec_depends)
    assert [m.email for m in pkg.maintainers] and pkg.licenses == ["Apache-2.0"]


def test_every_ros_package_the_python_code_imports_is_declared():
    pkg = manifest()
    declared = dependency_names(pkg.exec_depends) | dependency_names(pkg.build_depends)
    needed: dict[str, set[str]] = {}
    for path in python_sources():
        for module in imported_modules(path):
            ros_pkg = ros_package_of(module)
            key = ros_pkg if ros_pkg and ros_pkg != PACKAGE else ROSDEP_KEYS.get(module.split(".")[0])
            if key:
                needed.setdefault(key, set()).add(str(path.relative_to(ROOT)))
    # the scan itself works: these are imported today
    assert {"rclpy", "std_msgs", "sensor_msgs", "python3-numpy"} <= set(needed)
    missing = {name: sorted(files) for name, files in needed.items() if name not in declared}
    assert not missing, f"imported but not in package.xml: {missing}"


def test_python_package_has_no_msg_module_of_its_own():
    # colcon installs the generated ego4o_ros/msg into our ego4o_ros/; one of ours would clash.
    assert not (ROOT / PACKAGE / "msg").exists()
    assert not (ROOT / PACKAGE / "msg.py").exists()


# --------------------------------------------------------------------------- msg/


def test_message_definitions_parse_and_use_declared_packages():
    pkg = manifest()
    build, run = dependency_names(pkg.build_depends), dependency_names(pkg.exec_depends)
    files = msg_files()
    assert {p.stem for p in files} == set(EXPECTED_FIELDS)
    for path in files:
        assert is_valid_message_name(path.stem), path.name
        spec = parse_message_file(PACKAGE, str(path))
        assert [(str(f.type), f.name) for f in spec.fields] == EXPECTED_FIELDS[path.stem], path.name
        for field in spec.fields:
            if field.type.is_primitive_type():
                continue
            owner = field.type.pkg_name
            assert owner in build and owner in run, (
                f"{path.name}: {field.name} uses {owner}, which package.xml must list as <depend>"
            )
            # the type exists in that package (the ROS wheels here carry these packages)
            module = __import__(f"{owner}.msg", fromlist=[field.type.type])
            assert hasattr(module, field.type.type), f"{owner}/msg/{field.type.type}"


def test_smpl_pose_documents_its_frames_units_and_joint_order():
    text = (ROOT / "msg" / "SmplPose.msg").read_text()
    comments = " ".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line).lower()
    for phrase in ("rep-103", "x forward", "y left", "z up", "metres", "rad", "axis-angle", "parent"):
        assert phrase in comments, phrase
    positions = [comments.find(f" {name} ") for name in SMPL_JOINTS]
    assert -1 not in positions, [n for n, p in zip(SMPL_JOINTS, positions) if p < 0]
    assert positions == sorted(positions), "joint order comment is not SMPL's order"


def test_custom_messages_register_with_rosbags():
    # the recorder writes bags of these types from the .msg text (core/bag.py)
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    for path in msg_files():
        name = f"{PACKAGE}/msg/{path.stem}"
        store.register(get_types_from_msg(path.read_text(), name))
        fields = [field for field, _ in store.fielddefs[name][1]]
        assert fields == [f for _, f in EXPECTED_FIELDS[path.stem]]


def test_messages_generate_python_that_merges_into_our_package(tmp_path):
    """.msg -> .idl -> Python with the rosidl tools colcon runs, then imported as
    ``ego4o_ros.msg`` beside our package, as the colcon install lays them out."""
    from rosidl_adapter.msg import convert_msg_to_idl
    from rosidl_generator_py.generate_py_impl import generate_py

    idl_root, out = tmp_path / "idl", tmp_path / "py" / PACKAGE
    out.mkdir(parents=True)
    tuples = []
    for path in msg_files():
        convert_msg_to_idl(ROOT, PACKAGE, path.relative_to(ROOT), idl_root / "msg")
        tuples.append(f"{idl_root}:msg/{path.stem}.idl")
    template_dir = Path(sys.prefix) / "share" / "rosidl_generator_py" / "resource"
    assert template_dir.is_dir(), "rosidl_generator_py templates missing from the wheels"
    args = tmp_path / "args.json"
    args.write_text(
        json.dumps(
            {
                "package_name": PACKAGE,
                "output_dir": str(out),
                "template_dir": str(template_dir),
                "idl_tuples": tuples,
                "target_dependencies": [],
            }
        )
    )
    generate_py(str(args), ["rosidl_typesupport_c"])
    assert (out / "msg" / "_smpl_pose.py").is_file() and (out / "msg" / "_motion_description.py").is_file()

    script = textwrap.dedent(f"""
        import ego4o_ros
        ego4o_ros.__path__[1:] = [{str(out)!r}]   # the merged install: ours + generated msg/ (not a build's)
        import ego4o_ros.graph                     # our modules still import
        from builtin_interfaces.msg import Time
        from geometry_msgs.msg import Point
        from std_msgs.msg import Header
        from ego4o_ros.msg import MotionDescription, SmplPose
        assert ego4o_ros.msg.__file__.startswith({str(out)!r}), ego4o_ros.msg.__file__
        for cls in (SmplPose, MotionDescription):
            module = cls.__module__.split(".")
            print(f"{{module[0]}}/{{module[1]}}/{{cls.__name__}}")
        pose = SmplPose(header=Header(frame_id="world"), body_pose=[0.1] * 63,
                        joint_positions=[Point(x=float(i)) for i in range(22)],
                        active_sensors=["left_wrist", "head"], part_names=["root"], part_confidence=[0.5],
                        frame_index=7)
        pose.global_orient.x, pose.transl.z = 0.2, 0.9
        assert len(pose.body_pose) == 63 and pose.joint_positions[21].x == 21.0
        for bad in ({{"body_pose": [0.0] * 62}}, {{"joint_positions": [Point()] * 21}}, {{"no_such_field": 1}}):
            try:
                SmplPose(**bad)
            except AssertionError:
                pass
            else:
                raise SystemExit(f"SmplPose accepted {{bad}}")
        MotionDescription(header=Header(stamp=Time(sec=3)), window_start=Time(sec=1), window_end=Time(sec=3),
                          text="a person walks forward", source="code_captioner")
    """)
    env = {**os.environ, "ROS_PYTHON_CHECK_FIELDS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["ego4o_ros/msg/SmplPose", "ego4o_ros/msg/MotionDescription"]


# --------------------------------------------------------------------------- CMakeLists.txt


def test_cmakelists_generates_every_message():
    assert cmake_calls("project")[0][0] == PACKAGE
    assert cmake_calls("cmake_minimum_required")
    found = {args[0] for args in cmake_calls("find_package")}
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= found
    (generate,) = cmake_calls("rosidl_generate_interfaces")
    assert generate[0] == PACKAGE
    keywords = {"DEPENDENCIES", "LIBRARY_NAME", "SKIP_INSTALL", "ADD_LINTER_TESTS", "SKIP_GROUP_MEMBERSHIP_CHECK"}
    assert "SKIP_INSTALL" not in generate
    listed = [a for a in generate[1 : generate.index("DEPENDENCIES") if "DEPENDENCIES" in generate else None]]
    assert sorted(listed) == sorted(str(p.relative_to(ROOT)) for p in msg_files())
    dependencies = set(keyword_values(generate, "DEPENDENCIES", keywords))
    used = {
        f.type.pkg_name
        for p in msg_files()
        for f in parse_message_file(PACKAGE, str(p)).fields
        if not f.type.is_primitive_type()
    }
    assert used <= dependencies, used - dependencies
    assert dependencies <= found, "every DEPENDENCIES package needs a find_package()"
    assert dependencies <= dependency_names(manifest().build_depends)
    assert ["rosidl_default_runtime"] in cmake_calls("ament_export_dependencies")
    assert cmake_commands()[-1] == ("ament_package", [])


def test_cmakelists_installs_python_package_beside_generated_code():
    commands = cmake_commands()
    names = [c for c, _ in commands]
    # A second ament_python_install_package(ego4o_ros) next to rosidl_generate_interfaces fails
    # to configure on Humble..Kilted (ros2/rosidl_python#141): install the sources directly.
    assert not [a for c, a in commands if c == "ament_python_install_package" and a[:1] == [PACKAGE]]
    python_install = [
        i
        for i, (c, a) in enumerate(commands)
        if c == "install"
        and a[:2] == ["DIRECTORY", f"{PACKAGE}/"]
        and keyword_values(a, "DESTINATION", {"PATTERN"}) == [f"${{PYTHON_INSTALL_DIR}}/{PACKAGE}"]
    ]
    assert python_install, "install(DIRECTORY ego4o_ros/ DESTINATION ${PYTHON_INSTALL_DIR}/ego4o_ros)"
    assert names.index("rosidl_generate_interfaces") < python_install[0], (
        "our package must be installed after the generated one (our __init__.py wins)"
    )


def test_cmakelists_installs_scripts_and_share_files():
    installs = cmake_calls("install")
    programs = [a for a in installs if a[0] == "PROGRAMS"]
    assert len(programs) == 1 and keyword_values(programs[0], "DESTINATION", set()) == [f"lib/{PACKAGE}"]
    listed = set(programs[0][1 : programs[0].index("DESTINATION")])
    assert listed == {f"scripts/{name}" for name in EXECUTABLES}
    assert listed == {f"scripts/{p.name}" for p in (ROOT / "scripts").iterdir() if p.is_file()}
    directories = {
        a[1].rstrip("/"): keyword_values(a, "DESTINATION", {"FILES_MATCHING", "PATTERN"})
        for a in installs
        if a[0] == "DIRECTORY"
    }
    for folder in ("launch", "config", "urdf"):
        assert directories.get(folder) == [f"share/{PACKAGE}/{folder}"], folder
        patterns = [
            a[a.index("PATTERN") + 1]
            for a in installs
            if a[0] == "DIRECTORY" and a[1].rstrip("/") == folder and "PATTERN" in a
        ]
        for path in share_files(folder):  # every file there matches the install pattern
            assert any(Path(path.name).match(p) for p in patterns), f"{path} not installed by CMakeLists.txt"
    msg_installs = [a for a in installs if a[0] == "FILES" and a[-1] == f"share/{PACKAGE}/msg"]
    assert msg_installs and set(msg_installs[0][1:-2]) == {f"msg/{p.name}" for p in msg_files()}


# --------------------------------------------------------------------------- scripts/


@pytest.mark.parametrize("name", sorted(EXECUTABLES))
def test_launcher_script_calls_the_module_main(name):
    script = ROOT / "scripts" / name
    assert script.read_text().startswith("#!/usr/bin/env python3\n")
    assert script.stat().st_mode & stat.S_IXUSR, f"{script} is not executable"
    module = EXECUTABLES[name]
    tree = ast.parse(script.read_text())
    assert any(
        isinstance(n, ast.ImportFrom) and n.module == module and [a.name for a in n.names] == ["main"]
        for n in ast.walk(tree)
    ), f"{name} must do `from {module} import main`"
    source = ROOT / (module.replace(".", "/") + ".py")
    assert source.is_file(), source
    assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in ast.parse(source.read_text()).body), (
        f"{module} has no main()"
    )


# --------------------------------------------------------------------------- pip wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built from a copy of the checkout (so no build/ or egg-info lands in it)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    skip = {".git", ".venv", "build", "install", "log", "out", "bags", ".pytest_cache", "__pycache__"}
    shutil.copytree(
        ROOT, source, symlinks=True, ignore=lambda _d, names: [n for n in names if n in skip or n.endswith(".egg-info")]
    )
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (path,) = (work / "dist").glob(f"{PACKAGE}-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def wheel_data(wheel: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Data files of the wheel by install path relative to the prefix."""
    out = {}
    for info in wheel.infolist():
        match = re.match(r"[^/]+\.data/data/(.+)", info.filename)
        if match:
            out[match.group(1)] = info
    return out


def test_wheel_installs_share_files_and_ament_marker(wheel):
    data = wheel_data(wheel)
    assert f"share/ament_index/resource_index/packages/{PACKAGE}" in data
    assert f"share/{PACKAGE}/package.xml" in data
    for rel in REQUIRED_SHARE_FILES:
        assert f"share/{PACKAGE}/{rel}" in data, f"{rel} is not in the wheel"
    for folder in SHARE_DIRS:
        for path in share_files(folder):
            rel = f"share/{PACKAGE}/{path.relative_to(ROOT)}"
            assert rel in data, f"{path.relative_to(ROOT)} is not in the wheel"
            assert wheel.read(data[rel]) == path.read_bytes()


def test_wheel_installs_executables_for_ros2_run(wheel):
    data = wheel_data(wheel)
    for name in EXECUTABLES:
        info = data.get(f"lib/{PACKAGE}/{name}")
        assert info is not None, f"lib/{PACKAGE}/{name} is not in the wheel"
        assert (info.external_attr >> 16) & stat.S_IXUSR, f"lib/{PACKAGE}/{name} is not executable"


def test_wheel_metadata_and_console_scripts(wheel):
    names = wheel.namelist()
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    fields = dict(line.split(": ", 1) for line in wheel.read(metadata).decode().splitlines() if ": " in line)
    assert fields["Name"] == PACKAGE and fields["Version"] == manifest().version
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    scripts = dict(re.findall(r"^(\S+)\s*=\s*(\S+)\s*$", text.split("[console_scripts]", 1)[1], re.M))
    for name, target in CONSOLE_SCRIPTS.items():
        assert scripts.get(name) == target, name
    # our Python package without a msg module, with its bundled data
    assert not [n for n in names if n.startswith(f"{PACKAGE}/msg/") or n == f"{PACKAGE}/msg.py"]
    assert f"{PACKAGE}/graph/description.py" in names and f"{PACKAGE}/interface.py" in names
    assert any(n.startswith(f"{PACKAGE}/weights/") for n in names)


def test_renderer_shaders_ship_in_the_wheel_and_the_colcon_install(wheel):
    """core/egocentric reads its GLSL as package data: setup.py's package_data puts it in the
    wheel; CMakeLists.txt's install(DIRECTORY ego4o_ros/) copies it (it filters only caches)."""
    shaders = sorted((ROOT / PACKAGE / "core" / "egocentric" / "shaders").glob("*.glsl"))
    assert len(shaders) >= 8
    for path in shaders:
        name = str(path.relative_to(ROOT))
        assert name in wheel.namelist(), f"{name} is not in the wheel"
        assert wheel.read(name) == path.read_bytes()
    (python_install,) = [a for a in cmake_calls("install") if a[:2] == ["DIRECTORY", f"{PACKAGE}/"]]
    assert "FILES_MATCHING" not in python_install
    excluded = [python_install[i + 1] for i, a in enumerate(python_install) if a == "PATTERN"]
    assert not [p for p in excluded if any(path.match(p) for path in shaders)]


# --------------------------------------------------------------------------- message builds


def test_make_builds_the_messages_and_ci_builds_the_package_with_colcon():
    """`make demo` / `make test` build msg/ into the venv (cmake/build_messages.sh, with the
    include fix the PyPI wheels need); CI runs `make test`, then `colcon build` with that fix."""
    makefile = (ROOT / "Makefile").read_text()
    recipes = dict(re.findall(r"^([\w$()./-]+):([^\n]*)", makefile, re.M))
    for target in ("demo", "test"):
        assert "$(VENV)/.messages" in recipes[target].split(), f"make {target} does not build the messages"
    assert "cmake/build_messages.sh" in makefile.split("$(VENV)/.messages:", 1)[1].split("\n\n", 1)[0]
    script = (ROOT / "cmake" / "build_messages.sh").read_text()
    assert "CMAKE_PROJECT_INCLUDE" in script and "cmake/pypi_ros_wheels.cmake" in script
    assert (ROOT / "cmake" / "build_messages.sh").stat().st_mode & stat.S_IXUSR
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if not line.lstrip().startswith("#")]
    assert "make test" in ci
    colcon = [i for i, line in enumerate(ci) if 'colcon" build' in line or "colcon build" in line]
    assert colcon and colcon[0] > ci.index("make test")
    assert any("cmake/pypi_ros_wheels.cmake" in line for line in ci[colcon[0] :])
    assert any("test/nodes/test_messages.py" in line for line in ci[colcon[0] :])
