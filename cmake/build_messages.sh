#!/usr/bin/env bash
# The package's own messages (msg/SmplPose.msg, msg/MotionDescription.msg) built into a venv
# whose ROS 2 comes from the PyPI wheels: what `make demo` / `make test` run after `pip install -e .`.
#
#   cmake/build_messages.sh [VENV] [BUILD_DIR]      (defaults: .venv, build/messages)
#
# It configures the package's own CMakeLists.txt (rosidl_generate_interfaces, as colcon does on a
# full ROS 2 install) against the venv, with cmake/pypi_ros_wheels.cmake injected for the wheels'
# include directories, and installs into the venv prefix: the C/C++ type support libraries go to
# <venv>/lib (on the loader path of every venv Python: the ROS wheels add it at start-up), share/
# and include/ as colcon would. The Python side (ego4o_ros/msg and the type support modules) goes
# to <venv>/lib/ego4o_ros_messages/ego4o_ros, a folder not on sys.path that ego4o_ros/__init__.py
# adds to the package's __path__: an editable install keeps importing the source checkout, and
# the copy of our sources the CMake install also puts there is removed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-$root/.venv}
build=${2:-$root/build/messages}
python=$venv/bin/python
messages_dir=lib/ego4o_ros_messages  # relative to the venv prefix; ego4o_ros/__init__.py looks here

fail() {
  echo "error: cannot build the ego4o_ros messages (smpl_pose, description_stamped): $*" >&2
  exit 1
}

[ -x "$python" ] || fail "no Python at $python (make creates the venv first)"
venv=$(cd "$venv" && pwd)
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || command -v gcc >/dev/null || missing+=("a C compiler (cc/gcc)")
command -v c++ >/dev/null || command -v g++ >/dev/null || missing+=("a C++ compiler (c++/g++)")
if [ ${#missing[@]} -gt 0 ]; then
  list=$(printf '%s, ' "${missing[@]}")
  fail "${list%, } not found. Install a C/C++ compiler and CMake >= 3.19" \
    "(Debian/Ubuntu: sudo apt install build-essential cmake) and run make again."
fi
cmake_version=$(cmake --version | head -n1 | sed 's/[^0-9.]*//')
if [ "$(printf '%s\n3.19\n' "$cmake_version" | sort -V | head -n1)" != "3.19" ]; then
  fail "CMake $cmake_version is too old (3.19 or newer is needed)"
fi
python_include=$("$python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
[ -f "$python_include/Python.h" ] || fail "no Python.h in $python_include (Debian/Ubuntu: sudo apt install python3-dev)"
"$python" -c "import rosidl_generator_py, ament_package" 2>/dev/null ||
  fail "the rosidl generators are not in $venv (pip install -r requirements.txt)"

echo "Building the ego4o_ros messages (msg/*.msg -> ego4o_ros/msg/SmplPose, MotionDescription) into $venv ..."
started=$SECONDS
log=$build/build.log
if [ -f "$build/CMakeCache.txt" ] && ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$root" "$build/CMakeCache.txt"; then
  rm -rf "$build"  # configured for a checkout elsewhere (moved or copied): start again
fi
mkdir -p "$build"
jobs=$(nproc 2>/dev/null || echo 2)
if ! (
  export AMENT_PREFIX_PATH=$venv CMAKE_PREFIX_PATH=$venv
  cmake -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$venv" \
    -DPYTHON_INSTALL_DIR="$messages_dir" \
    -DPython3_EXECUTABLE="$python" \
    -DBUILD_TESTING=OFF \
    -DCMAKE_PROJECT_INCLUDE="$root/cmake/pypi_ros_wheels.cmake" &&
    cmake --build "$build" -j "$jobs" &&
    cmake --install "$build"
) >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  fail "see $log"
fi

# Only the generated Python stays beside the editable source: ego4o_ros/msg and the type
# support modules; the copy of our own sources and the egg-info go.
package=$venv/$messages_dir/ego4o_ros
find "$package" -mindepth 1 -maxdepth 1 ! -name msg ! -name '*.so' -exec rm -rf {} +
find "$venv/$messages_dir" -mindepth 1 -maxdepth 1 ! -name ego4o_ros -exec rm -rf {} +

"$python" -c "from ego4o_ros.msg import MotionDescription, SmplPose" 2>>"$log" ||
  fail "built, but 'from ego4o_ros.msg import SmplPose' fails (see $log)"
echo "Built the ego4o_ros messages in $((SECONDS - started)) s: smpl_pose and description_stamped are published" \
  "(Python: $package/msg, libraries: $venv/lib; log: $log)"
