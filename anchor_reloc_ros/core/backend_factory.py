"""``make_localizer``: a weights file + a backend name -> a ready ``Localizer``.

* ``.safetensors`` checkpoints run on eager torch (``backend`` auto or torch), with
  optional CUDA graphs and an explicit CPU thread count.
* ``.onnx`` exports (``anchor-reloc export``) run on ONNX Runtime: ``auto`` and
  ``onnxruntime`` pick the CUDA provider when usable, else the CPU provider;
  ``tensorrt`` uses ORT's TensorRT provider and fails clearly without it.

Its defaults are those of ``InferenceOptions`` (``core.inference_options``, re-exported
here), the one definition of these options.
"""
from __future__ import annotations

import logging
from pathlib import Path

from .backends import InferenceBackend, TorchBackend
from .checkpoint import load_checkpoint, read_metadata
from .decoding import DecodeOptions
from .inference_options import InferenceOptions, check_backend, is_onnx_path
from .localizer import Localizer
from .onnx_backend import OnnxBackend, select_providers
from .onnx_export import onnx_checkpoint_contents, read_onnx_metadata
from .torch_fast import CudaGraphBackend, set_cpu_threads

__all__ = ["InferenceOptions", "is_onnx_path", "make_localizer", "read_weights_metadata"]
log = logging.getLogger(__name__)


def read_weights_metadata(path: str | Path) -> dict:
    """The metadata JSON of a checkpoint or an ONNX export (no model is built)."""
    return read_onnx_metadata(path) if is_onnx_path(path) else read_metadata(Path(path))


def make_localizer(path: str | Path, backend: str = InferenceOptions.backend,
                   device: str = InferenceOptions.device, fp16: bool = InferenceOptions.fp16,
                   decode: str = DecodeOptions.mode, top_k: int = DecodeOptions.top_k, max_batch: int = 32,
                   threads: int = InferenceOptions.threads,
                   cuda_graphs: bool = InferenceOptions.cuda_graphs, views: int = DecodeOptions.views) -> Localizer:
    """A Localizer for ``path`` on ``backend``.

    ``threads``: CPU threads (torch's process-wide setting, or ORT's session option);
    0 keeps the library default. ``fp16``: half precision on CUDA (torch) or TensorRT
    (an fp16 ONNX export runs fp16 on any provider). ``cuda_graphs``: replay the torch
    forward as CUDA graphs (CUDA only; lowest batch-1 latency).
    """
    path = Path(path)
    check_backend(backend, path)
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
                     source=str(path), backend=engine, views=views)
