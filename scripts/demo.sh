#!/usr/bin/env bash
# THE demo command: set up .venv if needed, then replay the bundled street bag
# through the live node with the bundled weights (anchor-reloc demo).
#   bash scripts/demo.sh                 # prints accuracy, rate, latency; plots in ./demo_out/
#   bash scripts/demo.sh --rate 2        # extra arguments go to anchor-reloc demo
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bash "$ROOT/scripts/setup.sh"

# setup.sh ignores a sourced ROS install; so does the demo (it runs the pip route).
unset PYTHONPATH AMENT_PREFIX_PATH CMAKE_PREFIX_PATH COLCON_PREFIX_PATH ROS_DISTRO \
      ROS_VERSION ROS_PYTHON_VERSION
# The demo keeps itself and its node on loopback and picks a ROS_DOMAIN_ID when unset.
# It runs in the caller's directory, so relative --out/--bag/--weights mean what they say.
exec "$ROOT/.venv/bin/anchor-reloc" demo "$@"
