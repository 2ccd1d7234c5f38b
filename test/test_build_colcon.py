"""The ROS route: `colcon build` of this repository as a workspace package.

The package's files (as git lists them) are copied into <tmp>/ws/src/ and built with
colcon against the ROS 2 wheels of this environment (no /opt/ros needed). The test
then checks what a colcon user relies on: the generated message imports and
serializes from the install tree, the hand-written package wins over the generated
one, and `ros2 run` / launch files find lib/anchor_reloc_ros/anchor_reloc_node.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from ros_helpers import REPO_ROOT, ros_env

pytest.importorskip("rclpy", reason="ROS 2 (rclpy) is not installed; run scripts/setup.sh")

COLCON = Path(sys.executable).parent / "colcon"
BUILD_TIMEOUT_S = 600


def _package_files() -> list[str]:
    """Tracked plus untracked-but-not-ignored files: what a clone of this tree holds."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT, check=True, capture_output=True, timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"needs a git checkout to list the package files: {exc}")
    return [f for f in out.decode().split("\0") if f and (REPO_ROOT / f).is_file()]


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory) -> Path:
    if not COLCON.exists():
        pytest.skip("colcon is not installed (pip install -e '.[test]')")
    ws = tmp_path_factory.mktemp("colcon_ws")
    src = ws / "src" / "anchor_reloc_ros"
    for rel in _package_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, src / rel)

    env = ros_env()
    # Build against this environment's ROS wheels, not a sourced ROS install.
    for name in ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "COLCON_PREFIX_PATH", "PYTHONPATH"):
        env.pop(name, None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = sys.prefix
    env["COLCON_HOME"] = str(ws / "colcon_home")
    cmd = [
        str(COLCON), "--log-base", str(ws / "log"), "build",
        "--base-paths", str(ws / "src"),
        "--build-base", str(ws / "build"), "--install-base", str(ws / "install"),
        "--event-handlers", "console_cohesion+", "desktop_notification-", "status-",
        "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF",
    ]
    try:
        proc = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"colcon build took over {BUILD_TIMEOUT_S} s:\n{exc.stdout}")
    assert proc.returncode == 0, f"colcon build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    # The stand-in tf2_msgs must stay hidden from colcon (a real ROS install wins).
    assert not (ws / "install" / "tf2_msgs").exists()
    return ws / "install" / "anchor_reloc_ros"


@pytest.fixture(scope="module")
def colcon_src(colcon_install: Path) -> Path:
    """The copy of the package that colcon built (the live tree may change meanwhile)."""
    return colcon_install.parents[1] / "src" / "anchor_reloc_ros"


def _run_from_install(prefix: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run Python against the colcon install tree the way `source setup.bash` would.

    `python -S` skips site-packages' .pth files, so the editable pip install of this
    same package (in the test environment) cannot take over; the wheels'
    site-packages and libraries are put on the paths by hand instead.
    """
    venv_site = sysconfig.get_paths()["purelib"]
    install_site = prefix / Path(venv_site).relative_to(sys.prefix)
    lib_dirs = [prefix / "lib", Path(sys.prefix) / "lib", *sorted(Path(venv_site).glob("ros_*.libs"))]
    env = ros_env({
        "PYTHONPATH": os.pathsep.join([str(install_site), venv_site]),
        "LD_LIBRARY_PATH": os.pathsep.join(str(d) for d in lib_dirs),
        "AMENT_PREFIX_PATH": os.pathsep.join([str(prefix), sys.prefix]),
        "_ROS_WHEELS_BOOTSTRAP_COMPLETE": "1",
    })
    return subprocess.run([sys.executable, "-S", "-c", code], env=env, cwd=prefix,
                          capture_output=True, text=True, timeout=120)


def test_colcon_build_installs_importable_messages(colcon_install: Path) -> None:
    proc = _run_from_install(colcon_install, """
import anchor_reloc_ros, anchor_reloc_ros.msg
from anchor_reloc_ros.msg import AnchorDebug
from rclpy.serialization import deserialize_message, serialize_message
msg = AnchorDebug(anchor_index=4, topk_indices=[4, 1], decode_mode="argmax")
back = deserialize_message(serialize_message(msg), AnchorDebug)
assert back.anchor_index == 4 and list(back.topk_indices) == [4, 1], back
print(anchor_reloc_ros.__file__)
print(anchor_reloc_ros.msg.__file__)
""")
    assert proc.returncode == 0, proc.stderr
    package_file, msg_file = proc.stdout.split()
    # Our __init__.py (not rosidl's empty one) was installed, next to the messages.
    assert Path(package_file).is_relative_to(colcon_install)
    assert "extend_path" in Path(package_file).read_text()
    assert Path(msg_file).is_relative_to(colcon_install)


def test_colcon_build_installs_every_python_module(colcon_install: Path, colcon_src: Path) -> None:
    site = colcon_install / Path(sysconfig.get_paths()["purelib"]).relative_to(sys.prefix)
    sources = list((colcon_src / "anchor_reloc_ros").rglob("*.py"))
    assert sources
    for source in sources:
        if "__pycache__" in source.parts:
            continue
        rel = source.relative_to(colcon_src)
        assert (site / rel).is_file(), f"{rel} missing from the colcon install"


def test_colcon_build_installs_launcher_and_share(colcon_install: Path) -> None:
    launcher = colcon_install / "lib" / "anchor_reloc_ros" / "anchor_reloc_node"
    assert launcher.is_file()
    assert os.access(launcher, os.X_OK)
    text = launcher.read_text()
    assert text.startswith("#!")
    assert "from anchor_reloc_ros.ros.node import main" in text
    share = colcon_install / "share" / "anchor_reloc_ros"
    assert (share / "package.xml").is_file()
    assert (share / "msg" / "AnchorDebug.msg").is_file()
    assert (share / "config" / "fastdds_shm.xml").is_file()
    index = colcon_install / "share" / "ament_index" / "resource_index" / "packages" / "anchor_reloc_ros"
    assert index.is_file()
