"""Side panels: DICOM tags (searchable), model information, log, stage summary, file list."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import qtawesome as qta
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dfviewer.display.file_info import file_info
from dfviewer.errors import cause
from dfviewer.gui.qt_checks import required
from dfviewer.imaging.voi_windows import format_number

#: (tag, name, VR, value, children): one row of the tag tree
TagRow = tuple[str, str, str, str, list["TagRow"]]

#: a damaged or hostile file may nest sequences deeply or hold very many elements; list this much
MAX_TAG_DEPTH = 8
MAX_TAG_ROWS = 5000
UNREADABLE_COLOR = "#e06c5a"
UNREADABLE_ROLE = Qt.ItemDataRole.UserRole + 1


def _dicom_rows(dataset: Any, depth: int = 0) -> list[TagRow]:
    """(tag, name, VR, value, children) for every element; pixel data summarised.

    Elements are parsed one at a time (pydicom parses on first access), so an unreadable one
    becomes its own row saying why instead of hiding the rest.
    """
    rows: list[TagRow] = []
    for tag in list(dataset.keys())[:MAX_TAG_ROWS]:
        label = f"({tag.group:04X},{tag.element:04X})"
        try:
            element = dataset[tag]
            name, vr = element.name, str(element.VR)
            children: list[TagRow] = []
            if vr == "SQ":
                value = f"{len(element.value)} item(s)"
                if depth < MAX_TAG_DEPTH:
                    for i, item in enumerate(element.value):
                        children.append((f"item {i + 1}", "", "", "", _dicom_rows(item, depth + 1)))
            elif element.tag == 0x7FE00010 or vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
                raw = element.value
                value = f"<{len(raw)} bytes>" if isinstance(raw, (bytes, bytearray)) else "<binary data>"
            else:
                value = str(element.value)
                if len(value) > 200:
                    value = value[:200] + "…"
        except Exception as exc:  # noqa: BLE001 - one broken element is shown as such
            rows.append((label, "(unreadable)", "", f"<{cause(exc)}>", []))
            continue
        rows.append((label, name, vr, value, children))
    return rows


class TagsPanel(QWidget):
    """The file's DICOM tags, or what a plain image file is (size, bit depth, mode, EXIF orientation),
    with a search box. ``titleChanged`` names what it lists ("DICOM Tags" or "File Info")."""

    titleChanged = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = "DICOM Tags"
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tags (name, number or value)…")
        self.search.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Tag", "Name", "VR", "Value"])
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        header = required(self.tree.header(), "tree header")
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 84)
        header.resizeSection(1, 150)
        self.tree.setColumnHidden(2, True)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(56)  # the value column keeps its "Value" header
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self.filter)

    def show_radiograph(self, radiograph: Any) -> None:
        self.tree.clear()
        if radiograph is None:
            return
        # every tag of the file as it was parsed, not only the validated ones the pipeline used
        dataset = getattr(radiograph, "file_dataset", None) or getattr(radiograph, "dataset", None)
        if dataset is not None:
            try:
                meta = getattr(dataset, "file_meta", None)
                rows = (_dicom_rows(meta) if meta is not None else []) + _dicom_rows(dataset)
            except Exception as exc:  # noqa: BLE001 - a broken tag must not break the viewer
                rows = [("", "error", "", f"tags could not be listed: {exc}", [])]
        else:
            rows = [("", name, "", value, []) for name, value in file_info(radiograph)]
        self.title = "DICOM Tags" if dataset is not None else "File Info"
        self.search.setPlaceholderText("Search tags (name, number or value)…" if dataset is not None
                                       else "Search (name or value)…")
        self.titleChanged.emit(self.title)
        self.tree.setColumnHidden(0, dataset is None)
        for row in rows:
            self.tree.addTopLevelItem(self._item(row))
        if dataset is not None:
            self.tree.resizeColumnToContents(0)  # "(0002,0010)" whole, not "(0002,..."
        required(self.tree.header(), "tree header").resizeSection(1, 130 if dataset is not None else 110)
        self.filter(self.search.text())

    def _item(self, row: TagRow) -> QTreeWidgetItem:
        tag, name, vr, value, children = row
        item = QTreeWidgetItem([tag, name, vr, value])
        item.setToolTip(3, value)
        for child in children:
            item.addChild(self._item(child))
        return item

    def filter(self, text: str) -> None:
        needle = text.strip().lower()

        def visit(item: QTreeWidgetItem) -> bool:
            own = not needle or any(needle in item.text(c).lower() for c in range(4))
            child_match = False
            for i in range(item.childCount()):
                child_match |= visit(required(item.child(i), "tag row"))
            item.setHidden(not (own or child_match))
            return own or child_match

        for item in self._top_items():
            visit(item)

    def _top_items(self) -> list[QTreeWidgetItem]:
        return [required(self.tree.topLevelItem(i), "tag row") for i in range(self.tree.topLevelItemCount())]

    def visible_names(self) -> list[str]:
        return [item.text(1) for item in self._top_items() if not item.isHidden()]


class ModelPanel(QWidget):
    """Checkpoint, preset, training data and device of the loaded model."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("No model loaded yet; it loads with the first image.")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()  # long training metadata must not force the window's height
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(scroll)

    def show_info(self, info: dict[str, Any]) -> None:
        meta = info.get("metadata", {}) or {}
        rows = [
            ("Checkpoint", Path(str(info.get("path", ""))).name),
            ("Folder", str(Path(str(info.get("path", ""))).parent)),
            ("Device", info.get("device", "?")),
            ("Preset", info.get("preset", "?")),
            ("Stages", info.get("n_stages", "?")),
            ("Working size", f"{info.get('working_size', '?')} px"),
        ]
        for key, value in meta.items():
            if key == "domain_check" and isinstance(value, dict):
                rows.append(("Domain check", f"flags inputs unlike frontal chest radiographs (score above "
                             f"{value.get('threshold', float('nan')):.3g}); fitted on {value.get('fitted_on', '?')}"))
                continue
            text = str(value)
            rows.append((str(key).replace("_", " ").capitalize(), text if len(text) < 300 else text[:300] + "…"))
        html = "".join(f"<tr><td style='color:#9a9aa0; padding-right:8px'>{k}</td><td>{_escape(v)}</td></tr>"
                       for k, v in rows)
        self.label.setText(f"<table>{html}</table>")


def _escape(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class LogPanel(QPlainTextEdit):
    """Time-stamped messages of the session."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(2000)

    def add(self, message: str) -> None:
        self.appendPlainText(f"{time.strftime('%H:%M:%S')}  {message}")


class SummaryTable(QTableWidget):
    """Per-stage numbers: mean aleatoric and epistemic σ in one region (named in the header); MSE, PSNR,
    SSIM with truth."""

    COLUMNS = ("Stage", "σ_al", "σ_ep", "MSE", "PSNR", "SSIM")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.region: str | None = None
        self.setHorizontalHeaderLabels(self.COLUMNS)
        required(self.verticalHeader(), "table header").hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        required(self.horizontalHeader(), "table header").setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setToolTip("Per-stage summary: mean aleatoric and epistemic standard deviation inside the lung "
                        "mask (the whole image when no lungs are found); with a real dark-field loaded, MSE, PSNR and SSIM of the generated image "
                        "as `dfviewer evaluate` scores them (both in the model's units, clipped to [0, 1], data range 1; "
                        "SSIM: Gaussian window, sigma 1.5).")
        self._warning = ""

    def set_input_warning(self, sentence: str) -> None:
        """Flag the image in a last row ("" clears it): the model's domain check or input range warning."""
        self._warning = sentence
        n = self.rowCount() - (1 if self._has_flag_row() else 0)
        self.clearSpans()
        self.setRowCount(n)
        if n:  # under the stages already shown; otherwise show_rows adds it
            self._add_flag_row()

    def _has_flag_row(self) -> bool:
        item = self.item(self.rowCount() - 1, 0) if self.rowCount() else None
        return item is not None and item.data(Qt.ItemDataRole.UserRole) == "flag"

    def _add_flag_row(self) -> None:
        if not self._warning:
            return
        row = self.rowCount()
        self.setRowCount(row + 1)
        # short: the whole sentence is in the banner over the panels and in the tooltip
        item = QTableWidgetItem("⚠ Flagged input")
        item.setData(Qt.ItemDataRole.UserRole, "flag")
        item.setForeground(QColor(232, 160, 40))
        item.setToolTip(self._warning)
        self.setItem(row, 0, item)
        self.setSpan(row, 0, 1, len(self.COLUMNS))

    def flag_text(self) -> str:
        """The flag row's text, or "" when the image is not flagged."""
        item = self.item(self.rowCount() - 1, 0) if self._has_flag_row() else None
        return item.text() if item is not None else ""

    def header_text(self, column: int) -> str:
        item = self.horizontalHeaderItem(column)
        return item.text() if item is not None else ""

    def show_rows(self, rows: list[dict[str, float]], selected_stage: int, region: str | None = None) -> None:
        """One row per stage. ``region``: where σ was averaged ("lungs", "whole image"), named in the
        header; None while it is not known yet (the σ cells wait with "…")."""
        has_truth = any("mse" in r for r in rows)
        self.region = region
        # the region on a second header line (the columns stay narrow); "…" while it is being found
        where = "" if not rows else f"\n({region})" if region else "\n…"
        self.setHorizontalHeaderLabels([self.COLUMNS[0], self.COLUMNS[1] + where, self.COLUMNS[2] + where,
                                        *self.COLUMNS[3:]])
        self.clearSpans()
        self.setRowCount(len(rows))
        for i, row in enumerate(rows):
            sigmas = [format_number(row["aleatoric"]), format_number(row["epistemic"])] if region else ["…", "…"]
            values = [str(row["stage"]), *sigmas]
            if has_truth:
                ssim = row["ssim"]
                values += [format_number(row["mse"]), f"{row['psnr']:.2f}", f"{ssim:.3f}" if ssim == ssim else "…"]
            for j, text in enumerate(values + [""] * (len(self.COLUMNS) - len(values))):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(i, j, item)
        for j in (3, 4, 5):
            self.setColumnHidden(j, not has_truth)
        if rows:
            self._add_flag_row()
        self.select_stage(selected_stage)
        self._fit_width()

    def _fit_width(self) -> None:
        """As wide as its columns: the dock grows instead of hiding SSIM behind a scrollbar."""
        self.resizeColumnsToContents()
        columns = sum(self.columnWidth(j) for j in range(self.columnCount()) if not self.isColumnHidden(j))
        self.setMinimumWidth(columns + 2 * self.frameWidth() + required(self.verticalScrollBar(), "scroll bar").sizeHint().width())

    def select_stage(self, stage: int) -> None:
        for i in range(self.rowCount()):
            item = self.item(i, 0)
            if item is not None and item.text() == str(stage):
                self.selectRow(i)


class FilesPanel(QListWidget):
    """The images of an opened folder; a click (or Enter) opens one. Unreadable files are marked."""

    fileChosen = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.itemClicked.connect(self._choose)
        self.itemActivated.connect(self._choose)

    def _choose(self, item: QListWidgetItem) -> None:
        self.fileChosen.emit(item.data(Qt.ItemDataRole.UserRole))

    def show_files(self, files: list[Path], current: Path | None = None) -> None:
        self.clear()
        for path in files:
            item = QListWidgetItem(path.name)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.addItem(item)
            if current is not None and path == current:
                self.setCurrentItem(item)

    def _item(self, path: Path) -> QListWidgetItem | None:
        for i in range(self.count()):
            item = self.item(i)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == str(path):
                return item
        return None

    def mark_current(self, path: Path | None) -> None:
        item = self._item(path) if path is not None else None
        if item is not None:
            self.setCurrentItem(item)

    def mark_unreadable(self, path: Path, reason: str) -> None:
        """Mark ``path`` as unreadable with its one-sentence ``reason`` (icon, colour, tooltip); "" unmarks it."""
        item = self._item(path)
        if item is None:
            return
        item.setData(UNREADABLE_ROLE, reason or None)
        item.setIcon(qta.icon("mdi6.alert-circle-outline", color=UNREADABLE_COLOR) if reason else QIcon())
        item.setForeground(QColor(UNREADABLE_COLOR) if reason else self.palette().text())
        item.setToolTip(f"{path}\n{reason}" if reason else str(path))

    def unreadable_reason(self, path: Path) -> str:
        """The sentence ``path`` is marked with ("" when it is not marked)."""
        item = self._item(path)
        return (item.data(UNREADABLE_ROLE) or "") if item is not None else ""
