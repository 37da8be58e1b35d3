"""The DICOM grayscale pipeline on pydicom's real test files (pydicom + pydicom-data)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, apply_windowing

from dfviewer.io import RadiographError, read_radiograph, window_indices


def data_file(name: str) -> str:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"pydicom test file {name} is not installed")
    return path


def dataset(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(data_file(name))


def display(pixels: np.ndarray, window) -> np.ndarray:
    """Our display ramp in [0, 1] for a (centre, width) window."""
    c, w = window
    return np.clip((pixels.astype(np.float64) - (c - w / 2)) / w, 0, 1)


def test_rescale_intercept_matches_pydicom_modality_lut():
    ds = dataset("CT_small.dcm")
    expected = apply_modality_lut(ds.pixel_array, ds)
    rg = read_radiograph(data_file("CT_small.dcm"))
    assert rg.pixels.dtype == np.float32 and rg.pixels.shape == (128, 128)
    for r, c in [(0, 0), (64, 64), (10, 100), (127, 5)]:
        assert rg.pixels[r, c] == pytest.approx(expected[r, c])
    assert rg.pixels[64, 64] == ds.pixel_array[64, 64] - 1024
    assert rg.pixel_spacing == pytest.approx((0.661468, 0.661468)) and rg.spacing_known
    assert rg.metadata["modality"] == "CT" and rg.dataset is not None


def test_non_unit_rescale_slope():
    ds = dataset("MR2_UNCI.dcm")
    rg = read_radiograph(data_file("MR2_UNCI.dcm"))
    expected = apply_modality_lut(ds.pixel_array, ds)
    assert float(ds.RescaleSlope) != 1
    np.testing.assert_allclose(rg.pixels, expected, rtol=1e-6)


def test_monochrome1_is_inverted_after_voi():
    name = "RG1_UNCI.dcm"
    ds = dataset(name)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    stored = ds.pixel_array.astype(np.float64)
    rg = read_radiograph(data_file(name))
    pivot = 0 + (2 ** ds.BitsStored - 1)  # unsigned, no rescale: the modality range is 0..2^15-1
    np.testing.assert_array_equal(rg.pixels, (pivot - stored).astype(np.float32))
    # orientation: the lowest stored value (white on a MONOCHROME1 display) is now the largest pixel
    lowest = np.unravel_index(np.argmin(stored), stored.shape)
    assert rg.pixels[lowest] == rg.pixels.max()
    # display == the file's VOI window followed by the MONOCHROME1 inversion
    voi = apply_windowing(ds.pixel_array, ds)
    expected = 1.0 - (voi - 0) / (2**ds.BitsStored - 1)
    ours = display(rg.pixels, rg.window)
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    assert any("MONOCHROME1" in w for w in rg.warnings)


def test_monochrome1_jpeg2000_lossless_equals_uncompressed():
    a = read_radiograph(data_file("RG3_J2KR.dcm"))
    b = read_radiograph(data_file("RG3_UNCR.dcm"))
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert a.window == b.window


def test_modality_lut_sequence():
    ds = dataset("mlut_18.dcm")
    assert "ModalityLUTSequence" in ds
    rg = read_radiograph(data_file("mlut_18.dcm"))
    expected = apply_modality_lut(ds.pixel_array, ds)
    np.testing.assert_array_equal(rg.pixels, expected.astype(np.float32))
    assert not np.array_equal(expected, ds.pixel_array)


def test_voi_lut_sequence_gives_a_window_not_baked_pixels():
    ds = dataset("vlut_04.dcm")
    rg = read_radiograph(data_file("vlut_04.dcm"))
    np.testing.assert_array_equal(rg.pixels, ds.pixel_array.astype(np.float32))
    assert rg.metadata["voi"] == "VOI LUT"
    name, c, w = rg.window_presets[0]
    assert (c, w) == rg.window and w > 0


def test_several_windows_become_presets_in_dicom_linear_convention():
    ds = dataset("MR-SIEMENS-DICOM-WithOverlays.dcm")
    rg = read_radiograph(data_file("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    centres, widths = [float(v) for v in ds.WindowCenter], [float(v) for v in ds.WindowWidth]
    assert len(centres) == 2
    for i in range(2):
        name, c, w = rg.window_presets[i]
        assert (c, w) == (centres[i] - 0.5, widths[i] - 1)
        voi = apply_windowing(ds.pixel_array, ds, index=i)
        y_max = 2**ds.BitsStored - 1
        np.testing.assert_allclose(display(rg.pixels, (c, w)), voi / y_max, atol=1e-9)
    assert rg.window == rg.window_presets[0][1:]
    assert rg.window_presets[-1][0].startswith("Auto")


def test_enhanced_multiframe_functional_groups():
    ds = dataset("eCT_Supplemental.dcm")
    rg = read_radiograph(data_file("eCT_Supplemental.dcm"), frame=1)
    stored = ds.pixel_array[1].astype(np.float64)
    np.testing.assert_array_equal(rg.pixels, (stored - 1024).astype(np.float32))  # shared Pixel Value Transformation
    assert rg.window == (48.5, 101.0)  # Frame VOI LUT: centre 49, width 102, LINEAR
    assert rg.pixel_spacing == pytest.approx((0.388672, 0.388672))
    assert rg.n_frames == 2 and rg.frame == 1


@pytest.mark.parametrize("name", ["emri_small.dcm", "emri_small_RLE.dcm", "emri_small_big_endian.dcm",
                                  "emri_small_jpeg_ls_lossless.dcm", "emri_small_jpeg_2k_lossless.dcm"])
def test_multiframe_frame_index_and_lossless_syntaxes(name):
    reference = dataset("emri_small.dcm").pixel_array
    for frame in (0, 7, -1):
        rg = read_radiograph(data_file(name), frame=frame)
        np.testing.assert_array_equal(rg.pixels, reference[frame].astype(np.float32))
        assert rg.n_frames == 10
    with pytest.raises(RadiographError, match="frame 10 .* 10 frame"):
        read_radiograph(data_file(name), frame=10)


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
                                  "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_expb.dcm"])
def test_lossless_syntaxes_equal_the_uncompressed_original(name):
    original = read_radiograph(data_file("MR_small.dcm"))
    rg = read_radiograph(data_file(name))
    np.testing.assert_array_equal(rg.pixels, original.pixels)
    assert rg.window == original.window == (599.5, 1599.0)


@pytest.mark.parametrize("name, syntax", [
    ("JPEG-LL.dcm", "1.2.840.10008.1.2.4.70"),            # JPEG lossless, process 14 SV1
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", "1.2.840.10008.1.2.4.70"),
    ("JPGExtended.dcm", "1.2.840.10008.1.2.4.51"),        # JPEG extended 12-bit
    ("JPEGLSNearLossless_16.dcm", "1.2.840.10008.1.2.4.81"),
    ("693_J2KI.dcm", "1.2.840.10008.1.2.4.91"),           # JPEG 2000 lossy
    ("image_dfl.dcm", "1.2.840.10008.1.2.1.99"),          # deflated explicit VR little endian
    ("SC_rgb_jpeg_dcmtk.dcm", "1.2.840.10008.1.2.4.50"),  # JPEG baseline (colour)
])
def test_compressed_syntaxes_decode_like_pydicom(name, syntax):
    ds = dataset(name)
    assert ds.file_meta.TransferSyntaxUID == syntax
    rg = read_radiograph(data_file(name))
    arr = ds.pixel_array
    if arr.ndim == 3:  # colour: luma of pydicom's RGB, with a warning
        expected = 0.299 * arr[..., 0] + 0.587 * arr[..., 1] + 0.114 * arr[..., 2]
        assert any("colour" in w for w in rg.warnings)
    else:
        expected = apply_modality_lut(arr, ds)
    np.testing.assert_allclose(rg.pixels, expected, rtol=1e-6, atol=1e-3)
    assert rg.pixels.ndim == 2 and rg.pixels.dtype == np.float32


def test_lossy_jpeg2000_is_close_to_the_original():
    lossy = read_radiograph(data_file("693_J2KI.dcm")).pixels
    original = read_radiograph(data_file("693_UNCI.dcm")).pixels
    assert np.corrcoef(lossy.ravel(), original.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("name", ["OBXXXX1A.dcm", "SC_rgb.dcm", "US1_J2KR.dcm"])
def test_colour_becomes_gray_with_a_warning(name):
    rg = read_radiograph(data_file(name))
    assert rg.pixels.ndim == 2 and rg.pixels.dtype == np.float32
    assert any("gray" in w for w in rg.warnings)


@pytest.mark.parametrize("name, reason", [
    ("rtplan.dcm", "RT Plan"),
    ("test-SR.dcm", "structured report"),
    ("reportsi.dcm", "structured report"),
    ("waveform_ecg.dcm", "waveform"),
    ("MR_truncated.dcm", "truncated"),
    ("emri_small_jpeg_2k_lossless_too_short.dcm", "truncated"),
    ("JPEG-lossy.dcm", "could not be decoded"),
    ("rtstruct.dcm", "RT Structure Set"),  # no preamble: read as a bare data set, then refused for what it is
    ("no_meta.dcm", "not a DICOM file"),
])
def test_refusals_are_one_plain_sentence(name, reason):
    path = data_file(name)
    with pytest.raises(RadiographError) as info:
        read_radiograph(path)
    message = str(info.value)
    assert reason in message
    assert name in message and "\n" not in message and message.endswith(".")
    assert "Traceback" not in message
    assert isinstance(info.value, ValueError)


def test_dicomdir_is_refused():
    path = data_file("dicomdirtests/DICOMDIR") if get_testdata_file("DICOMDIR", download=False) is None \
        else get_testdata_file("DICOMDIR", download=False)
    with pytest.raises(RadiographError, match="DICOMDIR"):
        read_radiograph(path)


def test_a_bare_data_set_without_preamble_or_meta_is_read(tmp_path):
    # The viewer and predict have no "force" option: a headerless data set (group 0008 first) is read as is.
    name = "OT-PAL-8-face.dcm"
    assert read_radiograph(data_file(name)).pixels.shape == (480, 640)
    rg = read_radiograph(data_file(name), force=True)
    assert rg.pixels.shape == (480, 640)
    other = tmp_path / "notes.dcm"
    other.write_bytes(b"\x00\x01" + b"not a data set" * 20)
    with pytest.raises(RadiographError, match="not a DICOM file") as info:
        read_radiograph(other)
    assert "force" not in str(info.value)
    with pytest.raises(RadiographError, match="RT Structure Set"):
        read_radiograph(data_file("rtstruct.dcm"), force=True)


def test_empty_non_dicom_and_missing_files(tmp_path):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    text = tmp_path / "notes.dcm"
    text.write_text("this is not an image\n" * 20)
    for path, reason in ((empty, "empty"), (text, "not a DICOM file"), (tmp_path / "gone.dcm", "does not exist"),
                         (tmp_path, "folder")):
        with pytest.raises(RadiographError, match=reason):
            read_radiograph(path)


@pytest.mark.parametrize("name, content", [
    ("notes.txt", b"this is not an image\n" * 20),
    ("report.pdf", b"%PDF-1.4\n" + b"\x00" * 300),
    ("README", b"# a readme without a suffix\n" * 10),
])
def test_a_file_in_no_readable_format_names_the_formats(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RadiographError) as info:
        read_radiograph(path)
    assert str(info.value) == f"Cannot read {name}: it is not an image dfviewer reads (DICOM, PNG, JPEG, TIFF or NPY)."


def test_dicom_files_with_any_suffix_are_still_read(tmp_path):
    """Archives name DICOM files by UID (suffix ".3") or ".raw"; the content decides, not the suffix."""
    by_uid = tmp_path / "1.2.840.113619.2.55.3"
    by_uid.write_bytes(Path(data_file("CT_small.dcm")).read_bytes())  # with preamble and 'DICM'
    np.testing.assert_array_equal(read_radiograph(by_uid).pixels, read_radiograph(data_file("CT_small.dcm")).pixels)
    bare = tmp_path / "face.raw"
    bare.write_bytes(Path(data_file("OT-PAL-8-face.dcm")).read_bytes())  # no preamble: starts with group 0008
    face = read_radiograph(bare)
    assert face.pixels.shape == (480, 640)
    np.testing.assert_array_equal(face.pixels, read_radiograph(data_file("OT-PAL-8-face.dcm")).pixels)


def test_random_bytes_are_refused_quickly_even_with_force(tmp_path):
    rng = np.random.default_rng(0)
    for i, data in enumerate((rng.bytes(5000), b"\x00" * 128 + b"DICM" + rng.bytes(2000), b"hello\n" * 50)):
        path = tmp_path / f"junk{i}.dcm"
        path.write_bytes(data)
        for force in (False, True):
            with pytest.raises(RadiographError) as info:
                read_radiograph(path, force=force)
            assert path.name in str(info.value)


def test_absurd_size_is_refused_before_decoding(tmp_path):
    ds = dataset("CT_small.dcm")
    ds.Rows = 60000
    ds.Columns = 60000
    path = tmp_path / "huge.dcm"
    ds.save_as(path)
    with pytest.raises(RadiographError, match="larger than this viewer accepts"):
        read_radiograph(path)


def test_negative_rescale_slope_keeps_values_and_window_consistent(tmp_path):
    ds = dataset("CT_small.dcm")
    ds.RescaleSlope = -1
    ds.RescaleIntercept = 1000
    ds.WindowCenter = 200
    ds.WindowWidth = 400
    path = tmp_path / "neg.dcm"
    ds.save_as(path)
    rg = read_radiograph(path)
    np.testing.assert_allclose(rg.pixels, 1000.0 - ds.pixel_array, rtol=0, atol=1e-3)
    voi = apply_windowing(apply_modality_lut(ds.pixel_array, ds), ds)
    # pydicom maps the signed 16-bit range through the slope: its 'y_min' is the larger end here
    y_min, y_max = -(2**15) * -1 + 1000, (2**15 - 1) * -1 + 1000
    np.testing.assert_allclose(display(rg.pixels, rg.window), (voi - y_min) / (y_max - y_min), atol=1e-6)
    assert window_indices(rg.pixels, rg.window).dtype == np.uint8


def test_inverse_presentation_lut_flips_a_monochrome2_image(tmp_path):
    ds = dataset("MR_small.dcm")
    plain = read_radiograph(data_file("MR_small.dcm"))
    ds.PresentationLUTShape = "INVERSE"
    path = tmp_path / "inverse.dcm"
    ds.save_as(path)
    rg = read_radiograph(path)
    pivot = -(2**15) + (2**15 - 1)  # signed 16-bit, no rescale
    np.testing.assert_array_equal(rg.pixels, pivot - plain.pixels)
    assert rg.window == (pivot - plain.window[0], plain.window[1])
    np.testing.assert_allclose(display(rg.pixels, rg.window), 1 - display(plain.pixels, plain.window), atol=1e-9)
