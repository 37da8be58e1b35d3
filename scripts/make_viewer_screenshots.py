"""Render the viewer's states to docs/screenshots/viewer_*.png (offscreen).

    python scripts/make_viewer_screenshots.py [--model CKPT] [--case FILE] [--out DIR]

Defaults: the bundled demo model and first sample case. States: empty start, preview while the
Monte Carlo samples run, finished (stage 3, aleatoric), epistemic over the dark-field, lung crop,
an error dialog, the finished state at 900 x 600 and, when pydicom-data is installed, a real chest
CR (RG1_UNCR.dcm) with its total sigma and a slightly landscape 1036 x 885 JPEG made from it, both at
1280 x 800.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    parser.add_argument("--case")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "screenshots"))
    parser.add_argument("--mc", type=int, default=20)
    parser.add_argument("--stage", type=int, default=3, help="stage shown in the finished states")
    args = parser.parse_args()

    from PyQt6.QtCore import QEventLoop, QSettings, QTimer
    from PyQt6.QtWidgets import QApplication

    from dfviewer.gui.app import demo_paths
    from dfviewer.gui.main_window import MainWindow
    from dfviewer.gui.theme import apply_theme

    model, case = args.model, args.case
    if not (model and case):
        demo_model, demo_case = demo_paths()
        model, case = model or str(demo_model), case or str(demo_case)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    settings = QSettings(str(out / ".screenshots.ini"), QSettings.Format.IniFormat)
    settings.clear()

    def wait(signal=None, ms: int = 300) -> None:
        loop = QEventLoop()
        if signal is not None:
            signal.connect(loop.quit)
            QTimer.singleShot(600_000, loop.quit)
        else:
            QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def save(window: MainWindow, name: str) -> None:
        window.flush()
        wait(ms=200)
        path = out / f"viewer_{name}.png"
        window.grab().save(str(path), "PNG", 9)
        print(f"{path} ({path.stat().st_size // 1024} KB)")

    window = MainWindow(settings=settings, model_path=model, device="auto", mc_samples=args.mc)
    window.resize(1280, 800)
    window.show()
    wait()
    save(window, "empty")

    window.open_file(case)
    wait(window.controller.worker.progress)
    save(window, "preview")
    wait(window.summaryUpdated)  # inference finished and the final summary (lung mask, SSIM) is in
    window.state.set_stage(args.stage)
    save(window, "finished")
    window.state.set_overlay_map("epistemic")
    window.state.set_overlay_mode("darkfield")
    save(window, "epistemic_blend")
    window.state.set_overlay_mode("alone")
    window.state.set_overlay_map("total")
    window.state.set_crop_enabled(True)
    save(window, "crop")
    window.state.set_crop_enabled(False)
    window.state.set_overlay_map("aleatoric")
    broken = out / "broken.dcm"
    broken.write_bytes(b"DICM" + b"\x00not a radiograph" * 8)
    window.open_file(broken)
    broken.unlink()
    window.last_error.setDetailedText("")
    wait()
    from PyQt6.QtGui import QPainter

    shot = window.grab()
    dialog = window.last_error.grab()
    painter = QPainter(shot)
    painter.drawPixmap((shot.width() - dialog.width()) // 2, (shot.height() - dialog.height()) // 2, dialog)
    painter.end()
    shot.save(str(out / "viewer_error.png"), "PNG", 6)
    print(out / "viewer_error.png")
    window.last_error.close()
    window.resize(900, 600)
    wait()
    window.reset_view()
    save(window, "small")
    rg1 = _rg1()
    if rg1 is not None:
        window.resize(1280, 800)
        window.open_file(rg1)
        wait(window.summaryUpdated)
        window.state.set_stage(args.stage)
        window.state.set_overlay_map("total")
        window.reset_view()
        save(window, "rg1")
        window.open_file(_landscape(rg1, out))
        (out / "landscape_1036x885.jpg").unlink()
        wait(window.summaryUpdated)
        window.state.set_stage(args.stage)
        window.reset_view()
        save(window, "landscape")
    window.close()
    settings_file = out / ".screenshots.ini"
    if settings_file.exists():
        settings_file.unlink()
    return 0


def _landscape(rg1: str, out: Path) -> Path:
    """A slightly landscape 1036 x 885 JPEG film made from RG1 (its middle rows, resampled)."""
    import numpy as np
    from PIL import Image

    from dfviewer.io import read_radiograph

    pixels = read_radiograph(rg1).pixels
    h, w = pixels.shape
    rows = round(w * 885 / 1036)
    band = pixels[(h - rows) // 2:(h - rows) // 2 + rows]
    low, high = np.percentile(band, (0.5, 99.5))
    gray = np.clip((band - low) / (high - low) * 255, 0, 255).astype(np.uint8)
    path = out / "landscape_1036x885.jpg"
    Image.fromarray(gray).resize((1036, 885), Image.Resampling.LANCZOS).save(path, quality=90)
    return path


def _rg1() -> str | None:
    """pydicom-data's real chest CR, when that package is installed (no download)."""
    try:
        from pydicom.data import get_testdata_file

        return get_testdata_file("RG1_UNCR.dcm", download=False)
    except Exception:  # noqa: BLE001 - any failure only skips the extra screenshot
        return None


if __name__ == "__main__":
    sys.exit(main())
