"""The inference and decoding flags of the CLIs, generated from their one definition.

``add_inference_arguments`` adds --backend/--device/--fp16/--threads/--cuda-graphs from
``core.inference_options.InferenceOptions``, ``add_decode_arguments`` --decode/--top-k/--views from
``core.decoding.DecodeOptions``; the ``*_from_args`` functions read them back.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterable

from ..core.decoding import DecodeOptions
from ..core.inference_options import InferenceOptions
from ..core.options import add_arguments, from_args, option_specs


def add_inference_arguments(parser: argparse.ArgumentParser, defaults: InferenceOptions = InferenceOptions(),
                            only: Iterable[str] | None = None) -> dict[str, argparse.Action]:
    """The options (``only`` these fields), in an "inference" group, with a tool's own
    ``defaults``; returns their actions by field name, so a tool can append notes to a help."""
    return add_arguments(parser.add_argument_group("inference"), option_specs(defaults, only))


def inference_options_from_args(args: argparse.Namespace,
                                defaults: InferenceOptions = InferenceOptions()) -> InferenceOptions:
    return from_args(defaults, args)


def add_decode_arguments(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return add_arguments(parser.add_argument_group("decoding"), option_specs(DecodeOptions))


def decode_options_from_args(args: argparse.Namespace) -> DecodeOptions:
    return from_args(DecodeOptions(), args)
