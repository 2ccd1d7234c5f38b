"""Where the bundled demo files (weights, bag) live, for the demo and the benchmarks.

They are looked up relative to the repository checkout, then under each
``AMENT_PREFIX_PATH`` prefix (colcon) and ``sys.prefix`` (pip) in
``share/anchor_reloc_ros/``.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import ConfigError

PACKAGE = "anchor_reloc_ros"
BUNDLED_WEIGHTS = Path("weights/street_demo.safetensors")
BUNDLED_BAG = Path("demo/street_test_bag")


def search_roots() -> list[Path]:
    """Where bundled files may live: the checkout, then the installed share directories."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return [Path(__file__).resolve().parents[2],
            *(Path(p) / "share" / PACKAGE for p in (*prefixes, sys.prefix))]


def locate(relative: Path, what: str, option: str, roots: Sequence[Path] | None = None) -> Path:
    """The first ``root / relative`` that exists; an error naming every place tried."""
    tried = [Path(root) / relative for root in (search_roots() if roots is None else roots)]
    for path in tried:
        if path.exists():
            return path
    raise ConfigError(f"the bundled {what} {relative} is missing (looked for "
                      f"{', '.join(str(p) for p in tried)}); pass {option} PATH")
