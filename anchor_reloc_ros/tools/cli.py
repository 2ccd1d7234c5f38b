"""``anchor-reloc``: one console script, one subcommand per tool module.

Each tool module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` to a function taking the parsed namespace and returning an exit code.
Heavy imports (torch, rosbags, rclpy) happen inside the handlers so that
``anchor-reloc --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..core.errors import AnchorRelocError

# Subcommand modules, in the order they appear in --help.
TOOL_MODULES = (
    "train",
    "calibrate",
    "add_committee",
    "evaluate",
    "make_scene",
    "benchmark",
    "export",
    "calibrate_ood",
    "bag_eval",
    "gate_eval",
    "compare",
    "bag_export",
    "make_bag",
    "demo",
    "bench",
)


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows the default of every option, also of those without a help text."""

    def _format_action(self, action: argparse.Action) -> str:
        if action.help is None and action.option_strings and action.default not in (None, argparse.SUPPRESS):
            action.help = "default: %(default)s"
        return super()._format_action(action)


class CommandParser(argparse.ArgumentParser):
    """Every subcommand's ``--help`` lists each option's default."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anchor-reloc",
        description="Anchor-point visual relocalization: train, evaluate, export, replay.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=CommandParser)
    for name in TOOL_MODULES:
        try:
            module = importlib.import_module(f"anchor_reloc_ros.tools.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"anchor_reloc_ros.tools.{name}":
                continue  # tool not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except AnchorRelocError as exc:
        print(f"anchor-reloc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"anchor-reloc {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
