"""Fixtures for the viewer tests: a synthetic chest radiograph on disk, a window on the tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def chest_like(shape=(128, 112), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A crude chest radiograph (attenuation: body bright, two darker lungs) and a dark-field for it."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    body = (((yy - h / 2) / (0.48 * h)) ** 2 + ((xx - w / 2) / (0.46 * w)) ** 2) < 1
    lungs = np.zeros(shape, bool)
    for cx in (0.3 * w, 0.7 * w):
        lungs |= (((yy - 0.48 * h) / (0.3 * h)) ** 2 + ((xx - cx) / (0.15 * w)) ** 2) < 1
    attenuation = 200 + 1800 * body - 900 * lungs + rng.normal(0, 20, shape)
    darkfield = 0.05 + 0.6 * lungs + rng.normal(0, 0.02, shape)
    return attenuation.astype(np.float32), darkfield.astype(np.float32)


def _open_inverted_case(window, qtbot, case_dir: Path, tmp_path: Path, checkpoint: Path) -> Path:
    """Open the plain case turned negative on a checkpoint with a domain check (which flags it); its path."""
    window.apply_preferences(model=str(checkpoint), mc=2, working_size=0, device="cpu")
    inverted = tmp_path / "inverted.npy"
    np.save(inverted, -np.load(case_dir / "plain.npy"))
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        window.open_file(inverted)
    return inverted


@pytest.fixture
def open_inverted_case():
    """:func:`_open_inverted_case`, for the tests of flagged inputs."""
    return _open_inverted_case


@pytest.fixture(scope="session")
def make_chest():
    """:func:`chest_like` for tests that need films of their own size."""
    return chest_like


@pytest.fixture(scope="session")
def case_dir(tmp_path_factory) -> Path:
    """``case.tiff`` + ``case_darkfield.tiff``, ``plain.npy`` (no truth), ``zz_big.tiff`` (for cancelling)."""
    import tifffile

    folder = tmp_path_factory.mktemp("cases")
    attenuation, darkfield = chest_like()
    tifffile.imwrite(folder / "case.tiff", attenuation)
    tifffile.imwrite(folder / "case_darkfield.tiff", darkfield)
    np.save(folder / "plain.npy", chest_like(seed=1)[0])
    big, _ = chest_like((640, 560), seed=2)
    tifffile.imwrite(folder / "zz_big.tiff", big)
    return folder


@pytest.fixture
def settings(tmp_path):
    from PyQt6.QtCore import QSettings

    return QSettings(str(tmp_path / "dfviewer.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings, tiny_checkpoint):
    """The main window on the tiny random model, CPU, 3 MC samples."""
    from dfviewer.gui.main_window import MainWindow

    win = MainWindow(settings=settings, model_path=str(tiny_checkpoint), device="cpu", mc_samples=3)
    win.confirm_overwrite = lambda paths: False
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.shutdown()


@pytest.fixture
def opened(qtbot, window, case_dir):
    """The window with ``case.tiff`` opened and its inference finished."""
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        assert window.open_file(case_dir / "case.tiff")
    window.flush()
    return window


@pytest.fixture(scope="session")
def dicom_case(tmp_path_factory) -> Path:
    """A DX DICOM written by the IO layer (patient tags, window), no true dark-field."""
    from dfviewer.io import write_dx_dicom

    folder = tmp_path_factory.mktemp("dicom")
    attenuation, _ = chest_like(seed=3)
    return write_dx_dicom(folder / "chest.dcm", attenuation, patient_id="GUI-TEST-7", pixel_spacing=(0.5, 0.5),
                          patient_name="Test^Patient", window=(1000.0, 1800.0))


@pytest.fixture
def domain_checked_checkpoint(tmp_path, tiny_checkpoint):
    """The tiny model with a domain check fitted on chest-like images (as ``dfviewer domain-fit`` stores it)."""
    from dfviewer.core.checkpoint import load_checkpoint, save_checkpoint
    from dfviewer.core.domain import fit_domain_model, stack_features
    from dfviewer.core.normalize import normalize_input

    ckpt = load_checkpoint(tiny_checkpoint)
    views = [normalize_input(chest_like(seed=s)[0], ckpt.config.normalization) for s in range(10, 70)]
    domain = fit_domain_model(stack_features(views[:40]), stack_features(views[40:]), quantile=1.0)
    return save_checkpoint(tmp_path / "checked.safetensors", ckpt.build_model(),
                           {**ckpt.metadata, "domain_check": domain.to_dict()})
