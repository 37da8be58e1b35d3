"""The layers: which package may import which, and which may import Qt or torch.

Every module's imports are read with ``ast`` (imports inside functions and
``importlib.import_module("dfviewer...")`` count). ``dfviewer`` stands for the top-level modules
(errors, text, threads, atomic, resources, platform_check); ``__main__`` is the program's entry.
From the bottom: imaging (numpy image math), io, core and phantom, display, then the two front ends.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from _dfv_imports import packages_loaded_by

PACKAGE = Path(__file__).resolve().parents[1] / "dfviewer"
QT_LIBS = {"PyQt6", "PyQt5", "PySide6", "pyqtgraph", "superqt", "qtawesome", "qtpy"}

#: the packages of dfviewer each package may import (itself always)
ALLOWED = {
    "dfviewer": set(),
    "imaging": set(),
    "io": {"dfviewer", "imaging"},
    "core": {"dfviewer", "imaging", "io"},
    "phantom": {"dfviewer", "imaging", "io"},
    "display": {"dfviewer", "imaging", "io", "core"},
    "cli": {"dfviewer", "imaging", "io", "core", "phantom", "display", "gui"},
    "gui": {"dfviewer", "imaging", "io", "core", "phantom", "display"},
    "__main__": {"cli"},
}
#: third-party libraries a package must never import (only gui has Qt; the lower layers have no torch)
FORBIDDEN = {
    "dfviewer": QT_LIBS, "imaging": QT_LIBS | {"torch"}, "io": QT_LIBS | {"torch"}, "core": QT_LIBS,
    "phantom": QT_LIBS | {"torch"}, "display": QT_LIBS | {"torch"}, "cli": QT_LIBS, "gui": set(),
    "__main__": QT_LIBS,
}
SUBPACKAGES = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}


def unit_of(path: Path) -> str:
    """The package a module belongs to (``dfviewer`` for a top-level module, ``__main__`` for the entry)."""
    parts = path.relative_to(PACKAGE).parts
    if len(parts) > 1:
        return parts[0]
    return "__main__" if parts[0] == "__main__.py" else "dfviewer"


def _target(dotted: str) -> str | None:
    """The package of ``dfviewer.<...>`` a dotted module name points into; None outside dfviewer."""
    parts = dotted.split(".")
    if parts[0] != "dfviewer":
        return None
    if len(parts) > 1 and parts[1] in SUBPACKAGES:
        return parts[1]
    return "__main__" if parts[1:2] == ["__main__"] else "dfviewer"


def imported_modules(path: Path, here: list[str] | None = None) -> set[str]:
    """Every absolute module name ``path`` imports anywhere in its body (relative imports resolved
    against ``here``, the module's dotted name as parts, taken from ``path`` inside the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if here is None:
        here = ["dfviewer", *path.relative_to(PACKAGE).with_suffix("").parts]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level] + ([base] if base else []))
            names.add(base)
            # ``from dfviewer import phantom`` imports the subpackage, not the top-level module
            names.update(f"{base}.{alias.name}" for alias in node.names if base == "dfviewer")
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module" and node.args):
            first = node.args[0]
            if isinstance(first, ast.JoinedStr) and first.values:
                first = first.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value.rstrip("."))
    names.discard("")
    return names


def imported_roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(path)}


def package_imports(path: Path, unit: str | None = None, here: list[str] | None = None) -> set[str]:
    """The other dfviewer packages the module at ``path`` (of package ``unit``) imports."""
    own = unit or unit_of(path)
    return {t for t in map(_target, imported_modules(path, here)) if t is not None and t != own}


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_table_names_every_package():
    assert SUBPACKAGES | {"dfviewer", "__main__"} == set(ALLOWED) == set(FORBIDDEN)


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_what_its_package_may(path):
    unit = unit_of(path)
    assert package_imports(path) <= ALLOWED[unit], f"{unit} may import only {sorted(ALLOWED[unit])}"
    assert not imported_roots(path) & FORBIDDEN[unit], f"{unit} must not import {sorted(FORBIDDEN[unit])}"


def test_no_two_packages_import_each_other():
    """Checked on the real imports, not on the table: each pair of packages at most one way."""
    edges = {(unit_of(path), target) for path in all_modules() for target in package_imports(path)}
    both_ways = sorted((a, b) for a, b in edges if (b, a) in edges and a < b)
    assert not both_ways, f"packages that import each other: {both_ways}"


def test_the_allowed_table_has_no_cycle():
    """Not even a longer one (io -> core -> io through a third package)."""
    done: set[str] = set()

    def visit(unit: str, path: tuple[str, ...]) -> None:
        assert unit not in path, f"cycle: {' -> '.join(path + (unit,))}"
        if unit not in done:
            for below in ALLOWED[unit]:
                visit(below, path + (unit,))
            done.add(unit)

    for unit in ALLOWED:
        visit(unit, ())


@pytest.mark.parametrize("source, expected", [
    ("from PyQt6.QtWidgets import QWidget\nimport numpy\n", {"PyQt6.QtWidgets", "numpy"}),
    ("def f():\n    from dfviewer.display import maps\n", {"dfviewer.display"}),
    ("import importlib\nimportlib.import_module(f'dfviewer.gui.{x}')\n", {"importlib", "dfviewer.gui"}),
    ("from . import reader\nfrom ..display import maps\n", {"dfviewer.io", "dfviewer.display"}),
    ("from dfviewer import phantom, __version__\n", {"dfviewer", "dfviewer.phantom", "dfviewer.__version__"}),
])
def test_the_reader_sees_imports_anywhere(tmp_path, source, expected):
    """Imports at the top, inside functions, relative ones and importlib's are all seen (as if in io)."""
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert imported_modules(path, here=["dfviewer", "io", "probe"]) == expected


def test_a_forbidden_import_fails_the_rule(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from dfviewer.display.maps import MAPS\n")
    assert package_imports(path, "io", here=["dfviewer", "io", "probe"]) == {"display"}
    assert "display" not in ALLOWED["io"]


def test_importing_core_and_io_loads_no_qt():
    modules = ["dfviewer.core.inference", "dfviewer.io", "dfviewer.cli.main", "dfviewer.display.viewer_state"]
    assert packages_loaded_by(modules, QT_LIBS) == []


def test_the_image_layer_and_the_viewer_constants_load_no_torch():
    """display takes only torch-free modules of core (the stage limit, the config)."""
    modules = ["dfviewer.imaging.clinical_rendering", "dfviewer.imaging.colormaps", "dfviewer.imaging.lungs",
               "dfviewer.imaging.voi_windows", "dfviewer.core.stages", "dfviewer.core.config",
               "dfviewer.display.viewer_state"]
    assert packages_loaded_by(modules, ["torch"]) == []


def test_the_wizards_events_and_data_check_load_no_torch():
    """The wizard reads training events and checks data in its GUI process: torch (and
    torch.distributed) belong to the training process only."""
    import os

    modules = ["dfviewer.core.training_events", "dfviewer.core.run_files", "dfviewer.core.dataset_check",
               "dfviewer.gui.wizard.wizard"]
    assert packages_loaded_by(modules, ["torch"], env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}) == []


#: where the product's torch-free inference begins (the ONNX Runtime predictor and the numpy building blocks)
INFERENCE_ENTRIES = ("dfviewer.core.runtime_predictor", "dfviewer.core.prepare", "dfviewer.core.resampling",
                     "dfviewer.core.geometry", "dfviewer.core.mc_masks", "dfviewer.core.mc_stats",
                     "dfviewer.core.domain", "dfviewer.core.normalize", "dfviewer.core.devices",
                     # generate: its readers, its store and its ranks' meeting files
                     "dfviewer.cli.generate", "dfviewer.core.archive_job", "dfviewer.core.archive_sources",
                     "dfviewer.core.reader_pool", "dfviewer.core.ranks")


def module_file(dotted: str) -> Path | None:
    """The file of a dfviewer module or package; None outside dfviewer or for a name that is no module."""
    parts = dotted.split(".")
    if parts[0] != "dfviewer":
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_level_imports(path: Path) -> set[str]:
    """What importing ``path`` imports: its top-level statements (``if``/``try`` included), not function
    bodies and not ``if TYPE_CHECKING:`` blocks; ``from pkg import name`` also names ``pkg.name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                pending += node.body + node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody + [n for h in node.handlers for n in h.body]
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def inference_path() -> dict[str, Path]:
    """Every dfviewer module loaded by importing :data:`INFERENCE_ENTRIES` (parent packages included)."""
    found: dict[str, Path] = {}
    pending = list(INFERENCE_ENTRIES)
    while pending:
        dotted = pending.pop()
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            path = module_file(name)
            if path is not None and name not in found:
                found[name] = path
                pending += sorted(module_level_imports(path))
    return found


def test_the_inference_path_imports_torch_nowhere_at_module_level():
    modules = inference_path()
    assert {"dfviewer.core.runtime_predictor", "dfviewer.core.prepare", "dfviewer.core.config"} <= set(modules)
    with_torch = sorted(name for name, path in modules.items()
                        if any(n.split(".")[0] == "torch" for n in module_level_imports(path)))
    assert not with_torch, f"these modules of the inference path import torch when imported: {with_torch}"


def test_the_module_level_reader_skips_functions_and_type_checking(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
                    "try:\n    import numpy\nexcept ImportError:\n    import scipy\n"
                    "def f():\n    import torch\nfrom dfviewer.core import ggd\nimport torch.nn\n")
    assert module_level_imports(path) == {"typing", "typing.TYPE_CHECKING", "numpy", "scipy", "dfviewer.core",
                                          "dfviewer.core.ggd", "torch.nn"}
    assert module_file("dfviewer.core.ggd") == PACKAGE / "core" / "ggd.py"
    assert module_file("dfviewer.core") == PACKAGE / "core" / "__init__.py" and module_file("numpy") is None


#: run with ``import torch`` failing: the product's inference, from image to maps and domain score
_WITHOUT_TORCH = """
import importlib.abc, importlib.util, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("torch is blocked in this test")
        return None

sys.meta_path.insert(0, NoTorch())
from pydicom.data import get_testdata_file
from dfviewer.core.domain import DomainModel
from dfviewer.core.geometry import resample_map
from dfviewer.core.mc_masks import sample_masks
from dfviewer.core.mc_stats import RunningMapStats
from dfviewer.core.normalize import normalize_input
from dfviewer.core.prepare import prepare_image
from dfviewer.core.runtime_predictor import RuntimePredictor
from dfviewer.io import read_radiograph
from dfviewer.resources import resource_path

image = read_radiograph(get_testdata_file("RG1_UNCR.dcm")).pixels
predictor = RuntimePredictor(resource_path("models", "demo.safetensors"))
prepared = prepare_image(image, predictor.config)
masks = sample_masks(1, 0, [{"kind": "channel", "channels": 8, "factor": 4}], 0.5, *prepared.x.shape[-2:])
stats = RunningMapStats()
stats.add(*(prepared.x[:, :1] for _ in range(4)))
domain = DomainModel.from_dict(predictor.metadata["domain_check"])
score = domain.score_image(normalize_input(image, predictor.config.normalization))
full = resample_map(stats.snapshot()["epistemic"][0, 0], image.shape)
assert full.shape == image.shape and masks[0].shape == (8, 1, 1) and score > 0
result = predictor.predict(image, 2, seed=0)[-1]
assert result.epistemic.shape == image.shape and predictor.domain_score(image) == score
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "torch")
print(loaded)
sys.exit(1 if loaded else 0)
"""


def test_the_inference_path_runs_where_torch_cannot_be_imported():
    """Preparation, masks, statistics, resampling, the domain check and the runtime predictor, torch blocked."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("pydicom.data")
    result = subprocess.run([sys.executable, "-c", _WITHOUT_TORCH], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
