"""Atomic writes: normal permissions, nothing half-written on error."""

import pytest


def test_atomic_write_gives_normal_permissions_and_leaves_nothing_on_error(tmp_path):
    import os

    from dfviewer.atomic import atomic_path, atomic_write_text

    target = tmp_path / "out.txt"
    atomic_write_text(target, "hello")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
