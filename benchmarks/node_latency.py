"""Node benchmark (image published -> pose received over real DDS); see
``anchor_reloc_ros.benchmarks.node_latency`` for what it measures.

    .venv/bin/python benchmarks/node_latency.py                    # random mobilenet_v3_large, 320x240
    .venv/bin/python benchmarks/node_latency.py --weights weights/street_demo.safetensors --size 640x480
"""
from anchor_reloc_ros.benchmarks.node_latency import main

if __name__ == "__main__":
    raise SystemExit(main())
