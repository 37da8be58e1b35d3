"""Size limits every reader checks against a file's *declared* sizes before it decodes anything.

A few bytes of header can promise a 60,000 x 60,000 image; decoders then allocate what the header
promises. Chest radiographs are at most about 4,300 x 4,300 pixels (43 cm at 0.1 mm), so the
limits leave a wide margin for real images while keeping one decode well under 1 GB of memory.
"""

from __future__ import annotations

from pathlib import Path

from dfviewer.io.errors import RadiographError

#: pixels of one frame (6,000 x 6,000 is 36 M); the float32 result alone is 144 MB at this size
MAX_PIXELS = 36_000_000
#: bytes of one decoded frame as the decoder returns it (all samples, all bits)
MAX_FRAME_BYTES = 320_000_000
#: channels (samples per pixel) of a frame: gray, gray + alpha, RGB, RGBA
MAX_SAMPLES = 4
#: frames (pages) of one file; only one is decoded, but some formats index them all
MAX_FRAMES = 100_000
#: bytes of a file the readers accept at all (a 16-bit 6,000 x 6,000 x 4 image is 288 MB)
MAX_FILE_BYTES = 2_000_000_000
#: bytes a deflated DICOM data set may inflate to (the largest frame plus room for its attributes)
MAX_INFLATED_BYTES = 400_000_000
#: pixel spacings (mm) taken as known: no X-ray detector resolves below 10 um, and at 10 mm a
#: 43 cm chest film would be 43 pixels wide; values outside are damage (or a unit slip)
PLAUSIBLE_SPACING_MM = (0.01, 10.0)


def check_declared(path: Path, rows: int, cols: int, samples: int = 1, bits: int = 8, frames: int = 1) -> None:
    """Refuse a frame whose declared size is empty, absurd or beyond the limits above."""
    values = {"rows": rows, "columns": cols, "samples": samples, "bits": bits, "frames": frames}
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise RadiographError(path, f"the image header declares a non-integer number of {name} ({value!r})")
    if rows < 1 or cols < 1:
        raise RadiographError(path, f"the image has no pixels ({cols} x {rows})")
    if not 1 <= samples <= MAX_SAMPLES:
        raise RadiographError(path, f"the image declares {samples} samples per pixel (at most {MAX_SAMPLES} are images)")
    if not 1 <= bits <= 64:
        raise RadiographError(path, f"the image declares {bits} bits per sample")
    if not 1 <= frames <= MAX_FRAMES:
        raise RadiographError(path, f"the image declares {frames} frames (at most {MAX_FRAMES:,} are accepted)")
    if rows * cols > MAX_PIXELS:
        raise RadiographError(path, f"the image is {cols} x {rows} pixels, larger than this viewer accepts "
                              f"({MAX_PIXELS // 1_000_000} megapixels)")
    if rows * cols * samples * ((bits + 7) // 8) > MAX_FRAME_BYTES:
        raise RadiographError(path, f"one frame of {cols} x {rows} x {samples} samples of {bits} bits "
                              "is larger than this viewer accepts")
