"""Image readers and the writers: PNG with colorbar, float32 TIFF, derived DICOM, DX DICOM."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image

from dfviewer.io import (
    COLORMAPS,
    RadiographError,
    apply_colormap,
    colormap_lut,
    quantization_step,
    read_radiograph,
    render_png,
    write_derived_dicom,
    write_dx_dicom,
    write_tiff,
)


@pytest.fixture
def ramp():
    rng = np.random.default_rng(0)
    return (np.linspace(0, 1, 120 * 90).reshape(120, 90) + 0.05 * rng.standard_normal((120, 90))).astype(np.float32)


def test_png_8_and_16_bit_jpeg_npy_and_float_tiff(tmp_path, ramp):
    u16 = (np.clip(ramp, 0, 1) * 65535).astype(np.uint16)
    Image.fromarray(u16).save(tmp_path / "a16.png")
    u8 = (np.clip(ramp, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(u8).save(tmp_path / "a8.png")
    Image.fromarray(u8).save(tmp_path / "a.jpg", quality=95)
    np.save(tmp_path / "a.npy", ramp)
    tifffile.imwrite(tmp_path / "a.tif", ramp)
    np.testing.assert_array_equal(read_radiograph(tmp_path / "a16.png").pixels, u16.astype(np.float32))
    np.testing.assert_array_equal(read_radiograph(tmp_path / "a8.png").pixels, u8.astype(np.float32))
    jpg = read_radiograph(tmp_path / "a.jpg").pixels
    assert jpg.shape == u8.shape and np.abs(jpg - u8).mean() < 3
    np.testing.assert_array_equal(read_radiograph(tmp_path / "a.npy").pixels, ramp)
    rg = read_radiograph(tmp_path / "a.tif")
    np.testing.assert_array_equal(rg.pixels, ramp)
    assert rg.dataset is None and rg.pixel_spacing is None and not rg.spacing_known
    lo, hi = np.percentile(ramp, [0.5, 99.5])
    assert rg.window == pytest.approx(((lo + hi) / 2, hi - lo), rel=1e-5)


def test_rgb_png_becomes_gray_with_warning_and_broken_files_are_refused(tmp_path, ramp):
    rgb = np.zeros(ramp.shape + (3,), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "c.png")
    rg = read_radiograph(tmp_path / "c.png")
    assert rg.pixels.ndim == 2 and rg.warnings
    good = (tmp_path / "c.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.tif").write_bytes(b"II*\x00" + b"\x00" * 40)
    (tmp_path / "obj.npy").write_bytes(b"not numpy")
    for name in ("cut.png", "junk.tif", "obj.npy"):
        with pytest.raises(RadiographError) as info:
            read_radiograph(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)


def test_multipage_tiff_frames(tmp_path, ramp):
    tifffile.imwrite(tmp_path / "s.tif", np.stack([ramp, ramp * 2, ramp * 3]), photometric="minisblack")
    assert read_radiograph(tmp_path / "s.tif", frame=2).pixels == pytest.approx(ramp * 3)
    with pytest.raises(RadiographError, match="frame 3"):
        read_radiograph(tmp_path / "s.tif", frame=3)


def test_write_tiff_float32_with_description(tmp_path, ramp):
    path = write_tiff(tmp_path / "out" / "mean.tiff", ramp.astype(np.float64), map_name="dark-field", stage=3,
                      units="a.u.")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.dtype == np.float32
        assert "map dark-field" in page.description and "stage 3" in page.description
        np.testing.assert_array_equal(page.asarray(), ramp)
    write_tiff(tmp_path / "b.tif", ramp, "custom text")
    assert tifffile.TiffFile(tmp_path / "b.tif").pages[0].description == "custom text"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_colormaps_are_perceptually_ordered():
    for name in COLORMAPS:
        lut = colormap_lut(name)
        assert lut.shape == (256, 3) and lut.dtype == np.uint8
        luma = lut @ np.array([0.2126, 0.7152, 0.0722])
        assert np.all(np.diff(luma) > -1.5), name  # lightness rises monotonically
    assert tuple(colormap_lut("viridis")[0]) == (68, 1, 84)
    np.testing.assert_array_equal(colormap_lut("magma_r"), colormap_lut("magma")[::-1])
    with pytest.raises(ValueError, match="^unknown colormap 'jet'; choose one of gray, viridis, magma, inferno, cividis$"):
        colormap_lut("jet")


def test_apply_colormap_window_and_mask(ramp):
    rgb = apply_colormap(ramp, "gray", (0.5, 1.0))
    assert rgb.shape == ramp.shape + (3,) and rgb.dtype == np.uint8
    expected = np.clip(np.rint((ramp - 0.0) * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(rgb[..., 0], expected)
    mask = ramp > 0.5
    rgba = apply_colormap(ramp, "inferno", (0.5, 1.0), mask=mask)
    assert rgba.shape == ramp.shape + (4,)
    np.testing.assert_array_equal(rgba[..., 3] == 255, mask)


@pytest.mark.parametrize("colormap", COLORMAPS)
def test_render_png_image_area_is_exactly_the_colormapped_array(tmp_path, ramp, colormap):
    window = (0.4, 0.8)
    layout = render_png(tmp_path / "m.png", ramp, colormap=colormap, window=window, title="Dark-field, stage 3",
                        units="a.u.")
    image = np.array(Image.open(tmp_path / "m.png"))
    assert image.shape[:2] == (layout.height, layout.width)
    x0, y0, x1, y1 = layout.image_box
    assert (x1 - x0, y1 - y0) == (90, 120) and y0 > 0  # native resolution below a title band
    np.testing.assert_array_equal(image[y0:y1, x0:x1], apply_colormap(ramp, colormap, window))
    # the colorbar: the map's full gradient, top = brightest end
    bx0, by0, bx1, by1 = layout.colorbar_box
    assert bx0 >= x1
    bar = image[by0:by1, (bx0 + bx1) // 2]
    lut = colormap_lut(colormap)
    np.testing.assert_array_equal(bar[0], lut[255])
    np.testing.assert_array_equal(bar[-1], lut[0])
    # labels are drawn (dark text pixels) right of the bar
    labels = image[by0:by1, bx1 + 2:]
    assert (labels.sum(axis=2) < 600).sum() > 30


def test_render_png_with_mask_is_rgba_and_without_colorbar_is_just_the_image(tmp_path, ramp):
    mask = np.zeros(ramp.shape, bool)
    mask[20:100, 10:80] = True
    layout = render_png(tmp_path / "m.png", ramp, "viridis", (0.5, 1.0), mask=mask)
    image = np.array(Image.open(tmp_path / "m.png"))
    assert image.shape[2] == 4 and layout.mode == "RGBA"
    x0, y0, x1, y1 = layout.image_box
    np.testing.assert_array_equal(image[y0:y1, x0:x1, 3] == 255, mask)
    layout = render_png(tmp_path / "plain.png", ramp, "gray", (0.5, 1.0), colorbar=False)
    image = np.array(Image.open(tmp_path / "plain.png"))
    np.testing.assert_array_equal(image, apply_colormap(ramp, "gray", (0.5, 1.0)))
    with pytest.raises(RadiographError, match="2-D"):
        render_png(tmp_path / "bad.png", np.zeros((3, 4, 5)))
    assert not (tmp_path / "bad.png").exists()


def test_dx_dicom_round_trip_and_determinism(tmp_path, ramp):
    att = (ramp * 4).astype(np.float32)
    p1 = write_dx_dicom(tmp_path / "a.dcm", att, patient_id="case007", pixel_spacing=(0.4, 0.5))
    p2 = write_dx_dicom(tmp_path / "b.dcm", att, patient_id="case007", pixel_spacing=(0.4, 0.5))
    ds = pydicom.dcmread(p1)
    assert ds.Modality == "DX" and ds.PhotometricInterpretation == "MONOCHROME2" and ds.PatientID == "case007"
    assert ds.SOPInstanceUID == pydicom.dcmread(p2).SOPInstanceUID  # same content, same UIDs
    rg = read_radiograph(p1)
    assert np.abs(rg.pixels - att).max() <= quantization_step(att) / 2 + 1e-6
    assert rg.pixel_spacing == (0.4, 0.5) and rg.spacing_known
    # larger = more attenuation: the brightest display is the largest attenuation
    assert np.argmax(rg.pixels) == np.argmax(att)


def test_derived_dicom_references_source_and_round_trips(tmp_path, ramp):
    att = (ramp * 4).astype(np.float32)
    source = read_radiograph(write_dx_dicom(tmp_path / "src.dcm", att, patient_id="P1", pixel_spacing=(0.5, 0.5)))
    df = (ramp[::-1] * 0.3 + 0.01).astype(np.float32)
    path = write_derived_dicom(tmp_path / "df.dcm", df, source, stage=3, model_name="fast-demo")
    ds = pydicom.dcmread(path)
    src = source.dataset
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert ds.PatientID == "P1" and ds.StudyInstanceUID == src.StudyInstanceUID
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID and ds.SOPInstanceUID != src.SOPInstanceUID
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert "stage 3" in ds.SeriesDescription and "fast-demo" in ds.SeriesDescription
    back = read_radiograph(path)
    assert np.abs(back.pixels - df).max() <= quantization_step(df) / 2 + 1e-7
    assert back.pixel_spacing == (0.5, 0.5)
    # without a source: a new study, still readable
    alone = write_derived_dicom(tmp_path / "alone.dcm", df, None, stage=1, model_name="m")
    assert pydicom.dcmread(alone).StudyInstanceUID != src.StudyInstanceUID
    np.testing.assert_allclose(read_radiograph(alone).pixels, df, atol=quantization_step(df))


def test_derived_dicom_of_a_flagged_input_says_so_where_dicom_viewers_show_it(tmp_path, ramp):
    source = read_radiograph(write_dx_dicom(tmp_path / "src.dcm", ramp * 4, patient_id="P1"))
    df = (ramp * 0.3 + 0.01).astype(np.float32)
    sentence = "this image is unlike the model's training inputs, so its maps have no meaning for it"
    long_model = "m" * 80  # the suffix survives a SeriesDescription cut to 64 characters
    flagged = pydicom.dcmread(write_derived_dicom(tmp_path / "f.dcm", df, source, 3, long_model, warning=sentence))
    plain = pydicom.dcmread(write_derived_dicom(tmp_path / "p.dcm", df, source, 3, long_model))
    assert flagged.ImageComments.startswith("Warning: This image is unlike the model's training inputs, so its "
                                            "maps have no meaning for it. Generated by dfviewer")
    assert flagged.SeriesDescription.endswith(" [flagged input]") and len(flagged.SeriesDescription) <= 64
    assert "arning" not in plain.ImageComments and "flagged" not in plain.SeriesDescription
    assert plain.ImageComments.startswith("Generated by dfviewer")


def test_render_png_spells_out_greek_letters_the_builtin_font_lacks(tmp_path, ramp):
    # Pillow's built-in font draws σ as a box; the title reads "Epistemic sigma" instead
    render_png(tmp_path / "g.png", ramp, title="Epistemic σ (α, β)")
    render_png(tmp_path / "s.png", ramp, title="Epistemic sigma (alpha, beta)")
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "g.png")), np.array(Image.open(tmp_path / "s.png")))
