"""The panel layout on real-sized films: grid choice, image size, colorbars, titles, refit, toolbar.

Sizes are measured from the widgets as laid out offscreen (the view's mapping of the image to
screen pixels), cross-checked with the pixels of a grab.
"""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtGui import QWheelEvent
from PyQt6.QtWidgets import QApplication, QToolButton

from dfviewer.gui.image_panel import BACKGROUND
from dfviewer.gui.panel_grid import best_grid, image_scale

#: the issue's targets: displayed radiograph height (pixels) at each window size
TARGETS = {(1280, 800): 300, (1920, 1080): 450}


@pytest.fixture(scope="module")
def films(tmp_path_factory, make_chest):
    """A 1024 x 1024 CR-sized DICOM and a 1036 x 885 landscape JPEG."""
    from PIL import Image

    from dfviewer.io import write_dx_dicom

    folder = tmp_path_factory.mktemp("films")
    square = make_chest((1024, 1024), seed=4)[0]
    cr = write_dx_dicom(folder / "cr_1024.dcm", square, patient_id="LAYOUT-1", pixel_spacing=(0.35, 0.35))
    wide = make_chest((885, 1036), seed=5)[0]
    scaled = np.clip((wide - wide.min()) / np.ptp(wide) * 255, 0, 255).astype(np.uint8)
    jpeg = folder / "landscape_1036x885.jpg"
    Image.fromarray(255 - scaled).save(jpeg, quality=92)
    return {"cr": cr, "landscape": jpeg}


def _open(window, qtbot, path):
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        assert window.open_file(path)
    window.flush()


def _settle(window, qtbot, width, height):
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.width() == width and window.height() == height, timeout=5000)
    qtbot.wait(50)
    QApplication.processEvents()
    window.flush()


def _shown(window):
    return {key: panel for key, panel in window.panels.items() if window.grid.is_shown(panel)}


def _column_run(panel) -> int:
    """Rows of image pixels (not background) in the grab's column through the image centre."""
    rect = panel.displayed_image_rect()
    image = panel.graphics.grab().toImage()
    x = int(rect.center().x())
    background = tuple(int(BACKGROUND[i:i + 2], 16) for i in (1, 3, 5))
    rows = [y for y in range(image.height()) if image.pixelColor(x, y).getRgb()[:3] != background]
    return len(rows)


# ---------------------------------------------------------------------------------------- grid choice


def test_three_panels_take_a_two_by_two_grid_with_the_companion_when_height_limits():
    # the default window's panel area: three squares in a row are far smaller than a 2 x 2 grid
    assert best_grid(3, 1, 970, 706, (1024, 1024), (66, 24)) == (2, 1)
    assert image_scale(2, 2, 970, 706, (1024, 1024), (66, 24)) * 1024 >= 300
    assert image_scale(3, 1, 970, 706, (1024, 1024), (66, 24)) * 1024 < 300
    assert best_grid(3, 1, 1610, 986, (885, 1036), (66, 24)) == (2, 1)  # landscape at 1920 x 1080


def test_a_cell_is_never_left_empty_and_a_wide_area_keeps_one_row():
    for width, height in ((1280, 800), (900, 900), (700, 1000), (2400, 600)):
        assert best_grid(3, 0, width, height, (128, 112))[0] in (1, 3)
        columns, used = best_grid(4, 1, width, height, (128, 112))
        assert columns in (1, 2, 4) and used == 0  # four panels: the companion never adds an empty cell
    assert best_grid(3, 1, 2400, 600, (1024, 1024)) == (3, 0)


# ---------------------------------------------------------------------------------------- real films


@pytest.mark.parametrize("film", ["cr", "landscape"])
def test_real_films_fill_the_screen(window, films, qtbot, film, tmp_path):
    _open(window, qtbot, films[film])
    for (width, height), target in TARGETS.items():
        _settle(window, qtbot, width, height)
        shown = _shown(window)
        assert len(shown) == window.grid.columns * window.grid.rows  # no empty cell
        for key, panel in shown.items():
            rect = panel.displayed_image_rect()
            assert rect.height() >= target, (film, width, key, rect)
            # the whole film is shown (fitted, not cut)
            assert rect == panel.region_rect().intersected(rect)
            # the colorbar stands right beside the image, as tall as it
            bar = panel.colorbar.geometry().translated(-panel.graphics.x(), -panel.graphics.y())
            assert panel.colorbar.isVisible()
            assert 0 <= bar.left() - rect.right() <= 4, (key, bar, rect)
            assert abs(bar.height() - rect.height()) <= 2
        # cross-check with the pixels actually drawn
        attenuation = shown["attenuation"]
        assert abs(_column_run(attenuation) - attenuation.displayed_image_rect().height()) <= 2
        window.grab().save(str(tmp_path / f"{film}_{width}x{height}.png"))


def test_views_refit_on_resize_until_the_user_zooms(window, films, qtbot):
    _open(window, qtbot, films["cr"])
    _settle(window, qtbot, 900, 600)
    window.ui_actions.act_reset_view.trigger()  # R
    _settle(window, qtbot, 1280, 800)
    panel = window.panels["attenuation"]
    qtbot.waitUntil(lambda: panel.displayed_image_rect().height() >= 300, timeout=3000)
    assert panel.displayed_image_rect() == panel.region_rect()  # the whole film, not zoomed in

    fitted = panel.view.viewRange()
    viewport = panel.graphics.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    wheel = QWheelEvent(centre, QPointF(viewport.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    QApplication.processEvents()
    assert window.view.user_view
    (x0, x1), (y0, y1) = panel.view.viewRange()
    zoomed = ((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / panel.view.width())
    assert zoomed[2] < (fitted[0][1] - fitted[0][0]) / panel.view.width() * 0.9  # zoomed in
    _settle(window, qtbot, 1100, 700)
    qtbot.wait(50)
    (x0, x1), (y0, y1) = panel.view.viewRange()
    kept = ((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / panel.view.width())
    assert kept == pytest.approx(zoomed, rel=0.02)  # the user's centre and zoom are kept

    window.ui_actions.act_reset_view.trigger()  # R
    assert not window.view.user_view
    assert panel.displayed_image_rect() == panel.region_rect()
    _settle(window, qtbot, 1280, 800)
    qtbot.waitUntil(lambda: panel.displayed_image_rect().height() >= 300, timeout=3000)


def test_titles_elide_with_the_full_text_in_a_tooltip(window, films, qtbot):
    from dfviewer.gui.image_panel import ImagePanel

    _open(window, qtbot, films["cr"])
    minimum = window.minimumSizeHint()
    _settle(window, qtbot, minimum.width(), minimum.height())
    panel = window.panels["darkfield"]
    full = f"Generated dark-field · stage {window.state.stage}"
    assert panel.title.text() == full
    # the title has priority over the sample count, which keeps some room (how wide the panel is at the
    # minimum size depends on the grid chosen there, so whether the whole title fits is not asserted)
    qtbot.waitUntil(lambda: panel.title.width() >= panel.subtitle.width() > 0, timeout=5000)
    assert full in panel.title.toolTip() and panel.subtitle.text() in panel.title.toolTip()

    narrow = ImagePanel("darkfield", "")
    qtbot.addWidget(narrow)
    narrow.resize(150, 200)
    narrow.show()
    narrow.set_title(full, "20 MC samples")
    qtbot.wait(10)
    assert narrow.title.fontMetrics().horizontalAdvance(full) > narrow.title.width()  # elided
    assert narrow.title.toolTip() == f"{full} — 20 MC samples"
    assert 0 < narrow.subtitle.width() <= 150 // 3


def test_toolbar_stays_usable_at_the_minimum_size(window, films, qtbot, tmp_path):
    _open(window, qtbot, films["cr"])
    minimum = window.minimumSizeHint()
    _settle(window, qtbot, minimum.width(), minimum.height())
    bar = window.ui_actions.toolbar
    actions = window.ui_actions
    for act in (actions.act_open, actions.act_export, actions.act_crop, actions.act_reset_view):
        assert bar.widgetForAction(act).isVisible(), act.text()
    for stage in (1, 2, 3):
        assert window.stage_buttons[stage].isVisible()
    extension = bar.findChild(QToolButton, "qt_toolbar_ext_button")
    hidden = [a for a in bar.actions() if bar.widgetForAction(a) is not None and not bar.widgetForAction(a).isVisible()
              and a.isVisible()]
    if hidden:  # what does not fit is one click away
        assert extension.isVisible()
        extension.click()
        qtbot.waitUntil(lambda: all(bar.widgetForAction(a).isVisible() for a in hidden), timeout=3000)
    window.grab().save(str(tmp_path / "minimum.png"))


def test_companion_panel_shows_the_other_uncertainty(window, films, case_dir, qtbot):
    _open(window, qtbot, films["cr"])
    _settle(window, qtbot, 1280, 800)
    companion = window.panels["companion"]
    assert window.grid.is_shown(companion) and not companion.isHidden()
    # showing it never made it a window of its own, stealing the keyboard from the viewer
    assert not companion.isWindow() and window.isActiveWindow()
    assert window.layers["companion"].key == "epistemic" == window.state.panel_map("companion")
    window.state.set_overlay_map("epistemic")
    window.flush()
    assert window.layers["overlay"].key == "epistemic" and window.layers["companion"].key == "aleatoric"
    assert companion.title.text().startswith("Aleatoric σ")
    # a real dark-field takes the fourth cell
    _open(window, qtbot, case_dir / "case.tiff")
    _settle(window, qtbot, 1280, 800)
    assert not window.grid.is_shown(companion) and companion.isHidden()
    assert window.grid.is_shown(window.panels["truth"])
