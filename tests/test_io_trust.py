"""Right pixels or a refusal: plain-image classes that used to give a silently wrong picture.

Every file here is synthesised with a known expected image, computed from the definition of the
format (not by the reader), and compared pixel by pixel.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from dfviewer.io import RadiographError, read_radiograph

RNG = np.random.default_rng(23)


def luma(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


# --- TIFF photometric interpretations -------------------------------------------------------------

def test_tiff_gray_palette_gives_the_palette_intensities(tmp_path):
    indices = RNG.integers(0, 256, (40, 30), dtype=np.uint8)
    ramp = ((255 - np.arange(256)) * 257).astype(np.uint16)  # reversed: index 0 is white
    path = tmp_path / "palette_gray.tif"
    tifffile.imwrite(path, indices, photometric="palette", colormap=np.stack([ramp] * 3))
    rg = read_radiograph(path)
    np.testing.assert_array_equal(rg.pixels, (255 - indices.astype(np.float64)) * 257)
    assert not any("colour" in w for w in rg.warnings)


def test_tiff_colour_palette_gives_luma_with_a_warning(tmp_path):
    indices = RNG.integers(0, 16, (20, 24), dtype=np.uint8)
    colormap = RNG.integers(0, 65536, (3, 256), dtype=np.uint16)
    path = tmp_path / "palette_colour.tif"
    tifffile.imwrite(path, indices, photometric="palette", colormap=colormap)
    rg = read_radiograph(path)
    expected = luma(colormap.T[indices])
    np.testing.assert_allclose(rg.pixels, expected, rtol=1e-6)
    assert any("colour" in w for w in rg.warnings)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_cmyk_becomes_rgb_then_luma(tmp_path, dtype):
    top = np.iinfo(dtype).max
    cmyk = RNG.integers(0, top + 1, (16, 18, 4)).astype(dtype)
    path = tmp_path / "cmyk.tif"
    tifffile.imwrite(path, cmyk, photometric="separated")
    rg = read_radiograph(path)
    ink = cmyk.astype(np.float64) / top
    rgb = top * (1 - ink[..., :3]) * (1 - ink[..., 3:4])
    np.testing.assert_allclose(rg.pixels, luma(rgb), rtol=1e-5, atol=top * 1e-5)
    assert any("CMYK" in w for w in rg.warnings)


def test_tiff_separated_with_other_inks_is_refused(tmp_path):
    path = tmp_path / "inks.tif"
    tifffile.imwrite(path, np.zeros((8, 8, 4), np.uint8), photometric="separated", extratags=[(332, "H", 1, 2, True)])
    with pytest.raises(RadiographError, match="inks other than CMYK"):
        read_radiograph(path)


@pytest.mark.parametrize("values, expected", [
    (np.array([[0, 10], [200, 255]], np.uint8), np.array([[255, 245], [55, 0]])),
    (np.array([[0, 1000], [40000, 65535]], np.uint16), np.array([[65535, 64535], [25535, 0]])),
    (np.array([[-5, 0], [7, 300]], np.int16), np.array([[4, -1], [-8, -301]])),
    # int64: the old inversion, iinfo.max - x in float32, made every pixel 9.2e18
    (np.array([[0, 1], [2, 1000]], np.int64), np.array([[-1, -2], [-3, -1001]])),
    (np.array([[3, 4], [10, 2**40]], np.uint64), np.array([[2**40, 2**40 - 1], [2**40 - 7, 3]])),
    # floats: reflected about the data's own range, min + max - x
    (np.array([[0.25, 0.5], [1.5, -0.75]], np.float32), np.array([[0.5, 0.25], [-0.75, 1.5]])),
    (np.array([[1e-3, 2e-3], [5e-3, 4e-3]], np.float64), np.array([[5e-3, 4e-3], [1e-3, 2e-3]])),
])
def test_tiff_min_is_white_is_inverted_for_every_sample_type(tmp_path, values, expected):
    path = tmp_path / "miniswhite.tif"
    tifffile.imwrite(path, values, photometric="miniswhite")
    rg = read_radiograph(path)
    np.testing.assert_allclose(rg.pixels, expected.astype(np.float32), rtol=1e-6)
    assert any("MinIsWhite" in w for w in rg.warnings)


def test_tiff_min_is_white_float_uses_the_declared_range(tmp_path):
    values = np.array([[0.2, 0.4], [0.6, 0.3]], np.float32)
    path = tmp_path / "declared.tif"
    tifffile.imwrite(path, values, photometric="miniswhite",
                     extratags=[(340, "d", 1, 0.0, True), (341, "d", 1, 1.0, True)])
    np.testing.assert_allclose(read_radiograph(path).pixels, 1.0 - values, rtol=1e-6)


def test_tiff_complex_samples_are_refused(tmp_path):
    path = tmp_path / "complex.tif"
    tifffile.imwrite(path, (np.ones((8, 8)) + 1j * np.arange(64).reshape(8, 8)).astype(np.complex64))
    with pytest.raises(RadiographError, match="complex numbers"):
        read_radiograph(path)


# --- JPEG EXIF orientation ------------------------------------------------------------------------

#: what a viewer does to the stored pixels for each EXIF orientation (EXIF 2.3, tag 0x0112)
SHOW = {
    1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud,
    5: lambda a: a.T, 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 2).T, 8: lambda a: np.rot90(a, 1),
}


def upright() -> np.ndarray:
    """An asymmetric blocky image (each 8x8 JPEG block one value, 20 levels apart) and 3:4, not square."""
    levels = (np.arange(12).reshape(3, 4) * 20 + 10).astype(np.uint8)
    return np.kron(levels, np.ones((16, 16), np.uint8))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_is_applied(tmp_path, orientation):
    truth = upright()
    stored = truth
    for _ in range(3):  # the inverse of a transform of order 1, 2 or 4 is itself applied 3 times
        stored = SHOW[orientation](stored)
    assert np.array_equal(SHOW[orientation](stored), truth)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(np.ascontiguousarray(stored)).save(path, quality=98, exif=exif)
    rg = read_radiograph(path)
    assert rg.pixels.shape == truth.shape
    assert np.abs(rg.pixels - truth).max() <= 3  # JPEG rounding only; a wrong transform is off by >= 20
    if orientation != 1:
        assert rg.metadata["exif_orientation"] == str(orientation)


# --- NPY shapes -----------------------------------------------------------------------------------

def test_npy_trailing_axis_of_one_to_four_is_channels(tmp_path):
    row = RNG.integers(0, 256, (1, 50, 3)).astype(np.uint8)
    np.save(tmp_path / "row.npy", row)
    rg = read_radiograph(tmp_path / "row.npy")
    assert rg.pixels.shape == (1, 50) and rg.n_frames == 1
    np.testing.assert_allclose(rg.pixels, luma(row), rtol=1e-6)

    gray = RNG.random((30, 20, 1)).astype(np.float32)
    np.save(tmp_path / "gray.npy", gray)
    np.testing.assert_array_equal(read_radiograph(tmp_path / "gray.npy").pixels, gray[..., 0])

    alpha = np.stack([gray[..., 0], np.ones_like(gray[..., 0])], axis=-1)
    np.save(tmp_path / "alpha.npy", alpha)
    np.testing.assert_array_equal(read_radiograph(tmp_path / "alpha.npy").pixels, gray[..., 0])


def test_npy_frames_first_with_and_without_channels(tmp_path):
    stack = RNG.random((3, 20, 30)).astype(np.float32)
    np.save(tmp_path / "stack.npy", stack)
    rg = read_radiograph(tmp_path / "stack.npy", frame=2)
    assert rg.n_frames == 3
    np.testing.assert_array_equal(rg.pixels, stack[2])

    single = stack[:1]
    np.save(tmp_path / "single.npy", single)
    np.testing.assert_array_equal(read_radiograph(tmp_path / "single.npy").pixels, stack[0])

    colour = RNG.integers(0, 256, (2, 10, 12, 3)).astype(np.uint8)
    np.save(tmp_path / "colour.npy", colour)
    rg = read_radiograph(tmp_path / "colour.npy", frame=1)
    assert rg.n_frames == 2
    np.testing.assert_allclose(rg.pixels, luma(colour[1]), rtol=1e-6)


def test_npy_other_shapes_are_refused(tmp_path):
    np.save(tmp_path / "five.npy", np.zeros((2, 3, 4, 5, 6), np.float32))
    with pytest.raises(RadiographError, match="shape"):
        read_radiograph(tmp_path / "five.npy")
    np.save(tmp_path / "wide.npy", np.zeros((2, 10, 12, 7), np.float32))
    with pytest.raises(RadiographError, match="shape"):
        read_radiograph(tmp_path / "wide.npy")
