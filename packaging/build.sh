#!/usr/bin/env bash
# Build the one-folder desktop bundle dist/dfviewer/ from a clean virtual environment,
# smoke-check it headless (packaging/smoke.sh) and write packaging/BUILD_REPORT.md
# (build time, bundle size, largest parts, smoke outcome).
#
#   packaging/build.sh                      # everything (several minutes; needs PyPI access)
#   nice -n 15 packaging/build.sh           # on a shared machine
#
# The bundle holds no PyTorch: it runs the models' graphs on ONNX Runtime (dfviewer.spec excludes torch).
# Environment: PYTHON (interpreter for the venv, default python3),
# BUILD_DIR (venv and PyInstaller work files, default build/bundle), DIST_DIR (default dist),
# SMOKE_MODEL / SMOKE_INPUT (see smoke.sh), SKIP_SMOKE=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bundle}
DIST_DIR=${DIST_DIR:-$ROOT/dist}
REPORT=$ROOT/packaging/BUILD_REPORT.md
export PIP_DISABLE_PIP_VERSION_CHECK=1

now() { date +%s; }
t0=$(now)
echo "== clean virtual environment in $BUILD_DIR/venv"
rm -rf "$BUILD_DIR/venv" "$BUILD_DIR/work" "$DIST_DIR/dfviewer"
mkdir -p "$BUILD_DIR" "$DIST_DIR"
"$PYTHON" -m venv "$BUILD_DIR/venv"
VPY="$BUILD_DIR/venv/bin/python"
echo "== dfviewer (a real, non-editable install) and PyInstaller"
"$VPY" -m pip install --quiet "$ROOT" pyinstaller
t1=$(now)

echo "== PyInstaller"
# run from the build folder: the checkout must not shadow the installed package
(cd "$BUILD_DIR" && "$VPY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --workpath "$BUILD_DIR/work" --distpath "$DIST_DIR" "$ROOT/packaging/dfviewer.spec")
t2=$(now)
EXE="$DIST_DIR/dfviewer/dfviewer"
bundle_bytes=$(du -sb "$DIST_DIR/dfviewer" | cut -f1)
bundle_files=$(find "$DIST_DIR/dfviewer" -type f | wc -l)
bundle_mib=$(awk "BEGIN{printf \"%.0f\", $bundle_bytes / 1048576}")
install_s=$((t1 - t0)); freeze_s=$((t2 - t1)); build_s=$((t2 - t0))
echo "bundle: $DIST_DIR/dfviewer, $bundle_mib MiB in $bundle_files files"
echo "build time: ${build_s} s (venv + installs ${install_s} s, PyInstaller ${freeze_s} s)"

smoke_log="$BUILD_DIR/smoke.log"
smoke_rc="skipped"
if [ "${SKIP_SMOKE:-0}" != 1 ]; then
  echo "== smoke check"
  # a JPEG-LS lossless DICOM from pydicom's test files: only the pylibjpeg plugins decode it
  jpegls=$("$VPY" -c "from pydicom.data import get_testdata_file as g; print(g('MR_small_jpeg_ls_lossless.dcm') or '')" \
    2>/dev/null || true)
  if [ -z "${SMOKE_MODEL:-}" ] && [ ! -f "$DIST_DIR/dfviewer/_internal/dfviewer/resources/models/demo.onnx" ]; then
    # the bundle has no torch to export a graph with: without the shipped demo.onnx predict cannot run
    echo "== NOTE: the bundle has no demo model graph (demo.onnx); the predict checks will fail"
  fi
  set +e
  SMOKE_OUT="$BUILD_DIR/smoke" SMOKE_EXTRA_INPUTS="${SMOKE_EXTRA_INPUTS:-$jpegls}" \
    "$ROOT/packaging/smoke.sh" "$EXE" 2>&1 | tee "$smoke_log"
  smoke_rc=${PIPESTATUS[0]}
  set -e
fi
t3=$(now)

{
  echo "# Bundle build report"
  echo
  echo "Written by packaging/build.sh on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| machine | $(uname -sm), $(nproc) cores, load at the end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a) |"
  echo "| Python | $("$VPY" -c 'import sys; print(sys.version.split()[0])') |"
  echo "| ONNX Runtime | $("$VPY" -c 'import onnxruntime; print(onnxruntime.__version__)') (no torch in the bundle) |"
  echo "| PyInstaller | $("$VPY" -c 'import PyInstaller; print(PyInstaller.__version__)') |"
  echo "| dfviewer | $("$EXE" --version 2>/dev/null || echo '?') |"
  echo "| bundle | \`$DIST_DIR/dfviewer\`: $bundle_mib MiB ($bundle_bytes bytes) in $bundle_files files |"
  echo "| build time | $build_s s: clean venv + pip installs $install_s s, PyInstaller $freeze_s s |"
  if [ -n "${SMOKE_MODEL:-}" ]; then echo "| smoke model | \`$SMOKE_MODEL\` (not the bundled demo model) |"; fi
  echo "| smoke check | $( [ "$smoke_rc" = 0 ] && echo passed || echo "$smoke_rc (see below)"), $((t3 - t2)) s |"
  echo
  echo "Largest parts of the bundle (MiB):"
  echo
  echo '```'
  (cd "$DIST_DIR/dfviewer/_internal" && du -sm -- * | sort -rn | head -n 12)
  echo '```'
  if [ -f "$smoke_log" ]; then
    echo
    echo "Smoke check (\`packaging/smoke.sh $EXE\`):"
    echo
    echo '```'
    grep -E '^(PASS|FAIL|smoke)|^     \|' "$smoke_log"
    echo '```'
  fi
} | sed "s#$ROOT/##g" > "$REPORT"   # paths relative to the repository, not this machine's folders
echo "== wrote $REPORT"
[ "$smoke_rc" = 0 ] || [ "$smoke_rc" = skipped ]
