"""Each inference and decoding option is defined once (core.inference_options.InferenceOptions,
core.decoding.DecodeOptions); CLI flags, node parameters and TrainConfig flags are generated."""
from __future__ import annotations

import argparse
import re
from dataclasses import fields
from pathlib import Path

import pytest

from anchor_reloc_ros.core.decoding import DecodeOptions
from anchor_reloc_ros.core.inference_options import InferenceOptions
from anchor_reloc_ros.core.options import OptionSpec, option_specs
from anchor_reloc_ros.tools.cli import build_parser

PACKAGE = Path(__file__).resolve().parents[1] / "anchor_reloc_ros"
DEFINITIONS = {PACKAGE / "core" / "inference_options.py", PACKAGE / "core" / "decoding.py"}
# fp16 there is another option: an export with half-precision weights.
OTHER_MEANINGS = {PACKAGE / "tools" / "export.py", PACKAGE / "core" / "onnx_export.py"}
SPECS: tuple[OptionSpec, ...] = (*option_specs(InferenceOptions), *option_specs(DecodeOptions))


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _action(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    return next(a for a in parser._actions if flag in a.option_strings)


@pytest.mark.parametrize("tool", ["eval", "bag-eval"])
def test_eval_tools_take_defaults_and_help_from_the_definition(tool: str) -> None:
    parser = _subparser(tool)
    for spec in SPECS:
        action = _action(parser, spec.cli_flag)
        assert action.default == spec.default and action.help.startswith(spec.help), spec.name
    assert "(default: 3)" in parser.format_help()  # --help shows the defaults


def test_other_tools_generate_their_inference_flags() -> None:
    from anchor_reloc_ros.benchmarks.node_latency import NODE_INFERENCE, build_parser as node_bench_parser

    device = option_specs(InferenceOptions, only=("device",))[0]
    threads = option_specs(InferenceOptions, only=("threads",))[0]
    for tool, spec in (("calibrate", device), ("calibrate-ood", device), ("demo", device), ("speed", threads)):
        assert _action(_subparser(tool), spec.cli_flag).help.startswith(spec.help), tool
    node_bench = node_bench_parser()
    for spec in option_specs(NODE_INFERENCE):
        if spec.parameter:  # the node's parameters, with the benchmark's own defaults
            action = _action(node_bench, spec.cli_flag)
            assert action.default == spec.default and action.help.startswith(spec.help), spec.name
    assert not any("--cuda-graphs" in a.option_strings for a in node_bench._actions)


def test_node_parameter_table_is_generated_from_the_definition() -> None:
    pytest.importorskip("rclpy", reason="the parameter table uses rcl_interfaces")
    from anchor_reloc_ros.ros.parameters import SPECS as NODE_SPECS

    for spec in SPECS:
        if spec.parameter is None:
            assert spec.name not in NODE_SPECS  # cuda_graphs: not a node parameter
            continue
        entry = NODE_SPECS[spec.parameter]
        assert (entry.default, entry.description, entry.choices, entry.range) == \
            (spec.default, spec.help, tuple(spec.choices), spec.range), spec.name


def test_live_node_parameters_come_from_the_embedded_options() -> None:
    pytest.importorskip("rclpy", reason="ros.live_session needs rclpy")
    pytest.importorskip("anchor_reloc_ros.msg", reason="the package's messages are not built")
    from anchor_reloc_ros.ros.live_session import LIVE_NODE_THREADS, LiveOptions, node_parameters

    params = node_parameters(LiveOptions(Path("w.onnx")), "/img", False)
    assert params["cpu_threads"] == LIVE_NODE_THREADS  # threads 0 would leave no core to the publisher
    assert (params["backend"], params["device"], params["fp16"], params["decode"], params["top_k"]) == (
        InferenceOptions.backend, InferenceOptions.device, InferenceOptions.fp16, DecodeOptions.mode,
        DecodeOptions.top_k)
    given = LiveOptions(Path("w.onnx"), InferenceOptions(threads=2, fp16=True), DecodeOptions("fusion", 5))
    params = node_parameters(given, "/img", False)
    assert (params["cpu_threads"], params["fp16"], params["decode"], params["top_k"]) == (2, True, "fusion", 5)
    assert "cuda_graphs" not in params and "threads" not in params


def _literal(value: object) -> str:
    return re.escape(repr(value)).replace("'", "[\"']")


def test_no_source_file_repeats_an_option_or_its_default() -> None:
    """A hand-written flag, node parameter or dataclass field for one of these options, or a
    keyword default equal to its value, anywhere but the definition, is a duplicate."""
    names = {s.name for s in SPECS} | {s.parameter for s in SPECS if s.parameter} - {"mode"}
    flags = "|".join(re.escape(s.cli_flag) for s in SPECS)
    patterns = [
        re.compile(rf"add_argument\(\s*[\"']({flags})[\"']"),
        re.compile(rf"ParamSpec\(\s*[\"']({'|'.join(names)})[\"']"),
        *(re.compile(rf"\b{name}(?:\s*:[^=\n,()]+=\s*|=){_literal(s.default)}\s*[,)\n#]")
          for s in SPECS for name in {s.name, s.parameter or s.name} - {"mode"}),
    ]
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in DEFINITIONS | OTHER_MEANINGS or "training" in path.relative_to(PACKAGE).parts:
            continue  # TrainConfig's device/threads are training options
        text = path.read_text()
        offenders += [f"{path.relative_to(PACKAGE)}: {m.group(0).strip()}" for p in patterns for m in p.finditer(text)]
    assert offenders == []


def test_train_flags_are_trainconfig_fields_with_its_defaults(tmp_path: Path) -> None:
    from anchor_reloc_ros.tools.train import HEAD_FLAG, MODEL_FLAGS, RUN_FLAGS, config_from_args
    from anchor_reloc_ros.training.config import TrainConfig

    flags = (HEAD_FLAG, *MODEL_FLAGS, *RUN_FLAGS)
    assert len({f.name for f in flags}) == len(flags) and {f.name for f in flags} <= {f.name for f in fields(TrainConfig)}
    parser = _subparser("train")
    args = parser.parse_args(["--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert config_from_args(args, args.data, args.out) == TrainConfig(tmp_path, tmp_path / "run")
    for flag in flags:
        assert _action(parser, flag.cli_flag).default == getattr(TrainConfig, flag.name, None), flag.name
    given = parser.parse_args(["--data", "d", "--out", "o", "--head", "posenet", "--cached-views", "7",
                               "--no-pretrained", "--freeze-backbone", "--image-size", "64x48", "--lr", "0.01",
                               "--val-source", "train", "--save-every", "5", "--kitti-test-every", "3",
                               "--anchor-dims", "3", "--threads", "2"])
    config = config_from_args(given, Path("d"), Path("o"))
    assert (config.head, config.feature_cache_augmentations, config.pretrained, config.freeze_backbone,
            config.image_size, config.lr, config.val_source, config.save_every_s, config.kitti_test_every,
            config.anchor_dims, config.threads) == ("posenet", 7, False, True, (48, 64), 0.01, "train", 5.0, 3, 3, 2)
    with pytest.raises(SystemExit):
        parser.parse_args(["--data", "d", "--out", "o", "--anchor-dims", "4"])
