"""The first minutes on real films: folder stepping past bad files, one region in the Stages table,
the warning banner, the File Info panel and the Preferences checkpoint field (issue 22)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PyQt6.QtCore import Qt

from dfviewer.display import analysis
from dfviewer.imaging.voi_windows import format_number


@pytest.fixture
def bad_folder(tmp_path, case_dir):
    """good ``a.npy``, a 0-byte ``b.dcm``, good ``c.npy``."""
    shutil.copy(case_dir / "plain.npy", tmp_path / "a.npy")
    (tmp_path / "b.dcm").write_bytes(b"")
    shutil.copy(case_dir / "plain.npy", tmp_path / "c.npy")
    return tmp_path


def _names(window) -> list[str]:
    return [window.files.item(i).text() for i in range(window.files.count())]


def test_page_down_passes_over_an_unreadable_file_and_marks_it(window, bad_folder, qtbot):
    window.state.preferences.mc_samples = 0
    assert window.open_folder(bad_folder)
    assert _names(window) == ["a.npy", "b.dcm", "c.npy"] and window.state.path.name == "a.npy"
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.state.path.name == "c.npy"  # one key press, past the empty file
    reason = window.files.unreadable_reason(bad_folder / "b.dcm")
    assert reason == "Cannot read b.dcm: the file is empty."
    bad_item = window.files.item(1)
    assert reason in bad_item.toolTip() and not bad_item.icon().isNull()
    assert bad_item.foreground().color().name() != window.files.item(0).foreground().color().name()
    assert window.last_error is None  # reported in the status bar, no dialog in the way of the keys
    assert "b.dcm" in window.statusBar().currentMessage() or "b.dcm" in window.log_panel.toPlainText()
    assert window.files.currentItem().text() == "c.npy"
    qtbot.keyClick(window, Qt.Key.Key_PageDown)  # the end: stays, says so
    assert window.state.path.name == "c.npy" and "No readable image after" in window.statusBar().currentMessage()
    qtbot.keyClick(window, Qt.Key.Key_PageUp)  # the known bad file is skipped without reading it again
    assert window.state.path.name == "a.npy"
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.state.path.name == "c.npy"


def test_a_folder_whose_first_file_is_unreadable_opens_the_first_readable_one(window, bad_folder, qtbot):
    window.state.preferences.mc_samples = 0
    (bad_folder / "a.npy").write_bytes(b"not an array")
    assert window.open_folder(bad_folder)
    assert window.state.path.name == "c.npy"
    assert window.files.unreadable_reason(bad_folder / "a.npy").startswith("Cannot read a.npy")
    assert window.files.unreadable_reason(bad_folder / "b.dcm")
    assert window.last_error is None


def test_a_folder_of_only_unreadable_files_says_so_once(window, tmp_path, qtbot):
    (tmp_path / "x.dcm").write_bytes(b"")
    (tmp_path / "y.png").write_bytes(b"no png")
    with qtbot.waitSignal(window.errorShown, timeout=2000) as blocker:
        assert not window.open_folder(tmp_path)
    assert blocker.args[0] == "None of the 2 images could be opened; the Files list says why for each."
    assert window.state.path is None
    qtbot.keyClick(window, Qt.Key.Key_PageDown)  # nothing to step to, nothing breaks
    assert window.state.path is None


def test_a_single_click_in_the_files_list_opens_the_file(window, bad_folder, qtbot):
    window.state.preferences.mc_samples = 0
    assert window.open_folder(bad_folder)
    window.dock_files.raise_()
    qtbot.waitUntil(window.files.isVisible, timeout=2000)
    opened: list[str] = []
    window.imageOpened.connect(opened.append)
    item = window.files.item(2)
    qtbot.mouseClick(window.files.viewport(), Qt.MouseButton.LeftButton,
                     pos=window.files.visualItemRect(item).center())
    assert window.state.path.name == "c.npy" and opened == [str(bad_folder / "c.npy")]
    qtbot.mouseDClick(window.files.viewport(), Qt.MouseButton.LeftButton,
                      pos=window.files.visualItemRect(item).center())
    assert len(opened) == 1  # the file shown is not opened again
    bad = window.files.item(1)
    qtbot.mouseClick(window.files.viewport(), Qt.MouseButton.LeftButton, pos=window.files.visualItemRect(bad).center())
    assert window.state.path.name == "c.npy" and window.last_error is None
    assert "the file is empty" in window.statusBar().currentMessage()
    qtbot.keyClick(window, Qt.Key.Key_PageDown)  # from the clicked bad file on: nothing after it
    assert window.state.path.name == "c.npy"


def test_stages_table_keeps_one_region_named_in_its_header_from_the_first_preview(window, case_dir, qtbot):
    window.state.preferences.mc_samples = 3
    seen: list[tuple[str, str, list[str]]] = []
    previews: list[list] = []
    real_show_rows = window.summary.show_rows

    def recording(rows, stage, region=None):  # observes the real table; every call still draws it
        real_show_rows(rows, stage, region)
        if rows:
            seen.append((window.summary.header_text(1), window.summary.header_text(2),
                         [window.summary.item(i, 1).text() for i in range(len(rows))]))

    window.summary.show_rows = recording
    window.controller.worker.update.connect(
        lambda job, stages, done, total, preview: previews.append(stages) if preview else None)
    with qtbot.waitSignals([window.inferenceFinished, window.summaryUpdated], timeout=180_000):
        window.open_file(case_dir / "case.tiff")
    s = window.state
    lungs = analysis.analyse_lungs(s.radiograph.pixels, previews[0][-1].mean)
    region = "lungs" if lungs.mask is not None else "whole image"
    named = [entry for entry in seen if entry[0] != "σ_al\n…"]
    assert named and all(entry[:2] == (f"σ_al\n({region})", f"σ_ep\n({region})") for entry in named)
    # before the region is known the σ cells wait; they never show a whole-image mean under no name
    assert all(set(entry[2]) == {"…"} for entry in seen if entry[0] == "σ_al\n…")
    final = analysis.stage_summary(s.results, s.truth, lungs.mask, with_ssim=False)
    assert [window.summary.item(i, 1).text() for i in range(3)] == [format_number(r["aleatoric"]) for r in final]
    assert [window.summary.item(i, 2).text() for i in range(3)] == [format_number(r["epistemic"]) for r in final]


def test_stages_table_says_whole_image_when_no_lungs_are_found(window, tmp_path, qtbot):
    window.state.preferences.mc_samples = 2
    ramp = tmp_path / "ramp.npy"  # no body, no lungs
    np.save(ramp, np.tile(np.linspace(0, 1, 80, dtype=np.float32), (96, 1)))
    with qtbot.waitSignals([window.inferenceFinished, window.summaryUpdated], timeout=180_000):
        window.open_file(ramp)
    assert window.summary.header_text(1) == "σ_al\n(whole image)"
    whole = analysis.stage_summary(window.state.results, None, None, with_ssim=False)
    assert window.summary.item(0, 1).text() == format_number(whole[0]["aleatoric"])


def _banner_fits(window) -> bool:
    banner, label = window.banner, window.banner.label
    inside = window.centralWidget().rect().contains(banner.geometry())
    return inside and label.heightForWidth(label.width()) <= label.height() and label.width() > 100


def test_a_flagged_input_gets_a_banner_that_stays_until_a_plain_image(window, case_dir, qtbot, tmp_path,
                                                                       domain_checked_checkpoint, open_inverted_case):
    open_inverted_case(window, qtbot, case_dir, tmp_path, domain_checked_checkpoint)
    sentence = window.inference.input_warning
    assert sentence.endswith(".") and "frontal chest radiograph" in sentence
    banner = window.banner
    assert banner.isVisible() and banner.text() == sentence and banner.toolTip() == sentence
    assert banner.geometry().bottom() < window.grid.geometry().top()
    qtbot.waitUntil(lambda: _banner_fits(window), timeout=2000)
    # at 1280 x 800 the whole sentence is in view, in two lines at most, and nothing is behind "Details"
    assert banner.shown_text().replace("\n", " ") == sentence and banner.shown_text().count("\n") <= 1
    assert banner.details.isHidden()
    window.resize(window.minimumSizeHint())
    qtbot.waitUntil(lambda: _banner_fits(window) and banner.details.isVisible(), timeout=2000)
    # the narrow window: two lines of the banner's font, the second elided, the sentence in the tooltip
    line = banner.label.fontMetrics().lineSpacing()
    assert banner.label.height() <= 2 * line and banner.height() <= 2 * line + 12, (banner.height(), line)
    shown = banner.shown_text()
    assert shown.count("\n") == 1 and shown.endswith("…") and sentence.startswith(shown.split("\n")[0])
    assert banner.toolTip() == sentence and banner.text() == sentence
    banner.details.click()  # "Details": all of it, wrapped, until "Less"
    assert banner.shown_text() == sentence and banner.label.wordWrap() and banner.details.text() == "Less"
    qtbot.waitUntil(lambda: banner.height() > 4 * line, timeout=2000)
    banner.details.click()
    assert banner.shown_text() == shown and banner.details.text() == "Details"
    window.resize(1280, 800)
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        window.open_file(case_dir / "plain.npy")
    assert window.banner.isHidden() and window.banner.text() == ""


def test_the_side_panel_is_titled_by_what_the_file_is(window, dicom_case, tmp_path, qtbot):
    from PIL import Image

    window.state.preferences.mc_samples = 0
    assert window.open_file(dicom_case)
    assert window.dock_tags.windowTitle() == "DICOM Tags"
    assert "Patient ID" in window.tags.visible_names()
    image = Image.fromarray((np.random.default_rng(2).random((64, 48)) * 255).astype(np.uint8), "L")
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "film.png"
    image.save(photo, exif=exif)
    assert window.open_file(photo)
    assert window.dock_tags.windowTitle() == "File Info"
    rows = {window.tags.tree.topLevelItem(i).text(1): window.tags.tree.topLevelItem(i).text(3)
            for i in range(window.tags.tree.topLevelItemCount())}
    h, w = window.state.radiograph.pixels.shape
    assert rows["Format"] == "PNG" and rows["Image size"] == f"{w} x {h} px"
    assert rows["Bit depth"] == "8 bit" and rows["Mode"].startswith("L (grey")
    assert rows["EXIF orientation"].startswith("6 (rotated 90° clockwise)")
    assert rows["File size"].endswith("B")


def test_preferences_checkpoint_field_shows_a_typical_path(qtbot, tmp_path):
    from PyQt6.QtWidgets import QWidget

    from dfviewer.gui.dialogs import PreferencesDialog

    parent = QWidget()
    qtbot.addWidget(parent)
    path = "/home/radiology/dfviewer/models/chest-pa-2025-11-cascade3.safetensors"
    dialog = PreferencesDialog(parent, path, 20, 0, "cpu", ["auto", "cpu"])
    qtbot.addWidget(dialog)
    dialog.show()
    field = dialog.model
    assert field.width() >= field.fontMetrics().horizontalAdvance(path[-50:])
    assert path in field.toolTip()
    assert field.cursorPosition() == len(path)  # the file name end is in view
    field.setText("/elsewhere/other.safetensors")
    assert "/elsewhere/other.safetensors" in field.toolTip()
