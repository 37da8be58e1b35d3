"""Shared fixtures. Qt runs offscreen in every test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_config():
    """A three-stage cascade small enough to run in milliseconds."""
    from dfviewer.core.config import ModelConfig

    return ModelConfig(preset="tiny", base_width=4, depth=2, working_size=64)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_model_config) -> Path:
    """A randomly initialised tiny model saved as a real safetensors checkpoint."""
    import torch

    from dfviewer.core.checkpoint import save_checkpoint
    from dfviewer.core.network import Cascade

    torch.manual_seed(0)
    model = Cascade(tiny_model_config)
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    return save_checkpoint(path, model, {"note": "random weights for tests"})


@pytest.fixture(scope="session")
def fixed_units_checkpoint(tmp_path_factory, tiny_model_config) -> Path:
    """The tiny model, but trained (so to speak) on fixed input units: -ln T from 0 to 6."""
    import dataclasses

    import torch

    from dfviewer.core.checkpoint import save_checkpoint
    from dfviewer.core.config import Normalization
    from dfviewer.core.network import Cascade

    cfg = dataclasses.replace(tiny_model_config, normalization=Normalization(input_mode="fixed", input_high=6.0))
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("models") / "fixed.safetensors", Cascade(cfg), {})


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: a second intra-op thread only adds barrier waits on a shared 2-core CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def rg1_pixels():
    """pydicom-data's RG1_UNCR.dcm (a real chest CR) as read by dfviewer; skipped where it is missing."""
    from pydicom.data import get_testdata_file

    from dfviewer.io import read_radiograph

    path = get_testdata_file("RG1_UNCR.dcm")
    if path is None:
        pytest.skip("pydicom-data has no RG1_UNCR.dcm")
    return read_radiograph(path).pixels
