#!/usr/bin/env bash
# Leg 3 of docs/evaluation/stages_study.md: with stage 1 trained until it no longer stalls, what makes
# stages 2 and 3 add? Four factors, three points each (the middle one shared), every run per seed:
#   epochs of stages 2-3 (E23), the NLL weight (NLL), what the later stages see of sigma (INPUTS:
#   model.stage_input) and the capacity of the later stages alone (WIDTHS: model.refine_width).
# Runs of the epochs factor share one trained stage 1 per seed (scripts/train_stage_budget.py
# --stage1-from); the other factors train their own (the same stage 1 where the settings leave it so).
# Each run is scored on the phantom's test split and an independent phantom, then tabulated with
# scripts/stage_clean_table.py (clean cases, 3 vs 1 and 3 vs 2, sigma in the lungs and in RG1's lungs).
# Usage: scripts/stages_study_leg3.sh [WORKDIR]
# Settings (environment, defaults = the CPU leg in the doc, 2 runs at a time on 2 cores):
#   SIZE=128 N=480 S1=12 E23="4 8 16" BASE=8 SEEDS="0 1" NLL="0.01 0.1 1.0" INPUTS="attention attention_absolute mean_only"
#   WIDTHS="8 12 16" ONE="12 20 28" (epochs of a one-stage model, the control: the cascade against a single
#   stage trained as long) AMP=bfloat16 DEVICE=cpu THREADS=1 JOBS=2
# On a GPU, e.g.: SIZE=256 N=3600 S1=30 E23="10 20 40" BASE=20 DEVICE=cuda THREADS=4 JOBS=1 scripts/stages_study_leg3.sh
# A run whose reports exist is skipped, so the script can be rerun to finish an interrupted leg.
set -euo pipefail
work=${1:-stages-leg3}
repo=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${SIZE:-128} N=${N:-480} S1=${S1:-12} E23=${E23:-"4 8 16"} BASE=${BASE:-8} SEEDS=${SEEDS:-"0 1"}
NLL=${NLL:-"0.01 0.1 1.0"} INPUTS=${INPUTS:-"attention attention_absolute mean_only"} WIDTHS=${WIDTHS:-"8 12 16"}
ONE=${ONE:-"12 20 28"}
AMP=${AMP:-bfloat16} DEVICE=${DEVICE:-cpu} THREADS=${THREADS:-1} JOBS=${JOBS:-2}
export OMP_NUM_THREADS=$THREADS
mkdir -p "$work"
budget="python $repo/scripts/train_stage_budget.py"

# the same data as leg 2: training / val / test, and an independent phantom (another seed)
# shellcheck source=scripts/stages_study_data.sh
. "$repo/scripts/stages_study_data.sh"
study_data "$work" "$N" "$SIZE"

# the demo config with one setting changed: $1 section, $2 key, $3 JSON value (none: unchanged)
config() {
    python - "$repo/scripts/demo_config.json" "$@" <<'EOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
if len(sys.argv) > 2:
    cfg.setdefault(sys.argv[2], {})[sys.argv[3]] = json.loads(sys.argv[4])
print(json.dumps(cfg, indent=2))
EOF
}
write_config() { config "${@:2}" > "$work/$1.tmp" && mv "$work/$1.tmp" "$work/$1"; }

score() {
    local dir=$work/$1
    dfviewer evaluate --model "$dir/model.safetensors" --data "$work/data" --split test --mc 0 \
        --threads "$THREADS" --out "$dir.test.json" > /dev/null 2>&1
    dfviewer evaluate --model "$dir/model.safetensors" --data "$work/indep" --split test --mc 0 \
        --threads "$THREADS" --out "$dir.indep.json" > /dev/null 2>&1
}

# one run: $1 name, $2 seed, $3 config file, $4 budget, $5 shared stage-1 run or "-"
one_run() {
    local name=$1 seed=$2 cfg=$work/$3 plan=$4 from=$5 start
    [ -f "$work/$name.indep.json" ] && return 0
    rm -rf "${work:?}/$name"
    start=$(date +%s.%N)
    local extra=()
    [ "$from" != - ] && extra=(--stage1-from "$work/$from")
    $budget "$work/data" "$work/$name" "$cfg" --budget "$plan" --size "$SIZE" --seed "$seed" --amp "$AMP" \
        --device "$DEVICE" --threads "$THREADS" "${extra[@]}" > "$work/$name.train.log" 2>&1
    python -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$start" "$(date +%s.%N)" \
        > "$work/$name.wall_s"
    score "$name"
}

write_config base.json
for k in $NLL; do write_config "nll$k.json" train lambda_nll "$k"; done
for i in $INPUTS; do write_config "in_$i.json" model stage_input "\"$i\""; done
for w in $WIDTHS; do write_config "w$w.json" model refine_width "$w"; done
write_config one.json model n_stages 1

# stage 1 alone, once per seed, for the epochs factor
for seed in $SEEDS; do
    [ -f "$work/s1_s$seed/resume.safetensors" ] || $budget "$work/data" "$work/s1_s$seed" "$work/base.json" \
        --budget "$S1" --size "$SIZE" --seed "$seed" --amp "$AMP" --device "$DEVICE" --threads "$THREADS" \
        > "$work/s1_s$seed.log" 2>&1 &
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
done
wait

runs=()
for seed in $SEEDS; do
    for e in $E23; do runs+=("e${e}_s$seed $seed base.json $S1,$e,$e s1_s$seed"); done
done
for seed in $SEEDS; do
    for k in $NLL; do
        [ "$k" = 0.1 ] || runs+=("nll${k}_s$seed $seed nll$k.json $S1,$BASE,$BASE -")
    done
    for i in $INPUTS; do
        [ "$i" = attention ] || runs+=("in_${i}_s$seed $seed in_$i.json $S1,$BASE,$BASE -")
    done
    for w in $WIDTHS; do
        [ "$w" = 8 ] || runs+=("w${w}_s$seed $seed w$w.json $S1,$BASE,$BASE -")
    done
done
for seed in $SEEDS; do
    for e in $ONE; do runs+=("one${e}_s$seed $seed one.json $e -"); done
done
for r in "${runs[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    # shellcheck disable=SC2086
    one_run $r &
done
wait

for set in test indep; do
    tables=()
    for r in "${runs[@]}"; do
        name=${r%% *}
        tables+=("$name ($(cat "$work/$name.wall_s") s)=$work/$name.$set.json@$work/$name/model.safetensors")
    done
    python "$repo/scripts/stage_clean_table.py" "$work/$( [ $set = test ] && echo data || echo indep )" \
        "${tables[@]}" > "$work/clean_$set.md"
done
