"""Start-up: failures stop the node with a message naming the file; YAML and launch file."""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import get_type_hints

import pytest
import rclpy
import yaml
from rcl_interfaces.msg import ParameterType

from anchor_reloc_ros.core.errors import CheckpointError, ConfigError, DeviceError
from anchor_reloc_ros.core.options import option_specs
from anchor_reloc_ros.ros.node import AnchorRelocNode
from anchor_reloc_ros.ros.parameters import PARAMETERS, NodeParams
from checkpoint_helpers import rewrite_metadata, set_field
from ros_helpers import finish, ros_env
from ros_node_harness import plumbing_checkpoint, ros_context  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[1]
YAML_PATH = REPO / "config" / "anchor_reloc.yaml"
LAUNCH_PATH = REPO / "launch" / "anchor_reloc.launch.py"
CUDA = importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available()
# Declared by rclpy itself for every node; not ours to list in the YAML.
RCLPY_BUILTIN = {"use_sim_time", "start_type_description_service"}
_PY_TYPES = {ParameterType.PARAMETER_BOOL: bool, ParameterType.PARAMETER_INTEGER: int,
             ParameterType.PARAMETER_DOUBLE: float, ParameterType.PARAMETER_STRING: str}


def _node_command(*ros_args: str) -> list[str]:
    """The installed console script when present, else the same entry point via -c."""
    script = shutil.which("anchor_reloc_node", path=str(Path(sys.executable).parent))
    head = [script] if script else [sys.executable, "-c",
                                    "import sys; from anchor_reloc_ros.ros.node import main; "
                                    "sys.exit(main())"]
    return [*head, "--ros-args", *ros_args]


def _start(*ros_args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(_node_command(*ros_args), env=ros_env(), cwd=str(REPO), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_missing_weights_exit_non_zero_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_dir" / "missing.safetensors"
    code, out, err = finish(_start("-p", f"weights:={missing}", "-p", "device:=cpu"), timeout=60)
    assert code not in (0, None), f"exit {code}\n{out}\n{err}"
    assert str(missing) in out + err, f"the message does not name the file:\n{out}\n{err}"


# ------------------------------------------------------------------ in-process
@pytest.mark.parametrize("overrides, error, words", [
    ({"weights": "/nonexistent/w.safetensors"}, CheckpointError, ["/nonexistent/w.safetensors"]),
    ({"weights": "CORRUPT"}, CheckpointError, ["CORRUPT"]),
    ({"weights": ""}, ConfigError, ["weights", "empty"]),
    ({"tf_mode": "map_to_moon"}, ConfigError, ["tf_mode", "map_to_odom"]),
    ({"backend": "tensorrt"}, ConfigError, ["tensorrt", "export"]),
    ({"backend": "openvino"}, ConfigError, ["backend", "onnxruntime"]),
    ({"device": "gpu"}, ConfigError, ["device"]),
    ({"top_k": 0}, ConfigError, ["top_k"]),
    ({"image_transport": "theora"}, ConfigError, ["image_transport"]),
])
def test_invalid_startup_parameters_are_refused(ros_context, plumbing_checkpoint, tmp_path,
                                                 overrides, error, words) -> None:
    corrupt = tmp_path / "corrupt.safetensors"  # a header length, then garbage
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + bytes(64))
    params = {"weights": str(plumbing_checkpoint), "device": "cpu", **overrides}
    params = {k: str(corrupt) if v == "CORRUPT" else v for k, v in params.items()}
    with pytest.raises(error) as info:
        AnchorRelocNode(parameter_overrides=[rclpy.parameter.Parameter(k, value=v)
                                             for k, v in params.items()])
    for word in words:
        assert (str(corrupt) if word == "CORRUPT" else word) in str(info.value)


@pytest.mark.skipif(CUDA, reason="this machine has CUDA: device=cuda is valid here")
def test_cuda_requested_without_cuda_is_refused_naming_the_file(ros_context,
                                                                 plumbing_checkpoint) -> None:
    with pytest.raises(DeviceError) as info:
        AnchorRelocNode(parameter_overrides=[
            rclpy.parameter.Parameter("weights", value=str(plumbing_checkpoint)),
            rclpy.parameter.Parameter("device", value="cuda")])
    assert str(plumbing_checkpoint) in str(info.value) and "cuda" in str(info.value).lower()


# ------------------------------------------------------------------ YAML
def _yaml_params() -> dict:
    doc = yaml.safe_load(YAML_PATH.read_text())
    assert list(doc) == ["anchor_reloc_node"]
    return doc["anchor_reloc_node"]["ros__parameters"]


def test_yaml_lists_exactly_the_declared_parameters_with_their_types(ros_context,
                                                                    plumbing_checkpoint) -> None:
    node = AnchorRelocNode(parameter_overrides=[
        rclpy.parameter.Parameter("weights", value=str(plumbing_checkpoint)),
        rclpy.parameter.Parameter("device", value="cpu")])
    try:
        declared = set(node.list_parameters([], 0).names) - RCLPY_BUILTIN
        values = _yaml_params()
        assert set(values) == declared
        for name in declared:
            ptype = node.describe_parameter(name).type
            assert type(values[name]) is _PY_TYPES[ptype], f"{name}: {values[name]!r}"
        for spec in PARAMETERS:
            assert values[spec.name] == spec.default, spec.name
            assert node.describe_parameter(spec.name).read_only == spec.read_only
            assert node.describe_parameter(spec.name).description == spec.description
    finally:
        node.destroy_node()


def test_node_starts_from_the_yaml_as_a_params_file(plumbing_checkpoint) -> None:
    context = rclpy.Context()
    rclpy.init(context=context, args=["--ros-args", "--params-file", str(YAML_PATH),
                                      "-p", f"weights:={plumbing_checkpoint}",
                                      "-p", "device:=cpu"])
    try:
        node = AnchorRelocNode(context=context)
        try:
            values = _yaml_params()
            for spec in PARAMETERS:
                expected = str(plumbing_checkpoint) if spec.name == "weights" else \
                    ("cpu" if spec.name == "device" else values[spec.name])
                assert node.params.value(spec.name) == expected, spec.name
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def _node_params_names() -> set[str]:
    """NodeParams' fields, an embedded options dataclass standing for its node parameters."""
    hints = get_type_hints(NodeParams)
    names: set[str] = set()
    for f in fields(NodeParams):
        kind = hints[f.name]
        names |= {s.parameter for s in option_specs(kind) if s.parameter} if is_dataclass(kind) else {f.name}
    return names


def test_node_params_yaml_and_launch_file_agree() -> None:
    """Three lists of the parameters: the NodeParams dataclass (with the options it embeds), the
    hand-written YAML and the keys the launch file overrides; each is checked against the
    declared PARAMETERS."""
    declared = {s.name for s in PARAMETERS}
    assert len(declared) == len(PARAMETERS)  # no name declared twice
    assert _node_params_names() == declared
    assert set(_yaml_params()) == declared
    launch_keys = set(re.findall(r'overrides\["(\w+)"\]', LAUNCH_PATH.read_text()))
    assert "weights" in launch_keys and launch_keys - RCLPY_BUILTIN <= declared, launch_keys


# ------------------------------------------------------------------ launch
def test_launch_file_is_valid_python() -> None:
    compile(LAUNCH_PATH.read_text(), str(LAUNCH_PATH), "exec")
    assert "eval(" not in LAUNCH_PATH.read_text().replace("no eval", "")


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None,
                    reason="launch/launch_ros exist only in a ROS 2 install, not on PyPI")
def test_launch_file_builds_a_launch_description() -> None:
    from launch import LaunchDescription

    spec = importlib.util.spec_from_file_location("anchor_reloc_launch", LAUNCH_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert isinstance(description, LaunchDescription)
    names = {a.name for a in description.entities if hasattr(a, "default_value")}
    assert {"params_file", "weights", "namespace", "use_sim_time", "image_topic"} <= names


def test_checkpoint_with_bad_metadata_stops_the_node_with_one_line(plumbing_checkpoint, tmp_path: Path) -> None:
    bad = rewrite_metadata(plumbing_checkpoint, tmp_path / "bad.safetensors",
                           set_field("preprocessing.image_size", [0, -5]))
    code, out, err = finish(_start("-p", f"weights:={bad}", "-p", "device:=cpu"), timeout=60)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert code not in (0, None), f"exit {code}\n{out}\n{err}"
    assert len(lines) == 1 and "Traceback" not in err, f"expected one line:\n{out}\n{err}"
    assert str(bad) in lines[0] and "preprocessing.image_size" in lines[0], lines[0]
