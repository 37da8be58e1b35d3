#!/usr/bin/env bash
# Install (or remove) dfviewer's desktop integration for one user or under a prefix:
# the .desktop launcher, the AppStream metainfo and the hicolor icons (PNG sizes + SVG).
#
#   packaging/linux/install-desktop.sh                      # into ${XDG_DATA_HOME:-~/.local/share}
#   packaging/linux/install-desktop.sh --prefix /usr/local  # into /usr/local/share (needs root)
#   packaging/linux/install-desktop.sh --exec "$PWD/dist/dfviewer/dfviewer"   # launch the frozen bundle
#   packaging/linux/install-desktop.sh --uninstall [--prefix ...]
#
# Without --exec the launcher runs `dfviewer` from PATH (pip install).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
APP_ID=io.github.dfviewer.DFViewer
DATADIR=${XDG_DATA_HOME:-$HOME/.local/share}
EXEC=""
UNINSTALL=0

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) DATADIR="${2:?--prefix needs a folder}/share"; shift 2 ;;
    --exec) EXEC="${2:?--exec needs the path of the dfviewer executable}"; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-desktop.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

# icons: from the checkout (resources/icons) or, inside a bundle, next to the executable
ICONS="$ROOT/resources/icons"
if [ -n "$EXEC" ] && [ -d "$(dirname "$EXEC")/_internal/dfviewer/resources/icons" ]; then
  ICONS="$(dirname "$EXEC")/_internal/dfviewer/resources/icons"
fi

DESKTOP="$DATADIR/applications/$APP_ID.desktop"
METAINFO="$DATADIR/metainfo/$APP_ID.metainfo.xml"
SIZES=$(cd "$ICONS/hicolor" && ls -d *x* 2>/dev/null || true)

refresh_caches() {
  if command -v update-desktop-database >/dev/null; then update-desktop-database -q "$DATADIR/applications" || true; fi
  if command -v gtk-update-icon-cache >/dev/null && [ -f "$DATADIR/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -t "$DATADIR/icons/hicolor" || true
  fi
}

if [ "$UNINSTALL" = 1 ]; then
  rm -f "$DESKTOP" "$METAINFO" "$DATADIR/icons/hicolor/scalable/apps/$APP_ID.svg"
  for size in $SIZES; do rm -f "$DATADIR/icons/hicolor/$size/apps/$APP_ID.png"; done
  refresh_caches
  echo "removed dfviewer's desktop integration from $DATADIR"
  exit 0
fi

if [ -z "$SIZES" ]; then
  echo "install-desktop.sh: no icons under $ICONS/hicolor (run packaging/make_icons.py)" >&2
  exit 1
fi
if [ -n "$EXEC" ] && [ ! -x "$EXEC" ]; then
  echo "install-desktop.sh: $EXEC is not an executable file" >&2
  exit 2
fi

install -d "$DATADIR/applications" "$DATADIR/metainfo" "$DATADIR/icons/hicolor/scalable/apps"
if [ -n "$EXEC" ]; then
  exec_abs=$(cd "$(dirname "$EXEC")" && pwd)/$(basename "$EXEC")
  # the Exec key needs quoting when the path has spaces; TryExec hides the entry if the bundle is gone
  sed -e "s|^Exec=.*|Exec=\"$exec_abs\" %F|" -e "/^Exec=/a TryExec=$exec_abs" \
    "$HERE/$APP_ID.desktop" > "$DESKTOP.tmp"
else
  cp "$HERE/$APP_ID.desktop" "$DESKTOP.tmp"
fi
chmod 644 "$DESKTOP.tmp" && mv "$DESKTOP.tmp" "$DESKTOP"
install -m 644 "$HERE/$APP_ID.metainfo.xml" "$METAINFO"
install -m 644 "$ICONS/dfviewer.svg" "$DATADIR/icons/hicolor/scalable/apps/$APP_ID.svg"
for size in $SIZES; do
  install -D -m 644 "$ICONS/hicolor/$size/apps/$APP_ID.png" "$DATADIR/icons/hicolor/$size/apps/$APP_ID.png"
done
refresh_caches
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$DESKTOP"; fi
echo "installed $DESKTOP, $METAINFO and $(echo "$SIZES" | wc -w) icon sizes + SVG under $DATADIR/icons/hicolor"
