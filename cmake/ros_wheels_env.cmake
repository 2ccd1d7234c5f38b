# Helpers shared by this package's CMakeLists.txt and the pip-only stand-in
# interface packages in pip_interfaces/.
#
# They make a rosidl build work against ROS 2 installed from PyPI wheels
# (ros-jazzy-*), where no setup.bash was sourced. See README "Build routes".

# Prepend every Python prefix that holds the ROS wheels' CMake files
# (<prefix>/share/ament_cmake_core/cmake) to CMAKE_PREFIX_PATH and to the
# environment variable AMENT_PREFIX_PATH. Both are needed: rosidl looks up its
# type supports through the ament index (AMENT_PREFIX_PATH), and without it the
# configure step stops with "No 'rosidl_typesupport_c' found".
#
# Under pip's build isolation the wheels live in a temporary overlay prefix that
# is on sys.path, not under sys.prefix, so every sys.path entry is examined.
macro(anchor_reloc_use_ros_wheel_prefixes)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c "
import os, sys
found = []
for entry in [sys.prefix] + sys.path:
    d = os.path.abspath(entry or os.curdir)
    for _ in range(5):
        if os.path.isfile(os.path.join(d, 'share', 'ament_cmake_core', 'cmake', 'ament_cmake_coreConfig.cmake')):
            if d not in found:
                found.append(d)
            break
        d = os.path.dirname(d)
print(';'.join(found), end='')
"
    OUTPUT_VARIABLE _anchor_reloc_wheel_prefixes
    RESULT_VARIABLE _anchor_reloc_rc)
  if(NOT _anchor_reloc_rc EQUAL 0)
    message(FATAL_ERROR "Could not run ${Python3_EXECUTABLE} to find the ROS 2 wheels")
  endif()
  if(_anchor_reloc_wheel_prefixes)
    message(STATUS "ROS 2 wheel prefixes: ${_anchor_reloc_wheel_prefixes}")
    list(PREPEND CMAKE_PREFIX_PATH ${_anchor_reloc_wheel_prefixes})
    foreach(_prefix IN LISTS _anchor_reloc_wheel_prefixes)
      if(NOT "$ENV{AMENT_PREFIX_PATH}" MATCHES "(^|:)${_prefix}(:|$)")
        if("$ENV{AMENT_PREFIX_PATH}" STREQUAL "")
          set(ENV{AMENT_PREFIX_PATH} "${_prefix}")
        else()
          set(ENV{AMENT_PREFIX_PATH} "${_prefix}:$ENV{AMENT_PREFIX_PATH}")
        endif()
      endif()
    endforeach()
  elseif("$ENV{AMENT_PREFIX_PATH}" STREQUAL "")
    message(WARNING "No ROS 2 found: neither a sourced ROS install (AMENT_PREFIX_PATH) "
      "nor the ros-jazzy-* wheels in ${Python3_EXECUTABLE}'s environment")
  endif()
endmacro()

# The wheels' exported targets <pkg>__rosidl_generator_py carry the include
# directories of the machine that built the wheels (/opt/python/cp311-cp311/...),
# and CMake stops with "includes non-existent path". Reset those targets to this
# Python's and NumPy's include directories. Call after find_package() of the
# message packages; targets whose directories all exist (a real ROS install) are
# left alone.
function(anchor_reloc_fix_wheel_python_includes)
  find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)
  get_directory_property(_targets IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    if(NOT _target MATCHES "__rosidl_generator_py$")
      continue()
    endif()
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_broken FALSE)
    foreach(_dir IN LISTS _dirs)
      if(NOT EXISTS "${_dir}")
        set(_broken TRUE)
      endif()
    endforeach()
    if(_broken)
      set_target_properties(${_target} PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${Python3_INCLUDE_DIRS};${Python3_NumPy_INCLUDE_DIRS}")
    endif()
  endforeach()
endfunction()

# CMake refuses to export a target whose INTERFACE_INCLUDE_DIRECTORIES point into
# the source directory, which happens when the Python environment (and so NumPy's
# headers) lives inside the source tree, e.g. <repo>/.venv. Wrap such entries in
# $<BUILD_INTERFACE:...> so they apply to this build and are not exported.
function(anchor_reloc_build_only_source_includes target)
  if(NOT TARGET ${target})
    return()
  endif()
  get_target_property(_dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT _dirs)
    return()
  endif()
  set(_new_dirs "")
  foreach(_dir IN LISTS _dirs)
    string(FIND "${_dir}" "${CMAKE_SOURCE_DIR}/" _pos)
    if(_pos EQUAL 0)
      list(APPEND _new_dirs "$<BUILD_INTERFACE:${_dir}>")
    else()
      list(APPEND _new_dirs "${_dir}")
    endif()
  endforeach()
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_new_dirs}")
endfunction()
