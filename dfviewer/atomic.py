"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash, a full disk or a cancelled run never leaves a half-written file under the
final name; a full disk becomes one plain sentence (:class:`WriteError`). Shared by core, io
and the GUI (no third-party imports here).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dfviewer.errors import UserError


class WriteError(UserError, OSError):
    """A file could not be written (full disk, no permission, read-only disk); one plain sentence.

    Also an ``OSError``, so callers that catch those keep working.
    """


_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EACCES: "permission to write there was denied",
    errno.EPERM: "permission to write there was denied",
    errno.EROFS: "the disk is read-only",
    errno.ENAMETOOLONG: "the file name is too long",
}


def write_error(target: Path, exc: OSError) -> WriteError:
    """The one-sentence :class:`WriteError` for an ``OSError`` met while writing ``target``."""
    reason = _REASONS.get(exc.errno or -1) or (exc.strerror or str(exc) or type(exc).__name__).rstrip(". ")
    return WriteError(f"Could not write {target.name}: {reason}, so it was not written "
                      "(an earlier file of that name is unchanged).")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched; an
    ``OSError`` (a full disk, say) becomes a :class:`WriteError` with one sentence.
    The temporary name keeps the target's suffix so format-sniffing writers work.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
        )
        os.close(fd)
    except WriteError:
        raise
    except OSError as exc:
        raise write_error(target, exc) from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600; give the file the mode a plain open() would have given it
        os.chmod(tmp, _final_mode(target))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise write_error(target, exc) from exc
        raise


def _final_mode(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777  # keep an existing file's permissions
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))
