"""Opening a file dfviewer cannot read: the dialog names the formats it reads, and nothing changes."""

from __future__ import annotations


def test_a_text_file_names_the_formats_the_viewer_reads(window, tmp_path, qtbot):
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not an image\n")
    with qtbot.waitSignal(window.errorShown, timeout=5000) as blocker:
        assert window.open_paths([notes]) is False
    assert blocker.args[0] == "Cannot read notes.txt: it is not an image dfviewer reads (DICOM, PNG, JPEG, TIFF or NPY)."
    assert window.last_error.isVisible() and window.last_error.text() == blocker.args[0]
    assert window.state.radiograph is None and not window.controller.running
