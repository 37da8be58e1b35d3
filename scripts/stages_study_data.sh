# Sourced by scripts/stages_study_leg*.sh: the stages study's data, made once in WORK.
# study_data WORK N SIZE: N cases of SIZE px (seed 7; 80 % train, 10 % val, 10 % test) in WORK/data,
# and an independent phantom (seed 8, N / 5 cases, half of them test) in WORK/indep, scored as a second test set.
study_data() {
    local work=$1 n=$2 size=$3
    [ -f "$work/data/manifest.csv" ] || dfviewer phantom --out "$work/data" --n "$n" --size "$size" --seed 7 \
        --splits 0.8 0.1 0.1 --quiet
    [ -f "$work/indep/manifest.csv" ] || dfviewer phantom --out "$work/indep" --n "$(( n / 5 ))" --size "$size" \
        --seed 8 --splits 0.5 0 0.5 --quiet
}
