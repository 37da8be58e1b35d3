"""Strip the shared libraries of the desktop bundle where that is safe (used by dfviewer.spec).

Several wheels ship their libraries with symbol tables and debug sections (the build's libpython,
pyarrow, pylibjpeg: about 80 MiB together). PyInstaller's own ``strip=True`` strips everything, and
binutils' strip breaks the libraries that auditwheel rewrote with patchelf (numpy's OpenBLAS failed to
load: "ELF load command address/offset not page-aligned"). Here each library is stripped into a copy,
and the copy is used only when its loadable segments are still page-aligned and it is smaller.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

PT_LOAD = 1
#: a copy must save at least this much to replace the original (most system libraries are stripped already)
MIN_SAVING = 64 * 1024


def load_segments_aligned(path: Path) -> bool:
    """True for a 64-bit little-endian ELF file whose PT_LOAD segments the loader can map (offset ≡ address)."""
    with open(path, "rb") as f:
        header = f.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
            return False
        phoff, = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    if phentsize < 56 or len(table) < phentsize * phnum:
        return False
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, _, _, p_align = struct.unpack_from("<IIQQQQQQ", table, i * phentsize)
        if p_type == PT_LOAD and p_align > 1 and (p_offset - p_vaddr) % p_align:
            return False
    return True


def stripped_copy(src: Path, out_dir: Path) -> Path | None:
    """A stripped copy of ``src`` in ``out_dir``, or None where stripping is not safe or gains nothing."""
    src = Path(src)
    if any((src.parent / name).exists() for name in (f".{src.name}.hmac", f"{src.name}.hmac", f"{src.name}.chk")):
        return None  # integrity-checked (FIPS) libraries must stay byte for byte
    if not load_segments_aligned(src):
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / src.name
    try:
        subprocess.run(["strip", "-o", str(out), str(src)], check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    if not load_segments_aligned(out) or out.stat().st_size > src.stat().st_size - MIN_SAVING:
        out.unlink(missing_ok=True)
        return None
    return out


def strip_binaries(binaries: list, work_dir: Path) -> list:
    """PyInstaller's binaries TOC with each safely strippable library replaced by its stripped copy."""
    if shutil.which("strip") is None:
        print("strip_libs: no strip tool (binutils); the libraries are bundled as they are")
        return list(binaries)
    result, saved = [], 0
    for dest, src, kind in binaries:
        if kind not in ("BINARY", "EXTENSION"):  # e.g. SYMLINK entries, whose src is no file
            result.append((dest, src, kind))
            continue
        copy = stripped_copy(Path(src), Path(work_dir) / "stripped" / Path(dest).parent)
        if copy is not None:
            saved += Path(src).stat().st_size - copy.stat().st_size
            src = str(copy)
        result.append((dest, src, kind))
    print(f"strip_libs: {saved / 2**20:.0f} MiB of symbols and debug sections stripped")
    return result
