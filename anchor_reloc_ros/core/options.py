"""Options defined once: a dataclass field carries its default and a one-line help text.

``option(default, help, ...)`` declares such a field (with its choices, range, CLI flag
and node parameter name where they differ from the defaults); ``option_specs`` reads them
back as ``OptionSpec`` records, from a class or from an instance that holds a tool's own
defaults. ``add_arguments`` / ``values_from_args`` turn specs into argparse flags and
back; ``ros.parameters`` turns them into node parameters. Standard library only.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

T = TypeVar("T")
_KEY = "option"
SAME_NAME = ""   # OptionSpec.ros_name: the node parameter is named like the field


@dataclass(frozen=True)
class OptionSpec:
    name: str                                 # the dataclass field
    default: Any
    help: str
    choices: tuple[Any, ...] = ()
    range: tuple[float, float] | None = None  # inclusive bounds
    flag: str = ""                            # CLI flag; "" = --name-with-dashes
    ros_name: str | None = SAME_NAME          # node parameter; None = not one
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None  # CLI text -> value; None = the default's type

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return self.cli_flag[2:].replace("-", "_")

    @property
    def parameter(self) -> str | None:
        return self.name if self.ros_name == SAME_NAME else self.ros_name

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is refused (choices, range), or None."""
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}, got {value!r}"
        if self.range is not None and not self.range[0] <= value <= self.range[1]:
            return f"must be in [{self.range[0]}, {self.range[1]}], got {value!r}"
        return None


def option(default: Any, help: str, **details: Any) -> Any:
    """A dataclass field with ``default`` and its spec (``details``: see ``OptionSpec``)."""
    return field(default=default, metadata={_KEY: OptionSpec("", default, help, **details)})


def option_specs(source: object, only: Iterable[str] | None = None) -> tuple[OptionSpec, ...]:
    """The ``option`` fields of a dataclass (``only`` these names); defaults from ``source``."""
    wanted = None if only is None else set(only)
    return tuple(replace(f.metadata[_KEY], name=f.name, default=getattr(source, f.name))
                 for f in fields(source)  # type: ignore[arg-type]
                 if _KEY in f.metadata and (wanted is None or f.name in wanted))


def check_options(options: object) -> str | None:
    """The first refused value of a dataclass instance, as ``name: reason``, or None."""
    for spec in option_specs(options):
        reason = spec.problem(getattr(options, spec.name))
        if reason is not None:
            return f"{spec.name} {reason}"
    return None


def _converter(spec: OptionSpec) -> Callable[[str], Any]:
    base = spec.parse or type(spec.default)

    def convert(text: str) -> Any:
        value = base(text)
        reason = spec.problem(value)
        if reason is not None:
            raise argparse.ArgumentTypeError(reason)
        return value

    convert.__name__ = base.__name__  # argparse names it in "invalid int value"
    return convert


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                  specs: Iterable[OptionSpec]) -> dict[str, argparse.Action]:
    """One flag per spec (a bool: --flag, or --flag/--no-flag when it defaults to true);
    returns the actions by field name, so that a tool can append a note to a help text."""
    actions: dict[str, argparse.Action] = {}
    for spec in specs:
        kwargs: dict[str, Any] = {"dest": spec.dest, "default": spec.default,
                                  "help": spec.help.replace("%", "%%")}  # argparse formats help with %
        if isinstance(spec.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction if spec.default else "store_true"
        else:
            kwargs.update(type=_converter(spec), metavar=spec.metavar)
            if spec.choices:
                kwargs["choices"] = spec.choices
        actions[spec.name] = parser.add_argument(spec.cli_flag, **kwargs)
    return actions


def values_from_args(specs: Iterable[OptionSpec], args: argparse.Namespace) -> dict[str, Any]:
    """``{field: value}`` of the specs whose flags the namespace holds."""
    return {s.name: getattr(args, s.dest) for s in specs if hasattr(args, s.dest)}


def from_args(defaults: T, args: argparse.Namespace) -> T:
    """``defaults`` (a dataclass instance) with the values of its flags in ``args``."""
    return replace(defaults, **values_from_args(option_specs(defaults), args))  # type: ignore[type-var]
