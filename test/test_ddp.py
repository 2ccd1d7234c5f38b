"""DDP smoke test: 2 CPU processes with gloo (torchrun) stay in sync and match one process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anchor_reloc_ros.training import trainer as trainer_module
from anchor_reloc_ros.training.distributed import DistContext, current_context

WORKER = Path(__file__).with_name("ddp_worker.py")
TRAINER_HOOKED = hasattr(trainer_module, "current_context")


@pytest.fixture(scope="module")
def ddp_run(strip_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], str]:
    out = tmp_path_factory.mktemp("ddp")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER),
           "--out", str(out)]
    if TRAINER_HOOKED:
        cmd += ["--data", str(strip_dataset)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)], done.stdout


def test_two_gloo_ranks_stay_in_sync_and_match_one_process(ddp_run: tuple[Path, list[dict], str]) -> None:
    _, ranks, _ = ddp_run
    for r in ranks:
        assert r["world_size"] == 2
        assert r["divergence_before"] > 0.01       # different random starts...
        assert r["divergence_after"] == 0.0        # ...identical after DDP's broadcast + averaged steps
        assert r["moved"] > 1e-4                   # it really trained
        assert r["vs_single_process"] < 1e-5       # 2 x 4 images == 1 x 8 images


@pytest.mark.skipif(not TRAINER_HOOKED, reason="training/trainer.py does not call training/distributed.py yet")
def test_trainer_under_torchrun(ddp_run: tuple[Path, list[dict], str]) -> None:
    out, ranks, stdout = ddp_run
    assert [r["train_ddp_exit"] for r in ranks] == [0, 0]
    assert "ranks: 2 (gloo); max parameter difference between ranks: 0" in stdout
    run = out / "run"
    assert (run / "best.safetensors").is_file() and (run / "last.safetensors").is_file()
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs, one writer


def test_single_process_context_is_a_no_op() -> None:
    ctx = current_context()
    assert ctx == DistContext() and not ctx.distributed and ctx.is_main
    import torch

    order = torch.arange(7)
    assert torch.equal(ctx.shard(order), order) and ctx.rank_seed(5) == 5
    assert ctx.sampler(list(range(7)), seed=0, epoch=0) is None
    two = DistContext(rank=1, world_size=2)
    assert two.shard(order).tolist() == [1, 3, 5] and two.rank_seed(5) != 5
