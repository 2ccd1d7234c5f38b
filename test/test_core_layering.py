"""core/ and data/ (and training/evaluation) never import rclpy."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_and_data_do_not_import_rclpy() -> None:
    code = (
        "import sys, pkgutil, importlib\n"
        "import anchor_reloc_ros.core, anchor_reloc_ros.data, anchor_reloc_ros.training, anchor_reloc_ros.evaluation\n"
        "for pkg in (anchor_reloc_ros.core, anchor_reloc_ros.data, anchor_reloc_ros.training, anchor_reloc_ros.evaluation):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m == 'rclpy' or m.startswith('rclpy.'))\n"
        "print('LOADED', len(sys.modules)); assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED" in proc.stdout


def test_no_source_file_in_core_or_data_imports_rclpy() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+rclpy\b", re.MULTILINE)
    offenders = [p for d in ("core", "data", "training", "evaluation")
                 for p in (ROOT / "anchor_reloc_ros" / d).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def _package_imports() -> dict[str, set[str]]:
    """Subpackage -> the other subpackages its modules import (relative ``from ..x`` imports)."""
    pattern = re.compile(r"^\s*from\s+\.\.(\w+)", re.MULTILINE)
    graph: dict[str, set[str]] = {}
    for pkg in (p for p in (ROOT / "anchor_reloc_ros").iterdir() if (p / "__init__.py").exists()):
        found = {m for f in pkg.rglob("*.py") for m in pattern.findall(f.read_text())}
        graph[pkg.name] = {m for m in found if m != pkg.name and (ROOT / "anchor_reloc_ros" / m).is_dir()}
    return graph


def test_no_import_cycle_between_subpackages() -> None:
    graph = _package_imports()
    assert graph["core"] == set(), graph["core"]
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != "open", "import cycle: " + " -> ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
