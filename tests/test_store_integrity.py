"""A generate store never ends mixed or damaged while ``--verify`` says OK (issue 23, items 10 and 11).

Each test is a real sequence: generate with the tiny checkpoint, tamper with the store through h5py,
pyarrow or the file system, then verify, resume and verify again. Every sequence must end either
refused with one sentence (no traceback) or verified and equal to the untouched store.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dfviewer.cli.main import main
from dfviewer.core import GeneratedDataset
from dfviewer.core import store as st

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py
N = 6


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    from dfviewer.phantom import PhantomConfig, simulate_case

    folder = tmp_path_factory.mktemp("collection")
    for i in range(N):
        image = simulate_case(3, i, PhantomConfig(size=48)).attenuation
        scaled = (image - image.min()) / (np.ptp(image) + 1e-6)
        Image.fromarray((scaled * 65535).astype(np.uint16)).save(folder / f"case{i}.png")
    return folder


def _generate(source: Path, store: Path, model: Path, *extra: str) -> int:
    return main(["generate", str(source), "--out", str(store), "--model", str(model), "--mc", "2",
                 "--batch-size", "2", "--shard-size", "2", "--workers", "0", "--threads", "1", *extra])


def _contents(store: Path) -> dict[int, tuple]:
    return {int(r["index"]): (r["path"], r["status"], r["maps_sha256"], r["settings_sha256"])
            for r in st.read_index(store)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, source, tiny_checkpoint) -> Path:
    store = tmp_path_factory.mktemp("ref") / "store"
    assert _generate(source, store, tiny_checkpoint) == 0
    return store


@pytest.fixture()
def store(tmp_path, reference) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(reference, copy)
    return copy


def _verify(store: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["generate", "--verify", str(store)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and code in (0, 1, 2)
    return code, err


def _ends_refused_or_correct(store: Path, reference: Path, capsys) -> int:
    """The invariant: verify either refuses or finds exactly the untouched store."""
    code, err = _verify(store, capsys)
    if code == 0:
        assert "verify: OK" in err
        assert _contents(store) == _contents(reference)
        assert st.read_settings(store) == st.read_settings(reference)
    else:
        assert "problem:" in err or "dfviewer: " in err or err.strip()
    return code


def _resume(source, store, model, capsys, *extra) -> tuple[int, str]:
    capsys.readouterr()
    code = _generate(source, store, model, *extra)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _shard(store: Path, k: int = 1) -> Path:
    return store / st.SHARDS_DIR / st.shard_name(k)


def _edit_rows(path: Path, edit) -> None:
    with h5py.File(path, "r+") as f:
        rows = json.loads(f["rows"][()])
        edit(rows)
        del f["rows"]
        f.create_dataset("rows", data=json.dumps(rows))


def test_untouched_store_verifies_and_records_its_settings_digest(reference, capsys):
    assert _verify(reference, capsys)[0] == 0
    digest = st.settings_digest(st.read_settings(reference))
    for path in st.shard_files(reference):
        with h5py.File(path, "r") as f:
            assert f.attrs["settings_sha256"] == digest
    assert {r["settings_sha256"] for r in st.read_index(reference)} == {digest}


@pytest.mark.parametrize("other", [["--mc", "3"], ["--maps", "mean"], ["--size", "32"], ["--dtype", "float32"]])
def test_lost_settings_then_resume_with_other_options_is_refused(store, reference, source, tiny_checkpoint, capsys,
                                                                 other):
    (store / st.SETTINGS_NAME).unlink()
    code, err = _resume(source, store, tiny_checkpoint, capsys, *other)
    assert code == 2 and "no settings.json" in err and "restore" in err
    assert not (store / st.SETTINGS_NAME).exists()  # nothing new was written beside the old shards
    code, err = _verify(store, capsys)
    assert code == 2 and "no settings.json" in err
    shutil.copy(reference / st.SETTINGS_NAME, store / st.SETTINGS_NAME)  # restored: whole again
    assert _ends_refused_or_correct(store, reference, capsys) == 0


def test_edited_settings_then_resume_with_the_edited_options_is_refused(store, reference, source, tiny_checkpoint,
                                                                       capsys):
    settings = json.loads((store / st.SETTINGS_NAME).read_text())
    settings["mc"] = 5
    (store / st.SETTINGS_NAME).write_text(json.dumps(settings))
    code, err = _verify(store, capsys)
    assert code == 1 and err.count("made with other settings") == 3
    code, err = _resume(source, store, tiny_checkpoint, capsys, "--mc", "5")
    assert code == 2 and "made with other settings" in err
    assert _ends_refused_or_correct(store, reference, capsys) == 1


@pytest.mark.parametrize("name", [st.shard_name(1), st.shard_name(1, 1)])
def test_shard_copied_from_another_store_is_refused(tmp_path, store, reference, source, tiny_checkpoint, capsys, name):
    other = tmp_path / "other"
    assert _generate(source, other, tiny_checkpoint, "--seed", "9") == 0
    shutil.copy(_shard(other), store / st.SHARDS_DIR / name)
    code, err = _verify(store, capsys)
    assert code == 1 and f"{name} was made with other settings" in err
    code, err = _resume(source, store, tiny_checkpoint, capsys)
    assert code == 2 and "move it out of the store" in err
    assert _ends_refused_or_correct(store, reference, capsys) == 1
    (store / st.SHARDS_DIR / name).unlink()
    if name == st.shard_name(1):  # its images are generated again
        assert _resume(source, store, tiny_checkpoint, capsys)[0] == 0
    assert _ends_refused_or_correct(store, reference, capsys) == 0


def _negative_number(rows):
    rows[0]["index"] = -1


def _null_checksum(rows):
    rows[0]["maps_sha256"] = None


def _missing_path(rows):
    del rows[1]["path"]


def _other_path(rows):
    rows[0]["path"] = rows[1]["path"]


def _text_in_a_number(rows):
    rows[0]["lung_darkfield"] = "dark"


def _wrong_stored_size(rows):
    rows[0]["height"] = 7


@pytest.mark.parametrize("edit", [_negative_number, _null_checksum, _missing_path, _other_path, _text_in_a_number,
                                  _wrong_stored_size])
def test_edited_shard_rows_are_damage_and_resume_redoes_the_shard(store, reference, source, tiny_checkpoint, capsys,
                                                                  edit):
    _edit_rows(_shard(store), edit)
    code, err = _verify(store, capsys)
    assert code == 1 and "shard-000001.h5 is damaged" in err
    code, err = _resume(source, store, tiny_checkpoint, capsys)
    assert code == 0 and "generated again" in err and "holds 6 of 6 image(s)" in err
    assert _ends_refused_or_correct(store, reference, capsys) == 0


def _corrupt_chunk(path: Path) -> None:
    with h5py.File(path, "r") as f:
        info = f["maps"].id.get_chunk_info_by_coord((1, 0, 0, 0))
    with open(path, "r+b") as handle:
        handle.seek(info.byte_offset + info.size // 2)
        handle.write(bytes(b ^ 0x5A for b in handle.read(16)))


def _maps_a_group(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f["maps"]
        f.create_group("maps")


def _rows_missing(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f["rows"]


def _no_digest(path: Path) -> None:  # reads as a shard from another store: refused, not redone
    with h5py.File(path, "r+") as f:
        del f.attrs["settings_sha256"]


@pytest.mark.parametrize("tamper", [_corrupt_chunk, _maps_a_group, _rows_missing])
def test_damaged_shard_is_reported_then_redone(store, reference, source, tiny_checkpoint, capsys, tamper):
    tamper(_shard(store))
    code, err = _verify(store, capsys)
    assert code == 1 and "shard-000001.h5 is damaged" in err
    code, err = _resume(source, store, tiny_checkpoint, capsys)
    assert code == 0 and "generated again" in err
    assert _ends_refused_or_correct(store, reference, capsys) == 0


def test_shard_without_digest_is_refused(store, reference, source, tiny_checkpoint, capsys):
    _no_digest(_shard(store))
    assert _verify(store, capsys)[0] == 1
    assert _resume(source, store, tiny_checkpoint, capsys)[0] == 2
    assert _ends_refused_or_correct(store, reference, capsys) == 1


def _index_edit(store: Path, change) -> None:
    table = pq.read_table(store / st.INDEX_NAME)
    pq.write_table(change(table), store / st.INDEX_NAME)


@pytest.mark.parametrize("change", [
    lambda t: t.set_column(t.schema.get_field_index("maps_sha256"), "maps_sha256",
                           pa.array(["0" * 64] * t.num_rows)),
    lambda t: t.drop_columns(["status"]),
    lambda t: t.set_column(t.schema.get_field_index("path"), "path", pa.array([None] * t.num_rows, pa.string())),
    lambda t: t.set_column(0, "index", pa.array([-1, *range(1, t.num_rows)], pa.int64())),
    lambda t: t.slice(0, t.num_rows - 1),
    lambda t: pa.concat_tables([t, t.slice(0, 1)]),
], ids=["checksum", "column-missing", "nulls", "negative-number", "row-missing", "row-twice"])
def test_edited_index_is_reported_and_rewritten_by_a_resume(store, reference, source, tiny_checkpoint, capsys, change):
    _index_edit(store, change)
    code, err = _verify(store, capsys)
    assert code == 1 and "index" in err and "write the index anew" in err
    assert _resume(source, store, tiny_checkpoint, capsys)[0] == 0
    assert _ends_refused_or_correct(store, reference, capsys) == 0


def test_edited_source_list_is_refused(store, reference, source, tiny_checkpoint, capsys):
    sources = st.read_sources(store)
    st.write_sources(store, [sources[1], sources[0], *sources[2:]])
    code, err = _verify(store, capsys)
    assert code == 2 and "sources.json" in err
    assert _resume(source, store, tiny_checkpoint, capsys)[0] == 2


@pytest.mark.parametrize("where", ["shard", "temporary"])
def test_folder_in_place_of_a_shard_is_refused(store, reference, source, tiny_checkpoint, capsys, where):
    if where == "shard":
        _shard(store).unlink()
        _shard(store).mkdir()
    else:
        (store / st.SHARDS_DIR / ".shard-000001.abc.tmp.h5").mkdir()
    code, err = _resume(source, store, tiny_checkpoint, capsys)
    assert code == 2 and "move it out of the store" in err
    assert _ends_refused_or_correct(store, reference, capsys) == 1


def test_store_of_the_older_format_is_refused_but_still_readable(store, reference, source, tiny_checkpoint, capsys):
    settings = json.loads((store / st.SETTINGS_NAME).read_text())
    (store / st.SETTINGS_NAME).write_text(json.dumps(dict(settings, format=1)))
    code, err = _verify(store, capsys)
    assert code == 2 and "older dfviewer" in err and "generate it again" in err
    assert _resume(source, store, tiny_checkpoint, capsys)[0] == 2
    assert len(GeneratedDataset(store, with_source=False)) == N  # training can still read it


def test_nul_byte_in_a_csv_path_is_one_sentence(tmp_path, tiny_checkpoint, capsys):
    table = tmp_path / "list.csv"
    table.write_text("Image Index\na.png\nb\0.png\n")
    assert main(["generate", str(table), "--column", "Image Index", "--out", str(tmp_path / "s"),
                 "--model", str(tiny_checkpoint)]) == 2
    err = capsys.readouterr().err
    assert "Entry 2" in err and "NUL" in err and "Traceback" not in err


def test_file_name_that_is_not_utf8(tmp_path, source, tiny_checkpoint, capsys):
    folder = tmp_path / "in"
    shutil.copytree(source, folder)
    odd = os.path.join(os.fsencode(folder), b"odd\xffname.png")
    shutil.copy(folder / "case0.png", odd)
    store = tmp_path / "store"
    assert _generate(folder, store, tiny_checkpoint) == 0
    err = capsys.readouterr().err
    assert "not valid UTF-8 are left out" in err and "odd\\xffname.png" in err
    assert len(st.read_sources(store)) == N and _verify(store, capsys)[0] == 0
    # predict writes its maps and a manifest naming the file with the odd byte escaped
    out = tmp_path / "predicted"
    assert main(["predict", os.fsdecode(odd), str(folder / "case1.png"), "--out", str(out),
                 "--model", str(tiny_checkpoint), "--mc", "0", "--format", "npz"]) == 0
    manifest = (out / "predictions.csv").read_text(encoding="utf-8")
    assert "odd\\xffname.png,done" in manifest and "case1.png,done" in manifest


def test_out_name_too_long_is_one_sentence(tmp_path, source, tiny_checkpoint, capsys):
    assert _generate(source, tmp_path / ("x" * 300), tiny_checkpoint) == 2
    err = capsys.readouterr().err
    assert "cannot be used as a store" in err and "too long" in err and "Traceback" not in err
    assert main(["generate", "--verify", str(tmp_path / ("x" * 300))]) == 2
    err = capsys.readouterr().err
    assert "cannot be checked" in err and "too long" in err
