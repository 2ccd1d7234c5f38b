"""Helpers for tests that start real ROS 2 processes (rclpy over Fast DDS).

conftest.py already sets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a per-run
ROS_DOMAIN_ID in os.environ; every process started through these helpers inherits
them. Every wait here is bounded.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
SHM_PROFILE = REPO_ROOT / "config" / "fastdds_shm.xml"


def ros_env(extra: Mapping[str, str] | None = None, shm_only: bool = False) -> dict[str, str]:
    """Environment for a ROS child process: loopback discovery, this run's domain.

    shm_only: use config/fastdds_shm.xml. Fast DDS 2.x (Jazzy) reads
    FASTRTPS_DEFAULT_PROFILES_FILE, Fast DDS 3 (Kilted) FASTDDS_DEFAULT_PROFILES_FILE,
    so both are set. Never set them to an empty string: Fast DDS then logs
    "realpath failed" and discovery stalls.
    """
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        env.pop(name, None)
        if shm_only:
            env[name] = str(SHM_PROFILE)
    if extra:
        env.update(extra)
    return env


def start_python(code: str, env: Mapping[str, str], cwd: Path | str,
                 args: Sequence[str] = ()) -> subprocess.Popen[str]:
    """Start `python -c code args...` (this interpreter), stdout/stderr captured as text."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=dict(env),
        cwd=str(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
    """Wait at most `timeout` seconds, then kill; return (returncode, stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        err += f"\n[killed after {timeout} s]"
    return proc.returncode, out, err


def find_share_file(package: str, relative: str) -> Path | None:
    """A file under share/<package>/ of an install prefix, or None.

    Looks through AMENT_PREFIX_PATH (colcon / sourced ROS) and then sys.prefix
    (pip installs put share/ in the environment prefix).
    """
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    for prefix in prefixes:
        candidate = Path(prefix) / "share" / package / relative
        if candidate.is_file():
            return candidate
    return None
