"""Bag decode + resize throughput per thread count, without the network; see
``anchor_reloc_ros.benchmarks.decode_throughput`` for what it measures.

    .venv/bin/python benchmarks/decode_throughput.py                   # bundled demo bag -> 224x224
    .venv/bin/python benchmarks/decode_throughput.py --size 320x240 --json decode.json
"""
from anchor_reloc_ros.benchmarks.decode_throughput import main

if __name__ == "__main__":
    raise SystemExit(main())
