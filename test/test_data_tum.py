"""TUM trajectory read/write: xyzw <-> wxyz order, comments, errors, round trip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anchor_reloc_ros.core.errors import DatasetError
from anchor_reloc_ros.data.tum import read_tum, write_tum


def test_reads_xyzw_order_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_bytes(
        b"# ground truth trajectory\r\n"
        b"# timestamp tx ty tz qx qy qz qw\r\n"
        b"\r\n"
        b"1305031102.175304 1.5\t-2 3 0.1 0.2 0.3 0.9  # trailing comment\r\n"
        b"1305031102.185304,1,2,3,0,0,0,-2\r\n"
    )
    t, p, q = read_tum(path)
    assert t.shape == (2,) and p.shape == (2, 3) and q.shape == (2, 4)
    assert t[0] == pytest.approx(1305031102.175304, abs=1e-6)
    np.testing.assert_allclose(p[0], [1.5, -2.0, 3.0])
    expected = np.array([0.9, 0.1, 0.2, 0.3]) / np.linalg.norm([0.9, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(q[0], expected)  # w first now
    np.testing.assert_allclose(q[1], [1.0, 0.0, 0.0, 0.0])  # normalised, w >= 0


@pytest.mark.parametrize("line, message", [
    ("1 2 3 4 0 0 0", "expected 8 fields"),
    ("1 2 3 4 0 0 0 1 5", "expected 8 fields"),
    ("1 2 3 four 0 0 0 1", "must be numbers"),
    ("1 2 3 4 0 0 0 inf", "must be finite"),
    ("1 2 3 4 0 0 0 0", "zero length"),
])
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "traj.tum"
    path.write_text(f"# header\n0 0 0 0 0 0 0 1\n{line}\n")
    with pytest.raises(DatasetError, match=message) as info:
        read_tum(path)
    assert f"{path}:3:" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="TUM trajectory not found"):
        read_tum(tmp_path / "nope.txt")


def test_empty_file_gives_empty_arrays(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("# nothing\n\n")
    t, p, q = read_tum(path)
    assert t.shape == (0,) and p.shape == (0, 3) and q.shape == (0, 4)


def test_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    t = 1.7e9 + np.cumsum(rng.uniform(0.01, 0.05, size=50))
    p = rng.normal(scale=100.0, size=(50, 3))
    q = rng.normal(size=(50, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    path = tmp_path / "sub" / "out.tum"
    write_tum(path, t, p, q)
    first_row = path.read_text().splitlines()[1].split()
    # file order is x y z w
    np.testing.assert_allclose([float(v) for v in first_row[4:]], np.roll(q[0], -1) * np.sign(q[0, 0]), atol=1e-11)
    t2, p2, q2 = read_tum(path)
    np.testing.assert_array_equal(t2, t)
    np.testing.assert_allclose(p2, p, atol=1e-9)
    np.testing.assert_allclose(np.abs(np.sum(q2 * q, axis=1)), 1.0, atol=1e-12)


def test_write_rejects_mismatched_lengths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 timestamps, 1 positions"):
        write_tum(tmp_path / "x.tum", np.zeros(2), np.zeros((1, 3)), np.array([[1.0, 0, 0, 0]]))
