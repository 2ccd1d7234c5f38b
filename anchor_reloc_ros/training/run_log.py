"""Per-epoch log: ``metrics.csv`` always, TensorBoard when it is installed."""
from __future__ import annotations

import csv
import math
from pathlib import Path


class RunLog:
    def __init__(self, out: Path, keep_epochs: int = 0) -> None:
        """``keep_epochs``: on resume, keep the rows of epochs 1..keep_epochs only."""
        self.path = Path(out) / "metrics.csv"
        self.rows: list[dict] = []
        if keep_epochs > 0 and self.path.exists():
            with open(self.path, newline="") as fh:
                self.rows = [r for r in csv.DictReader(fh) if int(float(r["epoch"])) <= keep_epochs]
        self._tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(out) / "tensorboard"))
        except ImportError:
            pass  # TensorBoard is optional; the CSV is the record

    def write(self, row: dict, flush: bool = True) -> None:
        """Record an epoch; ``flush`` rewrites metrics.csv (done with each checkpoint, so the
        CSV never lists epochs that a resumed run would repeat)."""
        self.rows.append(row)
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch" and math.isfinite(v):
                    self._tb.add_scalar(k, v, int(row["epoch"]))
        if not flush:
            return
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        keys.sort(key=lambda k: (k != "epoch", k))
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
