"""Self-check of a dfviewer bundle: what a frozen build must be able to find and load.

Run inside the bundle as ``DFVIEWER_BUNDLE_CHECK=1 dist/dfviewer/dfviewer`` (or from a
checkout with ``python packaging/bundle_check.py``). Prints one JSON object and returns
0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: DICOM transfer syntaxes whose decoding needs the pylibjpeg plugins (found via entry points)
PYLIBJPEG_SYNTAXES = {
    "JPEGLosslessSV1": "1.2.840.10008.1.2.4.70",
    "JPEGLSLossless": "1.2.840.10008.1.2.4.80",
    "JPEG2000Lossless": "1.2.840.10008.1.2.4.90",
    "RLELossless": "1.2.840.10008.1.2.5",
}


def _resources() -> dict:
    from dfviewer.resources import resources_dir

    root = resources_dir()
    return {
        "dir": str(root),
        "frozen_path": bool(getattr(sys, "_MEIPASS", None)) and str(root).startswith(sys._MEIPASS),
        "demo_model": (root / "models" / "demo.safetensors").is_file(),
        "samples": sorted(p.name for p in (root / "samples").glob("*") if p.is_file()),
        "icons": sorted(str(p.relative_to(root / "icons")) for p in (root / "icons").rglob("*.png")),
    }


def _decoders() -> dict:
    import pylibjpeg.utils
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    found = {}
    for name, uid in PYLIBJPEG_SYNTAXES.items():
        decoder = get_decoder(UID(uid))
        found[name] = sorted(decoder.available_plugins)
    pixel = pylibjpeg.utils.get_pixel_data_decoders()
    found["pylibjpeg_pixel_data_decoders"] = sorted(pixel)
    return found


def _qt() -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QLibraryInfo
    from PyQt6.QtGui import QIcon
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    import qtawesome

    icon = qtawesome.icon("fa5s.folder-open")
    from dfviewer.resources import resource_path

    svg = QIcon(str(resource_path("icons", "dfviewer.svg")))
    result = {
        "platform": app.platformName(),
        "platform_plugins": sorted(p.name for p in (plugins / "platforms").glob("*")),
        "qtawesome_icon": not icon.isNull() and not icon.pixmap(32, 32).isNull(),
        "svg_icon": not svg.pixmap(64, 64).isNull(),
    }
    import pyqtgraph
    import superqt  # noqa: F401

    result["pyqtgraph"] = pyqtgraph.__version__
    return result


def _imports() -> dict:
    """Import the modules the CLI loads lazily (sub-commands, viewer, scientific parts)."""
    import importlib

    names = ["dfviewer.cli.predict", "dfviewer.cli.train", "dfviewer.cli.evaluate", "dfviewer.cli.phantom",
             "dfviewer.gui.app", "dfviewer.gui.main_window", "onnxruntime", "safetensors.numpy", "scipy.ndimage",
             "scipy.special", "scipy.spatial", "skimage.morphology", "skimage.exposure", "skimage.filters",
             "tifffile", "h5py", "pyarrow.parquet", "dfviewer.cli.generate"]
    result = {}
    for name in names:
        try:
            importlib.import_module(name)
            result[name] = "ok"
        except Exception as exc:  # report every failure, not just the first
            result[name] = f"{type(exc).__name__}: {exc}"
    # skimage loads its functions lazily: touch one of each sub-package we use
    try:
        import skimage.exposure
        import skimage.filters
        import skimage.morphology

        _ = (skimage.filters.threshold_otsu, skimage.filters.threshold_multiotsu,
             skimage.morphology.convex_hull_image, skimage.exposure.equalize_adapthist)
    except Exception as exc:
        result["skimage lazy attributes"] = f"{type(exc).__name__}: {exc}"
    return result


def main() -> int:
    from dfviewer import __version__

    report: dict = {"version": __version__, "frozen": bool(getattr(sys, "frozen", False))}
    problems: list[str] = []
    for key, probe in (("resources", _resources), ("decoders", _decoders), ("imports", _imports), ("qt", _qt)):
        try:
            report[key] = probe()
        except Exception as exc:
            report[key] = f"{type(exc).__name__}: {exc}"
            problems.append(f"{key} failed: {exc}")
    res = report.get("resources")
    if isinstance(res, dict):
        if not res["demo_model"]:
            problems.append("the demo model resources/models/demo.safetensors is missing")
        if not any(name.lower().endswith(".dcm") for name in res["samples"]):
            problems.append("no DICOM sample in resources/samples")
        if not res["icons"]:
            problems.append("no PNG icons in resources/icons")
        if report["frozen"] and not res["frozen_path"]:
            problems.append("resources were not found inside the bundle")
    dec = report.get("decoders")
    if isinstance(dec, dict):
        for name, uid in PYLIBJPEG_SYNTAXES.items():
            if not any("pylibjpeg" in plugin for plugin in dec[name]):
                problems.append(f"pydicom has no pylibjpeg decoder plugin for {name}")
            if uid not in dec["pylibjpeg_pixel_data_decoders"]:
                problems.append(f"pylibjpeg found no entry point decoding {name} (package metadata missing?)")
    imp = report.get("imports")
    if isinstance(imp, dict):
        problems += [f"import {name}: {why}" for name, why in imp.items() if why != "ok"]
    qt = report.get("qt")
    if isinstance(qt, dict):
        if not any("offscreen" in p for p in qt["platform_plugins"]):
            problems.append("the Qt offscreen platform plugin is missing")
        if not any("xcb" in p or "wayland" in p for p in qt["platform_plugins"]) and sys.platform.startswith("linux"):
            problems.append("no Qt desktop platform plugin (xcb or wayland)")
        if not qt["qtawesome_icon"]:
            problems.append("qtawesome could not draw an icon (fonts missing?)")
        if not qt["svg_icon"]:
            problems.append("Qt could not render the SVG app icon (svg image plugin missing?)")
    report["problems"] = problems
    print(json.dumps(report, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
