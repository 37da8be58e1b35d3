#!/usr/bin/env bash
# One model or two? The bundled recipe (rendered inputs, equalised thorax normalisation,
# scripts/demo_config.json) against a twin for quantitative -ln T inputs only (fixed units 0..6,
# no rendering, scripts/twin_raw_config.json), trained on the same data with the same seed and the
# same epochs, both scored on the raw test inputs. Issue 13's rule: one model if the rendered
# recipe's raw MSE is within 10 % of the twin's.
#
#   scripts/one_or_two_models.sh DATASET OUT [EPOCHS_PER_STAGE]
#
# DATASET: a phantom dataset with train / val / test splits (e.g. dfviewer phantom --n 900
# --size 256 --seed 2026 --splits 0.8 0.1 0.1). The two trainings run side by side, one core each.
set -euo pipefail
data=$1
out=$2
epochs=${3:-2}
mkdir -p "$out"
common=(--data "$data" --preset fast --working-size 256 --epochs "$epochs" --seed 0 --device cpu)
OMP_NUM_THREADS=1 dfviewer train "${common[@]}" --out "$out/rendered" --config scripts/demo_config.json \
  > "$out/rendered.log" 2>&1 &
OMP_NUM_THREADS=1 dfviewer train "${common[@]}" --out "$out/raw_only" --config scripts/twin_raw_config.json \
  > "$out/raw_only.log" 2>&1 &
wait
for name in rendered raw_only; do
  OMP_NUM_THREADS=1 dfviewer evaluate --model "$out/$name/model.safetensors" --data "$data" --split test --mc 20 --seed 0 \
    --out "$out/$name.json" > "$out/${name}_eval.md"
done
python - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
mse = {}
for name in ("rendered", "raw_only"):
    stages = json.loads((out / f"{name}.json").read_text())["stages"]
    last = stages[-1] if isinstance(stages, list) else stages[max(stages, key=int)]
    mse[name] = last["mse"]["mean"] if isinstance(last["mse"], dict) else last["mse"]
ratio = mse["rendered"] / mse["raw_only"]
print(f"raw-input stage-3 MSE: rendered recipe {mse['rendered']:.5f}, -ln T-only twin {mse['raw_only']:.5f}, "
      f"ratio {ratio:.3f} -> {'one model' if ratio <= 1.10 else 'two models'} (rule: within 10 %)")
PY
