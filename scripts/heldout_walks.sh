#!/usr/bin/env bash
# Score the bundled street weights (or HELDOUT_WEIGHTS) on street walks nobody trained, calibrated or tuned on:
# for each walk seed, render a new test walk through the bundled street scene
# (make-scene --walk-seed), record it as a rosbag2 with drifting odometry (make-bag
# --odom-drift), and run bag-eval with the gate at its defaults (the odometry vote on).
#   bash scripts/heldout_walks.sh                # walk seeds 1 2, output in ./heldout_out/
#   bash scripts/heldout_walks.sh 3 4 5          # other walk seeds
#   HELDOUT_SPLIT=val bash scripts/heldout_walks.sh 11 12   # their val walks instead: drawn like
#       the test walk but without its test-only occluders, for tuning (never tune on test walks)
# About 1.5 min per walk on 2 cores. Each walk's summary.json and report land in heldout_out/walkN/
# (valwalkN/ for HELDOUT_SPLIT=val).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
AR="$ROOT/.venv/bin/anchor-reloc"
OUT="${HELDOUT_OUT:-heldout_out}"
SPLIT="${HELDOUT_SPLIT:-test}"
WEIGHTS="${HELDOUT_WEIGHTS:-$ROOT/weights/street_demo.safetensors}"   # another checkpoint of the street
case "$SPLIT" in
    test) FRAMES=(--val-frames 0); PREFIX=walk ;;
    val) FRAMES=(--test-frames 2 --val-frames 150); PREFIX=valwalk ;;
    *) echo "HELDOUT_SPLIT must be test or val, got $SPLIT" >&2; exit 2 ;;
esac
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(1 2)
mkdir -p "$OUT"
for seed in "${SEEDS[@]}"; do
    walk="$OUT/$PREFIX$seed"
    rm -rf "$walk"
    # --train-frames 2: only the new test walk is scored; the train walk does not change it
    "$AR" make-scene --preset street --walk-seed "$seed" --train-frames 2 "${FRAMES[@]}" --out "$walk/scene" >/dev/null
    "$AR" make-bag --data "$walk/scene" --split "$SPLIT" --compressed --odom-drift --out "$walk/bag" >/dev/null
    "$AR" bag-eval "$walk/bag" --weights "$WEIGHTS" \
        --image-topic /camera/image_raw/compressed --gt-topic /ground_truth/pose --no-plots \
        --out "$walk/eval" | tee "$walk/report.txt" | grep -E "^(median error|within|covariance|gate)" \
        | sed "s/^/$SPLIT walk $seed: /"
done
