# Injected with -DCMAKE_PROJECT_INCLUDE=<this file> when the messages are built against ROS 2
# from PyPI wheels (`make`, scripts/build_messages, .ci/run's colcon build); a full ROS 2 install
# (apt) needs none of it. CMakeLists.txt stays as a ROS user builds it.
#
# The message wheels (builtin_interfaces, std_msgs, geometry_msgs, ...) export their
# *__rosidl_generator_py targets with the Python and numpy include directories of the machine
# that built the wheels (/opt/python/cp311-cp311/...), which do not exist here, and CMake's
# generate step stops at "includes non-existent path". At the end of configure (every target
# imported by then), each such directory is replaced by this interpreter's own. And our own
# ego4o_ros__rosidl_generator_py exports this interpreter's include directories, which lie in
# the source tree when the venv does (.venv/): those are kept for the build only, as nothing
# downstream compiles against them.
include_guard(GLOBAL)

function(_ego4o_pypi_wheels_fix_includes)
  if(NOT Python3_EXECUTABLE)
    find_package(Python3 REQUIRED COMPONENTS Interpreter)
  endif()
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c
      "import sysconfig, numpy; print(sysconfig.get_paths()['include'] + ';' + numpy.get_include())"
    OUTPUT_VARIABLE _paths OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _result)
  if(NOT _result EQUAL 0)
    message(FATAL_ERROR "${Python3_EXECUTABLE} cannot say its include directories (is numpy installed?)")
  endif()
  list(GET _paths 0 _python_include)
  list(GET _paths 1 _numpy_include)
  get_property(_imported DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  set(_fixed 0)
  foreach(_target IN LISTS _imported)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_new "")
    set(_changed FALSE)
    foreach(_dir IN LISTS _dirs)
      if(NOT EXISTS "${_dir}" AND _dir MATCHES "/include/python3\\.[0-9]+$")
        set(_dir "${_python_include}")
        set(_changed TRUE)
      elseif(NOT EXISTS "${_dir}" AND _dir MATCHES "/numpy/(_core|core)/include$")
        set(_dir "${_numpy_include}")
        set(_changed TRUE)
      endif()
      list(APPEND _new "${_dir}")
    endforeach()
    if(_changed)
      set_property(TARGET ${_target} PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${_new}")
      math(EXPR _fixed "${_fixed} + 1")
    endif()
  endforeach()
  message(STATUS "PyPI ROS wheels: Python/numpy include directories of ${_fixed} imported targets set to "
                 "${_python_include} and ${_numpy_include}")

  set(_own "${PROJECT_NAME}__rosidl_generator_py")
  if(TARGET ${_own})
    get_target_property(_dirs ${_own} INTERFACE_INCLUDE_DIRECTORIES)
    set(_new "")
    foreach(_dir IN LISTS _dirs)
      string(FIND "${_dir}" "${CMAKE_SOURCE_DIR}/" _in_source)
      if(_in_source EQUAL 0 AND NOT _dir MATCHES "^\\$<")
        set(_dir "$<BUILD_INTERFACE:${_dir}>")
      endif()
      list(APPEND _new "${_dir}")
    endforeach()
    set_property(TARGET ${_own} PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${_new}")
  endif()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _ego4o_pypi_wheels_fix_includes)
