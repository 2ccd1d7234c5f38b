#!/usr/bin/env bash
# THE test command: set up .venv if needed, then run the test suite in it.
#   bash scripts/test.sh                 # whole suite
#   bash scripts/test.sh -k messages -x  # extra arguments go to pytest
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

# setup.sh ignores a sourced ROS install; so do the tests (they test the pip route,
# plus colcon against the same wheels).
unset PYTHONPATH AMENT_PREFIX_PATH CMAKE_PREFIX_PATH COLCON_PREFIX_PATH ROS_DISTRO \
      ROS_VERSION ROS_PYTHON_VERSION
# Every ROS process stays on loopback, and each run gets its own DDS domain (1..100)
# so parallel runs never see each other's topics.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( ($$ + RANDOM) % 100 + 1 ))}"
echo "[test] ROS_DOMAIN_ID=$ROS_DOMAIN_ID ROS_AUTOMATIC_DISCOVERY_RANGE=$ROS_AUTOMATIC_DISCOVERY_RANGE"

# The lint gate first: a small explicit rule set ([tool.ruff.lint] in pyproject.toml).
echo "[test] ruff check"
.venv/bin/ruff check anchor_reloc_ros test scripts launch

exec .venv/bin/python -m pytest -q test/ "$@"
