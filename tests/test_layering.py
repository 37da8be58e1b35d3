"""The layer rule: only dfviewer/gui may import Qt and its widget libraries; io never imports torch.

The display layer (maps, windows, crop, export plan, viewer model) is Qt-free like core, io and phantom.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dfviewer"
QT_LIBS = {"PyQt6", "PyQt5", "PySide6", "pyqtgraph", "superqt", "qtawesome", "qtpy"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def headless_modules():
    for sub in ("core", "io", "phantom", "display", "imaging"):
        yield from sorted((PACKAGE / sub).rglob("*.py"))
    yield from sorted(PACKAGE.glob("*.py"))


@pytest.mark.parametrize("path", list(headless_modules()), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_headless_layers_never_import_qt(path):
    assert not imported_roots(path) & QT_LIBS, f"{path} imports a Qt library"


@pytest.mark.parametrize("path", sorted((PACKAGE / "io").rglob("*.py")), ids=lambda p: p.name)
def test_io_never_imports_torch(path):
    assert "torch" not in imported_roots(path)


@pytest.mark.parametrize("path", sorted((PACKAGE / "display").rglob("*.py")), ids=lambda p: p.name)
def test_display_never_imports_torch(path):
    assert "torch" not in imported_roots(path)


@pytest.mark.parametrize("path", sorted((PACKAGE / "imaging").rglob("*.py")), ids=lambda p: p.name)
def test_imaging_imports_numpy_only(path):
    """The image layer (the one implementation of the image metrics) sits below io, display and core."""
    assert imported_roots(path) <= {"__future__", "math", "collections", "numpy"}


def test_display_windows_stand_alone():
    """The IO layer uses the display windows, so they may import nothing from the package."""
    assert "dfviewer" not in imported_roots(PACKAGE / "display" / "windows.py")


def test_rule_detects_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from PyQt6.QtWidgets import QWidget\nimport numpy\n")
    assert imported_roots(bad) & QT_LIBS == {"PyQt6"}


def test_importing_core_and_io_loads_no_qt():
    import subprocess
    import sys

    code = (
        "import sys, dfviewer.core.inference, dfviewer.io, dfviewer.cli.main, dfviewer.display.viewer_state;"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {QT_LIBS!r});"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr



def test_the_wizards_events_and_data_check_load_no_torch():
    """The wizard reads training events and checks data in its GUI process: torch (and
    torch.distributed) belong to the training process only."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, dfviewer.core.training_events, dfviewer.core.run_files, dfviewer.core.dataset_check;"
        "import dfviewer.gui.wizard.wizard;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torch');"
        "print(bad[:5]); sys.exit(1 if bad else 0)"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
