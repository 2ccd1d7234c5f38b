"""``make_localizer``: a weights file + a backend name -> a ready ``Localizer``.

* ``.safetensors`` checkpoints run on eager torch (``backend`` auto or torch), with
  optional CUDA graphs and an explicit CPU thread count.
* ``.onnx`` exports (``anchor-reloc export``) run on ONNX Runtime: ``auto`` and
  ``onnxruntime`` pick the CUDA provider when usable, else the CPU provider;
  ``tensorrt`` uses ORT's TensorRT provider and fails clearly without it.

``InferenceOptions`` bundles the run-time choices the CLIs share (backend, device,
fp16, CPU threads, CUDA graphs); ``tools.inference_args`` fills it from argparse.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from .backends import BACKEND_CHOICES, InferenceBackend, TorchBackend
from .checkpoint import load_checkpoint, read_metadata
from .errors import ConfigError
from .localizer import Localizer
from .onnx_backend import OnnxBackend, select_providers
from .onnx_export import onnx_checkpoint_contents, read_onnx_metadata
from .torch_fast import CudaGraphBackend, set_cpu_threads

log = logging.getLogger(__name__)
ONNX_SUFFIX = ".onnx"


def is_onnx_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ONNX_SUFFIX


def read_weights_metadata(path: str | Path) -> dict:
    """The metadata JSON of a checkpoint or an ONNX export (no model is built)."""
    return read_onnx_metadata(path) if is_onnx_path(path) else read_metadata(Path(path))


def _check_backend(backend: str, path: Path) -> None:
    if backend not in BACKEND_CHOICES:
        raise ConfigError(f"backend must be one of {BACKEND_CHOICES}, got {backend!r}")
    if not is_onnx_path(path) and backend not in ("auto", "torch"):
        raise ConfigError(f"backend={backend} runs exported ONNX models, but {path} is a torch checkpoint; "
                          f"export it first: anchor-reloc export --weights {path} --format onnx --out MODEL.onnx")
    if is_onnx_path(path) and backend == "torch":
        raise ConfigError(f"backend=torch needs a .safetensors checkpoint, got the ONNX export {path}; "
                          "use backend=onnxruntime (or auto)")


def make_localizer(path: str | Path, backend: str = "auto", device: str = "auto", fp16: bool = False,
                   decode: str = "argmax", top_k: int = 3, max_batch: int = 32, threads: int = 0,
                   cuda_graphs: bool = False) -> Localizer:
    """A Localizer for ``path`` on ``backend``.

    ``threads``: CPU threads (torch's process-wide setting, or ORT's session option);
    0 keeps the library default. ``fp16``: half precision on CUDA (torch) or TensorRT
    (an fp16 ONNX export runs fp16 on any provider). ``cuda_graphs``: replay the torch
    forward as CUDA graphs (CUDA only; lowest batch-1 latency).
    """
    path = Path(path)
    _check_backend(backend, path)
    if is_onnx_path(path):
        contents = onnx_checkpoint_contents(path)
        kind = "tensorrt" if backend == "tensorrt" else "onnxruntime"
        engine: InferenceBackend = OnnxBackend(path, select_providers(kind, device, fp16, path.parent / ".trt_cache"),
                                               threads=threads)
        fixed = contents.metadata.get("onnx", {}).get("batch")
        if fixed:
            max_batch = min(max_batch, int(fixed))
    else:
        set_cpu_threads(threads)
        contents = load_checkpoint(path)
        engine = TorchBackend(contents.model, device, fp16)
        if cuda_graphs and engine.device.type == "cuda":
            engine = CudaGraphBackend(engine)
        elif cuda_graphs:
            log.info("cuda_graphs ignored: the model runs on %s", engine.device)
    return Localizer(contents, device=device, fp16=fp16, decode=decode, top_k=top_k, max_batch=max_batch,
                     source=str(path), backend=engine)


@dataclass(frozen=True)
class InferenceOptions:
    """How a tool runs its model; ``threads`` 0 keeps the library default."""

    backend: str = "auto"
    device: str = "auto"
    fp16: bool = False
    threads: int = 0
    cuda_graphs: bool = False

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0, got {self.threads}")

    def check(self, weights: str | Path) -> None:
        """Raise ``ConfigError`` for a bad backend/weights combination before anything heavy runs."""
        _check_backend(self.backend, Path(weights))

    def localizer(self, weights: str | Path, decode: str = "argmax", top_k: int = 3,
                  max_batch: int = 32) -> Localizer:
        return make_localizer(weights, self.backend, self.device, self.fp16, decode, top_k, max_batch,
                              self.threads, self.cuda_graphs)
