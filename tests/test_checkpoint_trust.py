"""Checkpoint semantics (issue 23 item 4): weights a model cannot use are refused with one sentence,
and the domain check fails closed: statistics must be finite, a score that overflows flags the image.

Every case is a real safetensors file crafted from the tiny checkpoint with the safetensors library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from dfviewer.core.checkpoint import CheckpointError, load_checkpoint
from dfviewer.core.domain import DomainModel, domain_sentence, fit_domain_model
from dfviewer.core.inference import Predictor
from dfviewer.errors import UserError

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "samples" / "healthy.dcm"
FIRST_WEIGHT = "stages.0.down.0.1.0.weight"  # the first convolution kernel of the tiny model, in file order


def _parts(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata())


def _crafted(tmp_path: Path, source: Path, name: str, tensors=None, metadata=None) -> Path:
    original, header = _parts(source)
    if metadata is not None:
        header["metadata"] = json.dumps(metadata)
    target = tmp_path / name
    save_file(original if tensors is None else tensors, str(target), metadata=header)
    return target


def _cast(source: Path, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    tensors, _ = _parts(source)
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}


def _predict(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "dfviewer", "predict", *map(str, args), "--mc", "2", "--threads", "1"],
                          env=env, capture_output=True, text=True, timeout=300)


REFUSED = [(torch.int32, "int32"), (torch.int64, "int64"), (torch.uint8, "uint8"), (torch.bool, "bool"),
           (torch.complex64, "complex64"), (torch.float8_e4m3fn, "float8 (e4m3)"), (torch.float8_e5m2, "float8 (e5m2)")]


@pytest.mark.parametrize(("dtype", "word"), REFUSED, ids=[w for _, w in REFUSED])
def test_weights_of_a_type_the_model_cannot_use_are_refused_by_name(tmp_path, tiny_checkpoint, dtype, word):
    path = _crafted(tmp_path, tiny_checkpoint, "cast.safetensors", _cast(tiny_checkpoint, dtype))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value) == (f"Checkpoint cast.safetensors stores weight tensor '{FIRST_WEIGHT}' as {word}, not as "
                               "float32, float16, bfloat16 or float64, so the model it describes cannot be used.")


def test_the_command_line_says_the_sentence_and_exits_2_without_writing(tmp_path, tiny_checkpoint):
    path = _crafted(tmp_path, tiny_checkpoint, "ints.safetensors", _cast(tiny_checkpoint, torch.int64))
    out = tmp_path / "out"
    proc = _predict(SAMPLE, "--out", out, "--model", path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"dfviewer predict: Checkpoint ints.safetensors stores weight tensor '{FIRST_WEIGHT}' as int64, not as "
        "float32, float16, bfloat16 or float64, so the model it describes cannot be used.")
    assert not out.exists() or not any(out.iterdir())


def test_a_step_counter_stored_as_a_float_is_refused(tmp_path, tiny_checkpoint):
    tensors, _ = _parts(tiny_checkpoint)
    counter = next(k for k in tensors if k.endswith("num_batches_tracked"))
    tensors[counter] = tensors[counter].to(torch.float32)
    path = _crafted(tmp_path, tiny_checkpoint, "counter.safetensors", tensors)
    with pytest.raises(CheckpointError, match="as float32, not as an integer step counter"):
        load_checkpoint(path)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_half_and_double_weights_load_as_exactly_the_values_they_hold(tmp_path, tiny_checkpoint, dtype):
    """float16 / bfloat16 / float64 weights predict exactly what float32 weights of the same values do."""
    narrow = _cast(tiny_checkpoint, dtype)
    same_values = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in narrow.items()}
    stored = _crafted(tmp_path, tiny_checkpoint, "narrow.safetensors", narrow)
    reference = _crafted(tmp_path, tiny_checkpoint, "reference.safetensors", same_values)
    assert {str(t.dtype) for k, t in load_checkpoint(stored).state_dict.items() if "num_batches" not in k} == {str(dtype)}
    image = np.random.default_rng(0).random((48, 40)).astype(np.float32)
    got = Predictor.from_checkpoint(stored, device="cpu").predict(image, mc_samples=2, seed=3)
    want = Predictor.from_checkpoint(reference, device="cpu").predict(image, mc_samples=2, seed=3)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.mean, b.mean)
        np.testing.assert_array_equal(a.epistemic, b.epistemic)


def test_a_double_weight_beyond_the_float32_range_is_refused(tmp_path, tiny_checkpoint):
    tensors = _cast(tiny_checkpoint, torch.float64)
    tensors[FIRST_WEIGHT][0, 0, 0, 0] = 1e39  # finite as float64, infinite once the model computes in float32
    path = _crafted(tmp_path, tiny_checkpoint, "wide.safetensors", tensors)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value) == ("wide.safetensors holds 1 weight tensor with NaN or infinite values, so it cannot give "
                               "meaningful maps.")


# --- the domain check --------------------------------------------------------------------------------


def _domain() -> dict:
    rng = np.random.default_rng(0)
    return fit_domain_model(rng.random((20, 80)), rng.random((12, 80)), quantile=0.9, fitted_on="test").to_dict()


@pytest.mark.parametrize(("field", "value"), [("variances", "inf"), ("residual_variance", "inf"),
                                              ("residual_variance", "nan"), ("threshold", "inf"),
                                              ("mean", "nan"), ("components", "-inf")])
def test_domain_statistics_must_be_finite(tmp_path, tiny_checkpoint, field, value):
    domain = _domain()
    bad = float(value)
    if isinstance(domain[field], list):
        data = np.asarray(domain[field], dtype=np.float64)
        data.flat[0] = bad
        domain[field] = data.tolist()
    else:
        domain[field] = bad
    path = _crafted(tmp_path, tiny_checkpoint, "domain.safetensors", metadata={"domain_check": domain})
    with pytest.raises(UserError) as info:
        Predictor.from_checkpoint(path, device="cpu")
    assert str(info.value) == ("The checkpoint's domain check is damaged (inconsistent sizes, or values that are not "
                               "finite).")


def _overflowing() -> dict:
    """Finite statistics whose arithmetic overflows: components of +-1e200 give inf - inf = NaN."""
    domain = _domain()
    signs = np.sign(np.random.default_rng(1).standard_normal(np.shape(domain["components"])))
    domain["components"] = (1e200 * signs).tolist()
    return domain


@pytest.mark.parametrize("data", [{"mean": [0.0]}, [1, 2], "text", {**_domain(), "extra": 1}])
def test_a_domain_check_of_the_wrong_shape_is_one_sentence(data):
    with pytest.raises(UserError) as info:
        DomainModel.from_dict(data)
    text = str(info.value)
    assert text.startswith("The checkpoint's domain check is damaged") and text.endswith(".") and "\n" not in text


def test_a_score_that_overflows_flags_the_image():
    model = DomainModel.from_dict(_overflowing())
    features = np.random.default_rng(2).random(80)
    with np.errstate(all="ignore"):  # what the score was before: NaN, which no threshold flags
        f = features - np.asarray(model.mean)
        z = np.asarray(model.components) @ f
        resid = f - np.asarray(model.components).T @ z
        assert np.isnan(np.sum(z * z / np.asarray(model.variances)) + resid @ resid / model.residual_variance)
    assert model.score(features) == float("inf")
    assert model.flagged(features)
    assert "its domain score overflows, so the check cannot vouch for it" in domain_sentence(float("inf"), 1.0)


def test_an_overflowing_domain_check_flags_every_input_of_predict_and_generate(tmp_path, tiny_checkpoint):
    path = _crafted(tmp_path, tiny_checkpoint, "overflow.safetensors", metadata={"domain_check": _overflowing()})
    out = tmp_path / "maps"
    proc = _predict(SAMPLE, "--out", out, "--model", path, "--format", "npz")
    assert proc.returncode == 0, proc.stderr
    assert "its domain score overflows, so the check cannot vouch for it" in proc.stderr
    assert "1 flagged" in proc.stderr
    from dfviewer.cli.main import main
    from dfviewer.core import store as st

    folder = tmp_path / "collection"
    folder.mkdir()
    (folder / "healthy.dcm").write_bytes(SAMPLE.read_bytes())
    store = tmp_path / "store"
    assert main(["generate", str(folder), "--out", str(store), "--model", str(path), "--mc", "0", "--workers", "0",
                 "--threads", "1"]) == 0
    (row,) = st.read_index(store)
    assert row["status"] == "done" and row["flagged"] is True and row["domain_score"] is None
    assert "its domain score overflows" in row["warning"]
