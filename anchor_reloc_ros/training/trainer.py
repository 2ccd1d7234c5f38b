"""The training loop: ``train(config) -> Path`` of the best checkpoint.

Each epoch ends with validation on held-out training frames, a CSV row, an atomic
``last.safetensors`` + ``train_state.pt`` and, when validation improved,
``best.safetensors``. A killed run restarted with ``resume=True`` continues from the
last finished epoch with the same weights, optimiser, scheduler, GradScaler and torch
generators (CPU, and CUDA when training there); shuffling and augmentation are seeded
per epoch, so they need no saved state.
"""
from __future__ import annotations

import copy
import io
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..core.checkpoint import atomic_write_bytes, save_checkpoint
from ..core.decoding import DecodeOptions, Decoder, UncertaintyCalibration
from ..core.device import resolve_device
from ..core.errors import CheckpointError, ConfigError
from ..core.loss import LossWeights, reloc_loss
from ..core.metrics import pose_errors, summarize_errors
from ..core.model import ModelConfig, RelocNet
from ..core.preprocessing import to_network_input
from ..data.augment import AugmentParams, Augmenter
from .calibration import calibrate
from .config import TrainConfig
from .distributed import current_context
from .feature_cache import cache_summary, cache_key, compute_features, encode_views, load_or_compute
from .mixed_precision import MixedPrecision
from .prepare import PreparedData, prepare_data
from .run_log import RunLog
from .stage_cache import StagedBackbone
from .weight_average import WeightAverage

log = logging.getLogger(__name__)
TEMPERATURES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
STATE_FILE = "train_state.pt"
MIN_SELECTION_FRAMES = 20  # validation frames needed before "best" is chosen on them
AUTO_VIEW_SAMPLES = 2000  # auto cached views: about this many augmented samples in all
AUTO_VIEWS_RANGE = (4, 20)


def cached_view_count(config: TrainConfig, n_train: int) -> int:
    """Augmented copies of every training image cached with --freeze-backbone.

    Small sets get more views (up to 20), so the heads see ~2000 augmented samples.
    """
    if not config.augment:
        return 0
    if config.feature_cache_augmentations is not None:
        return config.feature_cache_augmentations
    lo, hi = AUTO_VIEWS_RANGE
    return int(min(hi, max(lo, math.ceil(AUTO_VIEW_SAMPLES / max(n_train, 1)))))


def planned_epochs(config: TrainConfig, steps_per_epoch: int) -> int:
    """``--epochs``, raised with cached inputs (--freeze-backbone, --train-stages) until
    ``--min-steps`` optimiser steps fit.

    Epochs alone under-train small sets: 60 epochs of 58 images in batches of 32 are
    120 steps, while the heads need ~1000-2000 to converge.
    """
    if not (config.freeze_backbone or config.train_stages) or config.min_steps <= 0:
        return config.epochs
    return max(config.epochs, math.ceil(config.min_steps / max(steps_per_epoch, 1)))


class _AugmentedImages(Dataset):
    """Cached uint8 images -> (augmented image HWC uint8, index); seeded per worker/epoch."""

    def __init__(self, images: np.ndarray, params: AugmentParams | None, seed: int) -> None:
        self.images = images
        self.params = params
        self.seed = seed
        self.augmenter: Augmenter | None = None

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self.augmenter = None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self.images[i]
        if self.params is not None:
            if self.augmenter is None:
                info = torch.utils.data.get_worker_info()
                self.augmenter = Augmenter(self.params, seed=self.seed * 1000 + (info.id if info else 0))
            image = self.augmenter(image)
        return torch.from_numpy(np.ascontiguousarray(image)), i


@dataclass
class _Validation:
    summary: dict[str, float]
    calibration: UncertaintyCalibration
    fusion_summary: dict[str, float] | None


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))


def _make_optimizer(model: RelocNet, config: TrainConfig,
                    stages: StagedBackbone | None = None) -> torch.optim.Optimizer:
    groups = [{"params": model.head_parameters(), "lr": config.lr}]
    if stages is not None:  # --train-stages: only the suffix learns, at the backbone rate
        groups.append({"params": stages.suffix_parameters(), "lr": config.lr * config.backbone_lr_scale})
    elif not config.freeze_backbone:
        groups.append({"params": list(model.backbone.parameters()), "lr": config.lr * config.backbone_lr_scale})
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def _make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
                    epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    if config.lr_step > 0:
        return torch.optim.lr_scheduler.StepLR(optimizer, config.lr_step, config.lr_gamma)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=config.lr * 0.01)


class Trainer:
    def __init__(self, config: TrainConfig, progress: bool = True) -> None:
        config.validate()
        self.config = config
        self.progress = progress
        self.out = Path(config.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        self.device = resolve_device(config.device)
        self.precision = MixedPrecision.for_device(self.device, config.amp)
        self.dist = current_context()  # rank 0 of 1 unless launched by torchrun (tools/train_ddp.py)
        resume_meta = self._resume_metadata()
        _seed_everything(config.seed)
        self.data: PreparedData = prepare_data(config, anchors_from=resume_meta)
        n_anchors = self.data.anchors.count if self.data.anchors is not None else 0
        self.model_config = ModelConfig(config.backbone, config.head, n_anchors, config.anchor_dims,
                                        config.head_hidden, config.dropout, config.trunk,
                                        feature_norm=config.feature_norm and (config.pretrained or config.freeze_backbone
                                                                          or config.train_stages > 0))
        cached = config.freeze_backbone or config.train_stages > 0
        rows = len(self.data.train_frames) * (1 + cached_view_count(config, len(self.data.train_frames))
                                              if cached else 1)
        self.epochs = planned_epochs(config, math.ceil(rows // self.dist.world_size / config.batch_size))
        self.model = RelocNet(self.model_config, pretrained=config.pretrained and resume_meta is None).to(self.device)
        self.weights = LossWeights(config.alpha1, config.alpha2, config.alpha3, config.label_smoothing)
        self.decoder = Decoder(self.data.frame,
                               self.data.anchors.positions_route if self.data.anchors else np.zeros((0, 3)),
                               config.anchor_dims, UncertaintyCalibration())
        self.augment_params = AugmentParams() if config.augment else None
        if config.train_stages and self.dist.distributed:
            raise ConfigError("--train-stages trains in one process; run it without torchrun")
        self.stages = StagedBackbone(self.model, config.train_stages) if config.train_stages else None
        self.optimizer = _make_optimizer(self.model, config, self.stages)
        self.scheduler = _make_scheduler(self.optimizer, config, self.epochs)
        self.start_epoch = 0
        self.best_metric = math.inf
        self.best_epoch = -1
        if resume_meta is not None:
            self._load_state()
        self.features = self._prepare_features() if cached else None
        # Fewer than MIN_SELECTION_FRAMES validation frames make "best" a coin toss (a median
        # over 4 frames): best.safetensors is then the latest, converged model.
        self._best_is_latest = 0 < len(self.data.val_frames) < MIN_SELECTION_FRAMES
        if resume_meta is None:  # a resumed model already holds its feature statistics
            self._init_feature_stats()
        self.ema = self._make_weight_average(resume_meta is not None)
        # DDP under torchrun (training/distributed.py); a plain wrapper otherwise.
        self.step_model = self.dist.wrap(self.model, heads_only=config.freeze_backbone)
        self.run_log = RunLog(self.out, keep_epochs=self.start_epoch) if self.dist.is_main else None

    # --- resume ---------------------------------------------------------------------
    def _resume_metadata(self) -> dict | None:
        state = self.out / STATE_FILE
        if not self.config.resume:
            if state.exists():
                raise ConfigError(f"{self.out} already holds a training run ({state}); "
                                  "pass --resume to continue it or choose another --out")
            return None
        if not state.exists():
            log.warning("--resume: no %s yet, starting a new run", state)
            return None
        self._state = self._read_state(state)
        saved = json.loads(self._state["metadata_json"])
        if saved["training"]["data"] != str(self.config.data):
            raise ConfigError(f"--resume: {state} was trained on {saved['training']['data']}, "
                              f"not {self.config.data}")
        return saved

    @staticmethod
    def _read_state(path: Path) -> dict:
        """The saved state, with every key a resume reads; ``CheckpointError`` naming the file for
        anything else (random bytes, a foreign pickle, a truncated or hand-edited file)."""
        keys = ("model", "optimizer", "scheduler", "epoch", "best_metric", "best_epoch", "torch_rng",
                "metadata_json")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            missing = [k for k in keys if k not in state] if isinstance(state, dict) else list(keys)
            if missing:
                raise KeyError(f"no {', '.join(missing)}")
            str(json.loads(state["metadata_json"])["training"]["data"])
        except Exception as exc:  # noqa: BLE001 - torch.load raises anything (IndexError, UnpicklingError, ...)
            raise Trainer._state_error(path, "is corrupt or not a training state", exc) from None
        return state

    @staticmethod
    def _state_error(path: Path, problem: str, exc: Exception) -> CheckpointError:
        """One clear line; never the library's advice to load the file with weights_only=False."""
        import pickle

        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        if isinstance(exc, pickle.UnpicklingError) or "weights_only" in detail:
            detail = "not plain tensors and numbers, and never unpickled"
        reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        return CheckpointError(f"cannot resume: training state {path} {problem} ({reason}); delete it to "
                               "start the run over, or train into another --out")

    def _load_state(self) -> None:
        s = self._state
        try:
            self.model.load_state_dict(s["model"])
            self.optimizer.load_state_dict(s["optimizer"])
            self.scheduler.load_state_dict(s["scheduler"])
            self.start_epoch = int(s["epoch"]) + 1
            self.best_metric = float(s["best_metric"])
            self.best_epoch = int(s["best_epoch"])
            torch.set_rng_state(s["torch_rng"])
            if s.get("cuda_rng") and self.device.type == "cuda":
                torch.cuda.set_rng_state_all(s["cuda_rng"])
            self.precision.load_state_dict(s.get("grad_scaler", {}))
        except Exception as exc:  # noqa: BLE001 - shapes, types, keys: all mean "not this run's state"
            raise self._state_error(self.out / STATE_FILE, "does not fit this run's model and options", exc) from None
        log.info("resumed from epoch %d", self.start_epoch)

    def _make_weight_average(self, resumed: bool) -> WeightAverage | None:
        """The EMA of the weights (``--ema-decay``), restored from the state on ``--resume``."""
        if self.config.ema_decay <= 0:
            return None
        ema = WeightAverage(self.model, self.config.ema_decay)
        if resumed and "ema" in self._state:
            try:
                ema.load_state_dict(self._state["ema"])
            except Exception as exc:  # noqa: BLE001 - shapes, keys: not this run's average
                raise self._state_error(self.out / STATE_FILE, "holds a weight average that does not fit "
                                        "this model", exc) from None
        elif resumed:
            log.warning("--resume: %s holds no weight average; it starts from the resumed weights",
                        self.out / STATE_FILE)
        return ema

    @property
    def evaluated_model(self) -> RelocNet:
        """The weights validated and written to best/last: the EMA's with ``--ema-decay``."""
        return self.ema.model if self.ema is not None else self.model  # type: ignore[return-value]

    def _save_state(self, epoch: int, metadata: dict) -> None:
        buf = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
                    "scheduler": self.scheduler.state_dict(), "epoch": epoch,
                    "best_metric": self.best_metric, "best_epoch": self.best_epoch,
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                    "grad_scaler": self.precision.state_dict(), "metadata_json": json.dumps(metadata)}, buf)
        atomic_write_bytes(self.out / STATE_FILE, buf.getvalue())

    # --- frozen features ------------------------------------------------------------
    def _init_feature_stats(self) -> None:
        """Feature standardisation from the training images (all cached views when frozen)."""
        if not self.model_config.feature_norm:
            return
        if self.stages is not None:  # pooled features of the initial suffix output
            feats = self.stages.pooled_features(self.features["train"].flatten(0, 1), self.device)
        elif self.features is not None:
            feats = self.features["train"].flatten(0, 1)
        else:
            feats = compute_features(self.model, self.data.train_images, self.device)
        self.model.set_feature_stats(feats.to(self.device))

    def _prepare_features(self) -> dict[str, torch.Tensor]:
        """Pooled features (--freeze-backbone) or prefix activations (--train-stages) of every view."""
        c = self.config
        copies = cached_view_count(c, len(self.data.train_frames))
        parts = {"fingerprint": self.data.fingerprint, "backbone": c.backbone, "pretrained": c.pretrained,
                 "size": list(c.image_size), "copies": copies, "seed": c.seed, "val_every": c.val_every,
                 "val_source": c.val_source,
                 "augment": asdict(self.augment_params) if self.augment_params else None}
        encode = lambda images, aug=None: compute_features(self.model, images, self.device, aug)  # noqa: E731
        path = c.feature_cache or self.out / "feature_cache.safetensors"
        if self.stages is not None:
            parts["train_stages"] = c.train_stages
            encode = lambda images, aug=None: self.stages.activations(images, self.device, aug)  # noqa: E731
            path = c.feature_cache or self.out / "stage_cache.safetensors"
        computed: list[bool] = []

        label = "feature cache" if self.stages is None else "stage cache"

        def compute() -> dict[str, torch.Tensor]:
            from tqdm import tqdm

            computed.append(True)
            with tqdm(total=copies + 2, desc=f"{label} ({path.name})", unit="view",
                      disable=not self.progress) as bar:  # clean + augmented train views, val
                train = encode_views(encode, self.data.train_images, self.augment_params, copies, c.seed,
                                     bar.update)
                val = encode(self.data.val_images)
                bar.update()
            return {"train": train, "val": val}

        t0 = time.perf_counter()
        with self.dist.main_first():  # rank 0 computes and writes the cache, the others read it
            tensors = load_or_compute(path, cache_key(parts), compute)
        if self.progress and self.dist.is_main:
            print(cache_summary(label, tensors, time.perf_counter() - t0, loaded=not computed), flush=True)
        return tensors

    # --- one epoch ------------------------------------------------------------------
    def _train_epoch(self, epoch: int) -> dict[str, float]:
        from tqdm import tqdm

        self.model.train()
        if self.config.freeze_backbone:
            self.model.backbone.eval()
        if self.stages is not None:
            self.stages.train_mode()
        targets = self.data.train_targets
        sums: dict[str, float] = {}
        steps = 0
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        if self.features is not None:
            # One epoch visits every cached view of every frame once, in random order.
            n, n_views = len(targets), self.features["train"].shape[0]
            flat = self.dist.shard(torch.randperm(n * n_views, generator=generator))
            order, views = flat % n, flat // n
            batches = [(None, order[s:s + self.config.batch_size], views[s:s + self.config.batch_size])
                       for s in range(0, len(flat), self.config.batch_size)]
        else:
            dataset = _AugmentedImages(self.data.train_images, self.augment_params,
                                       self.dist.rank_seed(self.config.seed * 7919 + epoch))
            sampler = self.dist.sampler(dataset, self.config.seed, epoch)
            share = len(sampler) if sampler is not None else len(dataset)
            batches = DataLoader(dataset, batch_size=self.config.batch_size, shuffle=sampler is None,
                                 sampler=sampler, generator=generator,
                                 num_workers=self.config.workers, drop_last=share > self.config.batch_size)
        # Frozen-feature epochs take milliseconds: one bar over the epochs (run()) instead.
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                   disable=not self.progress or (self.features is not None and self.stages is None), unit="batch")
        for item in bar:
            if self.features is not None:
                _, idx, view = item
                feats = self.features["train"][view, idx].to(self.device)
                # --train-stages: suffix -> pool on cached prefix activations, then the heads.
                pool = self.stages.pool if self.stages is not None else (lambda f: f)
                forward = lambda: self.step_model(pool(feats), features=True)  # noqa: E731
            else:
                images, idx = item
                x = to_network_input(images, self.device, torch.float32,
                                     channels_last=self.device.type == "cuda")
                forward = lambda: self.step_model(x)  # noqa: E731
            batch_targets = {k: v.to(self.device) for k, v in targets.batch(idx).items()}
            with self.precision.autocast():
                outputs = forward()
            loss, parts = reloc_loss({k: v.float() for k, v in outputs.items()}, batch_targets, self.weights)
            self.optimizer.zero_grad(set_to_none=True)
            self.precision.backward_and_step(loss, self.optimizer)
            if self.ema is not None:
                self.ema.update(self.model)
            steps += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix(loss=f"{parts['total']:.4f}")
        self.scheduler.step()
        return {f"train_{k}": v / max(steps, 1) for k, v in sums.items()}

    # --- validation -----------------------------------------------------------------
    @torch.inference_mode()
    def _val_outputs(self) -> dict[str, torch.Tensor]:
        self.model.eval()
        if self.stages is not None:
            return self.model.heads(self.stages.pooled_features(self.features["val"], self.device))
        if self.features is not None:
            return self.model.heads(self.features["val"].to(self.device))
        outs: list[dict[str, torch.Tensor]] = []
        for s in range(0, len(self.data.val_images), 64):
            x = to_network_input(torch.from_numpy(self.data.val_images[s:s + 64]), self.device, torch.float32)
            outs.append(self.model(x))
        return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}

    def _validate(self) -> _Validation | None:
        if not self.data.val_frames:
            return None
        gt_p, gt_q = self._val_truth()
        outputs = self._val_outputs()
        summary = self._argmax_summary(outputs, gt_p, gt_q)
        fusion_summary = None
        temperature = 1.0
        if self.config.head == "anchor":
            # Pick the softmax temperature that makes top-k fusion best on validation.
            fusion = DecodeOptions("fusion")
            best = math.inf
            for t in TEMPERATURES:
                d = self.decoder.decode(outputs, fusion, UncertaintyCalibration(temperature=t))
                s = summarize_errors(*pose_errors(d.positions, d.quats_wxyz, gt_p, gt_q))
                if s["median_translation_m"] < best:
                    best, temperature, fusion_summary = s["median_translation_m"], t, s
        # calibrated for argmax with one view, the decode validated here (and so the one `auto`
        # decodes); another decode: `anchor-reloc calibrate --decode D --views V`
        calibration = calibrate(self.decoder, outputs, gt_p, gt_q, temperature, DecodeOptions("argmax", views=1))
        return _Validation(summary, calibration, fusion_summary)

    def _argmax_summary(self, outputs: dict[str, torch.Tensor], gt_p: np.ndarray, gt_q: np.ndarray
                        ) -> dict[str, float]:
        decoded = self.decoder.decode(outputs, DecodeOptions("argmax"), UncertaintyCalibration())
        return summarize_errors(*pose_errors(decoded.positions, decoded.quats_wxyz, gt_p, gt_q))

    def _val_truth(self) -> tuple[np.ndarray, np.ndarray]:
        frames = self.data.val_frames
        return np.stack([f.position for f in frames]), np.stack([f.quat_wxyz for f in frames])

    def _validate_raw(self) -> float:
        """With ``--ema-decay``: the trained (not averaged) weights' validation median, for the log."""
        return self._argmax_summary(self._val_outputs(), *self._val_truth())["median_translation_m"]

    # --- checkpoint -----------------------------------------------------------------
    def _metadata(self, epoch: int, validation: _Validation | None) -> dict:
        c = self.config
        calibration = validation.calibration if validation else UncertaintyCalibration()
        from ..core.backbones import get_backbone_spec

        spec = get_backbone_spec(c.backbone)
        metrics = {"epoch": epoch + 1}
        if validation:
            metrics["val_argmax"] = validation.summary
            if validation.fusion_summary:
                metrics["val_fusion"] = validation.fusion_summary
        return {
            "preprocessing": {"image_size": list(c.image_size), "mean": list(spec.mean), "std": list(spec.std),
                              "pixel_range": 255, "color": "RGB", "resize": "opencv_area"},
            "route_frame": self.data.frame.to_dict(),
            "anchors": self.data.anchor_metadata(),
            "calibration": calibration.to_dict(),
            "training": c.to_dict(),
            "augmentation": (self.augment_params.__dict__ if self.augment_params else None),
            "dataset": {"root": str(c.data), "format": self.data.dataset.format,
                        "fingerprint": self.data.fingerprint, "train_frames": len(self.data.train_frames),
                        "val_frames": len(self.data.val_frames), "val_source": self.data.val_source},
            "metrics": metrics,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def _write_checkpoints(self, epoch: int, metadata: dict) -> None:
        """last + resumable state now; best from its in-memory copy, or the model itself when
        best is the latest (all atomic)."""
        if self._pending_best is not None:
            best_model, best_meta = self._pending_best
            save_checkpoint(self.out / "best.safetensors", best_model, best_meta, half=self.config.save_half)
            self._pending_best = None
        elif self._best_is_latest:
            save_checkpoint(self.out / "best.safetensors", self.evaluated_model, metadata, half=self.config.save_half)
        save_checkpoint(self.out / "last.safetensors", self.evaluated_model, metadata, half=self.config.save_half)
        self._save_state(epoch, metadata)

    def _report_epoch(self, epoch: int) -> bool:
        """Print about 50 epoch lines per run (every epoch for short runs)."""
        every = max(1, self.epochs // 50)
        return (epoch + 1) % every == 0 or epoch + 1 == self.epochs

    def run(self) -> Path:
        """Train to the planned epoch; the path of best.safetensors."""
        threads = torch.get_num_threads()
        if self.features is not None and self.stages is None and self.config.threads == 0 \
                and self.device.type == "cpu":
            # Head-only steps are tiny matrix products: extra intra-op threads only add barrier
            # waits (on a loaded 2-core machine a step took ~0.8 s with 2 threads). Restored
            # afterwards, so a caller (benchmark latency, evaluation) keeps its own setting.
            torch.set_num_threads(1)
        try:
            return self._run()
        finally:
            torch.set_num_threads(threads)

    def _run(self) -> Path:
        best_path = self.out / "best.safetensors"
        self._pending_best = None
        last_save = time.monotonic()
        if self.progress and self.epochs != self.config.epochs:
            print(f"{self.epochs} epochs (--epochs {self.config.epochs} raised to reach "
                  f"--min-steps {self.config.min_steps})", flush=True)
        for epoch in range(self.start_epoch, self.epochs):
            t0 = time.perf_counter()
            row = self._train_epoch(epoch)
            if self.ema is not None:
                if self.data.val_frames:
                    row["val_raw_median_translation_m"] = self._validate_raw()
                with self.ema.swapped_into(self.model):
                    validation = self._validate()
            else:
                validation = self._validate()
            row["epoch"] = epoch + 1
            row["lr"] = self.optimizer.param_groups[0]["lr"]
            row["seconds"] = time.perf_counter() - t0
            if validation:
                row.update({f"val_{k}": v for k, v in validation.summary.items() if not k.startswith("frames")})
                if validation.fusion_summary:
                    row["val_fusion_median_translation_m"] = validation.fusion_summary["median_translation_m"]
                    row["val_temperature"] = validation.calibration.temperature
                metric = validation.summary["median_translation_m"]
            else:
                metric = row.get("train_total", math.inf)
            metadata = self._metadata(epoch, validation)
            if self._best_is_latest:  # written from the model itself with last (no copy per epoch)
                self.best_metric, self.best_epoch = metric, epoch
            elif metric <= self.best_metric or not (best_path.exists() or self._pending_best):
                self.best_metric, self.best_epoch = metric, epoch
                self._pending_best = (copy.deepcopy(self.evaluated_model).cpu(), metadata)
            # Checkpoints are written at most every save_every_s (and always at the end):
            # a kill loses at most that much work, and short epochs do not drown in I/O.
            if self.dist.is_main:  # one writer: every rank holds the same weights
                if time.monotonic() - last_save >= self.config.save_every_s or epoch + 1 == self.epochs:
                    # The CSV first: a kill between the two writes then leaves an extra row, which a
                    # resume drops (RunLog keep_epochs), never a missing one.
                    self.run_log.write(row, flush=True)
                    self._write_checkpoints(epoch, metadata)
                    last_save = time.monotonic()
                else:
                    self.run_log.write(row, flush=False)
            if self.progress and self._report_epoch(epoch):
                val = (f" val median {validation.summary['median_translation_m']:.3f} m "
                       f"{validation.summary['median_rotation_deg']:.2f} deg" if validation else "")
                print(f"epoch {epoch + 1}/{self.epochs} loss {row.get('train_total', float('nan')):.4f}"
                      f"{val} ({row['seconds']:.1f}s)", flush=True)
        if self.run_log is not None:
            self.run_log.close()
        if self.dist.is_main and self.data.val_frames:
            self._calibrate_ood([best_path, self.out / "last.safetensors"])
            self._choose_decode(best_path)
            self._add_committee(best_path)
        self.dist.barrier()  # no rank returns before rank 0 has written the checkpoints
        return best_path

    def _choose_decode(self, best_path: Path) -> None:
        """best.safetensors' decode, chosen on the dataset's own val split (``decode_choice``)."""
        from .decode_choice import MIN_FRAMES, choose_decode, format_choice

        if not (self.config.choose_decode and self.config.head == "anchor" and self.data.val_source == "split"
                and len(self.data.val_frames) >= MIN_FRAMES):
            return
        choice = choose_decode(best_path, self.config.data, str(self.device))
        if self.progress:
            print(format_choice(choice), flush=True)

    def _add_committee(self, best_path: Path) -> None:
        """``--committee-heads``: best.safetensors gets a committee and is recalibrated (``committee``)."""
        from .committee import add_committee_to_checkpoint
        from .committee_config import CommitteeConfig

        if not (self.config.committee_heads and self.config.head == "anchor"):
            return
        result = add_committee_to_checkpoint(best_path, self.config.data, best_path,
                                             CommitteeConfig(heads=self.config.committee_heads,
                                                             seed=self.config.seed), str(self.device))
        if self.progress:
            c = result.recalibration.calibration
            print(f"committee: {self.config.committee_heads} heads fitted to {best_path.name}, "
                  f"calibrated gain {c.committee_gain:g}", flush=True)

    def _calibrate_ood(self, paths: list[Path]) -> None:
        """The out-of-scene bank and its validation threshold, into the written checkpoints."""
        from .ood_calibration import calibrate_run_checkpoints

        # Cached pooled features only when the whole backbone was frozen; --train-stages caches
        # prefix activations, so each checkpoint's (partly trained) backbone recomputes them.
        cached = self.features["train"][0] if self.features is not None and self.stages is None else None
        ood = calibrate_run_checkpoints(paths, cached, self.data.train_images, self.data.val_images, self.device)
        if ood is not None and self.progress:
            print(f"out-of-scene threshold {ood.threshold:.4f} (the {ood.quantile:.0%} quantile of "
                  f"{ood.val_frames} validation frames)", flush=True)


def train(config: TrainConfig, progress: bool = True) -> Path:
    """Train a model and return the path of its best checkpoint."""
    return Trainer(config, progress).run()
