#!/usr/bin/env bash
# Does the cascade gain from more training data? Same phantom, 720 vs 2880 training cases, same test split.
# Usage: scripts/cascade_data_scale.sh [WORKDIR]   (about 50 min on 2 CPU cores; its figures were in the README's "Honest reading" at commit 377d44d)
set -euo pipefail
work=${1:-scale-work}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$work"
dfviewer phantom --out "$work/p3600_128" --n 3600 --size 128 --seed 7 --splits 0.8 0.1 0.1 --quiet
# the first 720 training cases, with the same val and test cases
python - "$work/p3600_128" <<'PY'
import csv, sys
root = sys.argv[1]
rows = list(csv.DictReader(open(f"{root}/manifest.csv")))
train = [r["case"] for r in rows if r["split"] == "train"][:720]
subset = [r for r in rows if r["split"] != "train" or r["case"] in set(train)]
with open(f"{root}/manifest_720.csv", "w") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(subset)
PY
for n in 720 2880; do
  data="$work/p3600_128"; [ "$n" = 720 ] && data="$work/p3600_128/manifest_720.csv"
  dfviewer train --data "$data" --out "$work/run_$n" --preset fast --working-size 128 --epochs 6 --seed 0 \
    --device cpu --config "$repo/scripts/demo_config.json"
  dfviewer evaluate --model "$work/run_$n/model.safetensors" --data "$work/p3600_128" --split test --mc 10 \
    --seed 0 --out "$work/eval_$n.json"
done
