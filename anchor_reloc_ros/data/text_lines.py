"""Line-numbered reading of small text files, shared by the dataset readers.

Every reader reports problems as ``DatasetError("<file>:<line>: <what>")``; this module
is the one place that knows how to open a text file tolerantly (UTF-8 with or without a
BOM, LF / CRLF / CR line endings, tabs and trailing whitespace), how to turn tokens
into finite floats, a unit quaternion or a rotation matrix with such a message, and how
to keep a listed path inside the dataset folder (``path_inside``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import DatasetError
from ..core.geometry import orthonormalize


# Rotation blocks further than this (max |R^T R - I|) from orthonormal are rejected:
# that is a corrupt file, not a dataset's usual rounding.
MAX_ORTHO_DEVIATION = 0.05


@dataclass(frozen=True)
class TextLine:
    """One non-blank line: its file, 1-based physical line number and stripped text."""

    path: Path
    number: int
    text: str

    @property
    def fields(self) -> list[str]:
        """Whitespace-separated tokens (spaces and tabs alike)."""
        return self.text.split()

    @property
    def where(self) -> str:
        return f"{self.path}:{self.number}"

    def error(self, message: str) -> DatasetError:
        return DatasetError(f"{self.where}: {message}")


def read_text_lines(path: Path, *, comment: str | None = None, what: str = "file") -> list[TextLine]:
    """Non-blank lines of ``path``, stripped, keeping their physical line numbers.

    With ``comment`` set, everything from that character on is dropped first (so
    comment-only lines vanish). ``what`` names the file kind in the not-found message.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{what} not found: {path}")
    try:
        # newline=None (universal newlines) turns \r\n and lone \r into \n.
        with path.open("r", encoding="utf-8-sig", newline=None) as handle:
            raw = handle.read()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read {what} ({exc.strerror})") from exc
    lines: list[TextLine] = []
    for number, text in enumerate(raw.split("\n"), start=1):
        if comment is not None:
            text = text.split(comment, 1)[0]
        text = text.strip()
        if text:
            lines.append(TextLine(path, number, text))
    return lines


def parse_floats(line: TextLine, tokens: Sequence[str], what: str) -> np.ndarray:
    """Finite float64 array from ``tokens``; ``what`` names the values in the error."""
    try:
        values = np.array([float(tok) for tok in tokens], dtype=np.float64)
    except ValueError as exc:
        raise line.error(f"{what} must be numbers, got {' '.join(tokens)!r}") from exc
    if not np.all(np.isfinite(values)):
        raise line.error(f"{what} must be finite, got {' '.join(tokens)!r}")
    return values


def parse_unit_quat(line: TextLine, q_wxyz: np.ndarray) -> np.ndarray:
    """Normalised (w >= 0) copy of a parsed w-first quaternion; rejects (near) zero."""
    norm = float(np.linalg.norm(q_wxyz))
    if norm < 1e-6:
        raise line.error(f"quaternion has zero length: {q_wxyz.tolist()}")
    q = np.asarray(q_wxyz, dtype=np.float64) / norm
    return -q if q[0] < 0.0 else q


def parse_rotation(where: str, R: np.ndarray) -> np.ndarray:
    """Nearest proper rotation to a nearly orthonormal 3x3 block read at ``where``.

    A block far from orthonormal, or a mirror (det <= 0), is a
    ``DatasetError("<where>: rotation block is not a rotation ...")``.
    """
    R = np.asarray(R, dtype=np.float64)
    deviation = float(np.abs(R.T @ R - np.eye(3)).max())
    det = float(np.linalg.det(R))
    if deviation > MAX_ORTHO_DEVIATION or det <= 0.0:
        raise DatasetError(
            f"{where}: rotation block is not a rotation (max |R^T R - I| = {deviation:.3g}, det = {det:.3g})"
        )
    return orthonormalize(R)


def path_inside(root: Path, relative: str, line: TextLine, what: str = "path") -> Path:
    """``root / relative`` for a path read from ``line``; absolute paths and ``..``
    components are refused (``DatasetError`` naming the file and line), so a list file
    cannot make a reader open ``/etc/hostname``. Symlinks that the dataset's owner placed
    inside the folder (images kept on another disk) are followed as usual."""
    rel = Path(relative)
    if rel.is_absolute():
        raise line.error(f"{what} {relative!r} is absolute; list paths relative to {root}")
    if ".." in rel.parts:
        raise line.error(f"{what} {relative!r} leaves the dataset folder {root} ('..' is not allowed)")
    return Path(root) / rel
