#!/usr/bin/env bash
# Score the bundled street weights on street walks nobody trained, calibrated or tuned on:
# for each walk seed, render a new test walk through the bundled street scene
# (make-scene --walk-seed), record it as a rosbag2 with drifting odometry (make-bag
# --odom-drift), and run bag-eval with the gate at its defaults (the odometry vote on).
#   bash scripts/heldout_walks.sh                # walk seeds 1 2, output in ./heldout_out/
#   bash scripts/heldout_walks.sh 3 4 5          # other walk seeds
# About 1.5 min per walk on 2 cores. Each walk's summary.json and report land in heldout_out/walkN/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
AR="$ROOT/.venv/bin/anchor-reloc"
OUT="${HELDOUT_OUT:-heldout_out}"
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(1 2)
mkdir -p "$OUT"
for seed in "${SEEDS[@]}"; do
    walk="$OUT/walk$seed"
    rm -rf "$walk"
    # --train-frames 2: only the new test walk is scored; the train walk does not change it
    "$AR" make-scene --preset street --walk-seed "$seed" --train-frames 2 --val-frames 0 --out "$walk/scene" >/dev/null
    "$AR" make-bag --data "$walk/scene" --split test --compressed --odom-drift --out "$walk/bag" >/dev/null
    "$AR" bag-eval "$walk/bag" --weights "$ROOT/weights/street_demo.safetensors" \
        --image-topic /camera/image_raw/compressed --gt-topic /ground_truth/pose --no-plots \
        --out "$walk/eval" | tee "$walk/report.txt" | grep -E "^(median error|within|covariance|gate)" \
        | sed "s/^/walk $seed: /"
done
