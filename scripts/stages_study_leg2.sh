#!/usr/bin/env bash
# Leg 2 of docs/evaluation/stages_study.md: does joint fine-tuning of the cascade (finetune_epochs),
# or a larger adversarial weight (lambda_adv), make stages 2 and 3 earn their place?
# Trains one run per point and seed (timing each: NAME.wall_s), scores each on the phantom's test
# split and on an independent phantom (another seed), and writes the tables: table_*.md (all cases,
# scripts/stage_table.py) and clean_*.md (clean cases, 3 vs 1 and 3 vs 2, aleatoric sigma in the lungs).
# Usage: scripts/stages_study_leg2.sh [WORKDIR]
# Settings (environment, defaults = the CPU leg in the doc, 2 runs at a time on 2 cores):
#   SIZE=128 N=480 EPOCHS=4 SEEDS="0 1" FT="0 2 4" ADV="1 10 100" (multiples of the demo's lambda_adv)
#   AMP=bfloat16 DEVICE=cpu THREADS=1 JOBS=2
# On a GPU, e.g.: SIZE=256 N=3600 EPOCHS=10 FT="0 5 10" DEVICE=cuda THREADS=4 JOBS=1 scripts/stages_study_leg2.sh
# The baseline (fine-tuning 0, lambda_adv 1x) is one run shared by both factors. A run whose
# reports exist is skipped, so the script can be rerun to finish an interrupted leg.
set -euo pipefail
work=${1:-stages-leg2}
repo=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${SIZE:-128} N=${N:-480} EPOCHS=${EPOCHS:-4} SEEDS=${SEEDS:-"0 1"}
FT=${FT:-"0 2 4"} ADV=${ADV:-"1 10 100"}
AMP=${AMP:-bfloat16} DEVICE=${DEVICE:-cpu} THREADS=${THREADS:-1} JOBS=${JOBS:-2}
export OMP_NUM_THREADS=$THREADS
mkdir -p "$work"

# training / val / test data, and an independent phantom (another seed) scored as a second test set
# shellcheck source=scripts/stages_study_data.sh
. "$repo/scripts/stages_study_data.sh"
study_data "$work" "$N" "$SIZE"

# the demo config with lambda_adv scaled by $1 (the demo config leaves it at the fast preset's value)
adv_config() {
    python - "$repo/scripts/demo_config.json" "$1" <<'EOF'
import json, sys
from dfviewer.core.config import preset
cfg = json.load(open(sys.argv[1]))
cfg.setdefault("train", {})["lambda_adv"] = preset("fast").train.lambda_adv * float(sys.argv[2])
print(json.dumps(cfg, indent=2))
EOF
}

# one run: train, then evaluate on both test sets; $1 name, $2 seed, $3 fine-tuning epochs, $4 adv factor
one_run() {
    local name=$1 seed=$2 ft=$3 adv=$4 dir=$work/$1
    [ -f "$dir.indep.json" ] && return 0
    local cfg=$work/config_adv$adv.json start
    start=$(date +%s.%N)
    dfviewer train --data "$work/data" --out "$dir" --config "$cfg" --working-size "$SIZE" --epochs "$EPOCHS" \
        --stages 3 --finetune-epochs "$ft" --seed "$seed" --amp "$AMP" --device "$DEVICE" --threads "$THREADS" \
        2> "$dir.train.log"
    python -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$start" "$(date +%s.%N)" \
        > "$dir.wall_s"
    dfviewer evaluate --model "$dir/model.safetensors" --data "$work/data" --split test --mc 0 \
        --threads "$THREADS" --out "$dir.test.json" > /dev/null 2>&1
    dfviewer evaluate --model "$dir/model.safetensors" --data "$work/indep" --split test --mc 0 \
        --threads "$THREADS" --out "$dir.indep.json" > /dev/null 2>&1
}

runs=()
for ft in $FT; do for seed in $SEEDS; do runs+=("ft${ft}_adv1_s$seed $seed $ft 1"); done; done
for adv in $ADV; do
    [ "$adv" = 1 ] && [[ " $FT " == *" 0 "* ]] && continue
    for seed in $SEEDS; do runs+=("ft0_adv${adv}_s$seed $seed 0 $adv"); done
done
# the configs first: parallel runs share them
for adv in 1 $ADV; do adv_config "$adv" > "$work/config_adv$adv.tmp" && mv "$work/config_adv$adv.tmp" "$work/config_adv$adv.json"; done
for r in "${runs[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    # shellcheck disable=SC2086
    one_run $r &
done
wait

tables=()
for r in "${runs[@]}"; do
    name=${r%% *}
    tables+=("$name ($(cat "$work/$name.wall_s") s)=$work/$name.test.json")
done
python "$repo/scripts/stage_table.py" "${tables[@]}" > "$work/table_test.md"
tables=()
for r in "${runs[@]}"; do name=${r%% *}; tables+=("$name=$work/$name.indep.json"); done
python "$repo/scripts/stage_table.py" "${tables[@]}" > "$work/table_indep.md"
# clean cases only, stage 3 against 1 and 2, and the mean aleatoric sigma in the lungs by stage
for set in test indep; do
    data=$work/data
    [ "$set" = indep ] && data=$work/indep
    tables=()
    for r in "${runs[@]}"; do name=${r%% *}; tables+=("$name=$work/$name.$set.json@$work/$name/model.safetensors"); done
    python "$repo/scripts/stage_clean_table.py" "$data" "${tables[@]}" > "$work/clean_$set.md"
done
cat "$work/table_test.md" "$work/table_indep.md" "$work/clean_test.md" "$work/clean_indep.md"
