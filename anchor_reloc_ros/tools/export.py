"""``anchor-reloc export``: a checkpoint -> an ONNX file that carries its own metadata."""
from __future__ import annotations

import argparse
from pathlib import Path

EXPORT_FORMATS = ("onnx",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX (for ONNX Runtime / TensorRT)",
                       description="Export WEIGHTS to FILE.onnx with the checkpoint metadata inside, so "
                                   "the node and bag-eval can load the .onnx alone. For a TensorRT engine "
                                   "see docs/deployment.md (trtexec --onnx=FILE.onnx --fp16).")
    p.add_argument("--weights", type=Path, required=True, metavar="CKPT", help="a .safetensors checkpoint")
    p.add_argument("--format", default="onnx", choices=EXPORT_FORMATS)
    p.add_argument("--out", type=Path, required=True, metavar="FILE.onnx")
    p.add_argument("--fp16", action="store_true", help="half-precision weights (float32 input and outputs)")
    p.add_argument("--batch", type=int, default=0, help="fixed batch size (0 = dynamic batch axis)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's tested one)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..core.errors import ConfigError
    from ..core.onnx_export import DEFAULT_OPSET, export_onnx

    if args.batch < 0:
        raise ConfigError(f"--batch must be >= 0, got {args.batch}")
    out = export_onnx(args.weights, args.out, fp16=args.fp16, batch=args.batch or None,
                      opset=args.opset or DEFAULT_OPSET)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0
