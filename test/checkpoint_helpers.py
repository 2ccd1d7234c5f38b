"""Checkpoints with hand-edited metadata, for the tests of its validation."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable


def rewrite_metadata(src: Path, dst: Path, edit: Callable[[dict], None]) -> Path:
    """A copy of checkpoint ``src`` whose metadata JSON went through ``edit(meta)``."""
    raw = src.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    inner = json.loads(header["__metadata__"]["anchor_reloc"])
    edit(inner)
    header["__metadata__"]["anchor_reloc"] = json.dumps(inner)
    new_header = json.dumps(header).encode()
    new_header += b" " * ((8 - len(new_header) % 8) % 8)
    dst.write_bytes(len(new_header).to_bytes(8, "little") + new_header + raw[8 + n:])
    return dst


def set_field(dotted: str, value: Any) -> Callable[[dict], None]:
    """An ``edit`` that sets ``meta[a][b]...`` (``value(old)`` when callable)."""
    def edit(meta: dict) -> None:
        *parents, key = dotted.split(".")
        section = meta
        for name in parents:
            section = section[name]
        section[key] = value(section.get(key)) if callable(value) else value
    return edit
