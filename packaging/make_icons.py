"""Render resources/icons/dfviewer.svg to the PNG sizes desktops expect (and an .ico).

Run: QT_QPA_PLATFORM=offscreen python packaging/make_icons.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PyQt6.QtSvg import QSvgRenderer  # noqa: E402

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def render(svg: Path, size: int) -> QImage:
    renderer = QSvgRenderer(str(svg))
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt needs an application to paint
    svg = ICONS / "dfviewer.svg"
    for size in SIZES:
        out = ICONS / "hicolor" / f"{size}x{size}" / "apps" / "io.github.dfviewer.DFViewer.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        render(svg, size).save(str(out))
    render(svg, 64).save(str(ICONS / "dfviewer.ico"))
    render(svg, 256).save(str(ICONS / "dfviewer.png"))
    print(f"wrote {len(SIZES)} PNG sizes, dfviewer.png and dfviewer.ico under {ICONS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
