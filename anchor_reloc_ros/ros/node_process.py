"""Start and stop ``anchor_reloc_node`` as a child process (no rclpy import here).

Every ROS process this package starts gets ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``
and the caller's ``ROS_DOMAIN_ID`` (one is chosen when unset), and, unless the caller
already chose a Fast DDS profile, the package's shared-memory-only profile
(``config/fastdds_shm.xml``: low latency, no loss for large images, nothing on the
network). The same settings are applied to the calling process so both ends match.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PROFILE_VARS = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")  # Fast DDS 2.x, 3.x
_NODE_CODE = "import sys; from anchor_reloc_ros.ros.node import main; sys.exit(main(sys.argv))"
_LOG_TAIL_CHARS = 2000


def shm_profile() -> Path | None:
    """``config/fastdds_shm.xml`` from the source tree or the installed share directory."""
    for path in (Path(__file__).resolve().parents[2] / "config" / "fastdds_shm.xml",
                 Path(sys.prefix) / "share" / "anchor_reloc_ros" / "config" / "fastdds_shm.xml"):
        if path.is_file():
            return path
    return None


def ros_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The variables to add to ``env`` (existing choices of the caller are kept)."""
    add = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    if not env.get("ROS_DOMAIN_ID"):
        add["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 100)
    profile = shm_profile()
    if profile is not None and not any(env.get(v) for v in PROFILE_VARS):
        add.update({v: str(profile) for v in PROFILE_VARS})
    return add


def apply_ros_settings() -> dict[str, str]:
    """Apply ``ros_settings`` to this process (before rclpy.init); returns the environment."""
    os.environ.update(ros_settings(os.environ))
    return dict(os.environ)


def _param(name: str, value: object) -> list[str]:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return ["-p", f"{name}:={text}"]


class NodeProcess:
    """``anchor_reloc_node`` with the given parameters (in ``namespace`` when given); output
    goes to ``log_path``."""

    def __init__(self, params: Mapping[str, object], log_path: Path, env: Mapping[str, str],
                 namespace: str = "") -> None:
        args = [arg for name, value in params.items() for arg in _param(name, value)]
        if namespace:
            args += ["-r", f"__ns:=/{namespace.strip('/')}"]
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-c", _NODE_CODE, "--ros-args", *args],
                                     env=dict(env), stdout=self._log, stderr=subprocess.STDOUT,
                                     text=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 10.0, sig: signal.Signals = signal.SIGINT) -> int:
        """``sig`` (SIGINT or SIGTERM: a clean shutdown), then kill after ``timeout_s``;
        returns the exit code."""
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        self._log.close()
        return int(self.proc.returncode)

    def log_tail(self, lines: int = 3) -> str:
        """The last non-empty lines of the node's output, on one line."""
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL_CHARS:]
        tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or "(empty)"
