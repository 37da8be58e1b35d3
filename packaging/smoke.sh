#!/usr/bin/env bash
# Smoke-check a frozen dfviewer bundle headless (Qt offscreen):
#   1. --version
#   2. the bundle self-check (DFVIEWER_BUNDLE_CHECK=1: resources, pylibjpeg decoders via entry points,
#      Qt platform plugins, qtawesome fonts, lazily imported modules)
#   3. predict on the first bundled DICOM sample, writing TIFF maps
#   4. predict on extra inputs given in SMOKE_EXTRA_INPUTS (build.sh passes a JPEG-LS DICOM,
#      which only the pylibjpeg plugins can decode)
#   5. --demo --screenshot writing a PNG
#
# Usage: packaging/smoke.sh [path/to/dist/dfviewer/dfviewer]
# Environment: SMOKE_MODEL=ckpt.safetensors (when the bundle has no demo model), SMOKE_INPUT=file
# (instead of the bundled sample), SMOKE_EXTRA_INPUTS="a.dcm b.png", SMOKE_OUT=dir (keep the outputs),
# SMOKE_MC=N (Monte Carlo samples for predict, default 4).
# Prints one line per check and "smoke: N passed, M failed"; exits 1 if any check failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXE=${1:-$ROOT/dist/dfviewer/dfviewer}
if [ ! -x "$EXE" ]; then
  echo "smoke.sh: no executable at $EXE (build it with packaging/build.sh)" >&2
  exit 2
fi
EXE=$(cd "$(dirname "$EXE")" && pwd)/$(basename "$EXE")
export QT_QPA_PLATFORM=offscreen
unset DISPLAY WAYLAND_DISPLAY
OUT=${SMOKE_OUT:-$(mktemp -d)}
mkdir -p "$OUT"
MC=${SMOKE_MC:-4}
RESOURCES="$(dirname "$EXE")/_internal/dfviewer/resources"
MODEL_ARGS=()
if [ -n "${SMOKE_MODEL:-}" ]; then MODEL_ARGS=(--model "$SMOKE_MODEL"); fi
passed=0
failed=0

# check NAME CMD...: run CMD (stdout+stderr to $OUT/NAME.log), report the outcome and the time it took
check() {
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  if "$@" >"$OUT/$name.log" 2>&1; then
    end=$(date +%s.%N)
    printf 'PASS %-22s %6.1f s\n' "$name" "$(awk "BEGIN{print $end - $start}")"
    passed=$((passed + 1))
  else
    end=$(date +%s.%N)
    printf 'FAIL %-22s %6.1f s  (log: %s)\n' "$name" "$(awk "BEGIN{print $end - $start}")" "$OUT/$name.log"
    tail -n 15 "$OUT/$name.log" | sed 's/^/     | /'
    failed=$((failed + 1))
  fi
}

version() { "$EXE" --version | tee /dev/stderr | grep -Eq '^dfviewer [0-9]'; }

bundle_check() { DFVIEWER_BUNDLE_CHECK=1 "$EXE"; }

# predict_maps NAME INPUT: predict, then require the six float maps of the last stage
predict_maps() {
  local dir="$OUT/maps-$1"; local input=$2
  rm -rf "$dir"
  "$EXE" predict "$input" --out "$dir" --mc "$MC" --seed 0 "${MODEL_ARGS[@]}" || return 1
  local stem; stem=$(basename "${input%.*}")
  local n; n=$(ls "$dir" | grep -c "^${stem}_stage[0-9]*_\(darkfield\|alpha\|beta\|aleatoric\|epistemic\|total\)\.tiff$")
  echo "wrote $n maps in $dir"; ls -l "$dir"
  [ "$n" -ge 6 ]
}

# screenshot: --demo when the bundle has its demo model, else the sample with SMOKE_MODEL (said in the log)
screenshot() {
  local png="$OUT/demo-screenshot.png"
  rm -f "$png"
  if [ -f "$RESOURCES/models/demo.safetensors" ]; then
    "$EXE" --demo --screenshot "$png" --timeout 600 "${MODEL_ARGS[@]}" || return 1
  else
    echo "no bundled demo model: opening $SAMPLE with ${SMOKE_MODEL:-no model} instead of --demo"
    "$EXE" "$SAMPLE" --screenshot "$png" --timeout 600 "${MODEL_ARGS[@]}" || return 1
  fi
  [ -s "$png" ] && [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || return 1
  echo "$png: $(stat -c %s "$png") bytes"
}

echo "smoke check of $EXE (outputs in $OUT)"
check version version
check bundle-check bundle_check
SAMPLE=${SMOKE_INPUT:-$(ls "$RESOURCES"/samples/*.dcm 2>/dev/null | head -n 1)}
if [ -n "$SAMPLE" ]; then
  check predict-sample predict_maps sample "$SAMPLE"
else
  echo "FAIL predict-sample          no DICOM sample in $RESOURCES/samples (and no SMOKE_INPUT)"
  failed=$((failed + 1))
fi
i=0
for extra in ${SMOKE_EXTRA_INPUTS:-}; do
  i=$((i + 1))
  check "predict-extra-$i" predict_maps "extra$i" "$extra"
done
check demo-screenshot screenshot
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
