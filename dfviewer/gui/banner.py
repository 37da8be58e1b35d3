"""A warning banner over the panels: one sentence in at most two lines, the rest behind "Details"."""

from __future__ import annotations

import qtawesome as qta
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont, QFontMetrics, QResizeEvent, QTextLayout
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

WARNING_COLOR = "#e8a028"
#: lines the banner takes over the panels until the user asks for the details
COLLAPSED_LINES = 2


def fit_lines(text: str, font: QFont, width: int, lines: int = COLLAPSED_LINES) -> tuple[str, bool]:
    """``text`` word-wrapped to ``width`` pixels in at most ``lines`` lines (joined by newlines), and
    whether it was cut (then the last line ends in an ellipsis)."""
    layout = QTextLayout(text, font)
    layout.beginLayout()
    spans: list[tuple[int, int]] = []
    while len(spans) <= lines:  # one line more than kept tells whether anything is cut
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(max(1, width))
        spans.append((line.textStart(), line.textLength()))
    layout.endLayout()
    if len(spans) <= lines:
        return "\n".join(text[a:a + n].strip() for a, n in spans), False
    kept = [text[a:a + n].strip() for a, n in spans[:lines - 1]]
    rest = text[spans[lines - 1][0]:]
    return "\n".join(kept + [QFontMetrics(font).elidedText(rest, Qt.TextElideMode.ElideRight, max(1, width))]), True


class _FittedLabel(QLabel):
    """A label that shows its sentence in at most :data:`COLLAPSED_LINES` lines of its current width."""

    def __init__(self, on_resize) -> None:
        super().__init__()
        self._on_resize = on_resize

    def resizeEvent(self, event: QResizeEvent | None) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._on_resize()


class WarningBanner(QFrame):
    """Hidden until :meth:`show_warning` gets a sentence; "" hides it again.

    The sentence takes at most two lines (the second elided when it is longer); "Details" shows
    all of it, and its tooltip always holds the whole sentence.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("warningBanner")
        self.setStyleSheet(f"#warningBanner {{ background: rgba(232, 160, 40, 40); border: 1px solid {WARNING_COLOR};"
                           " border-radius: 3px; }")
        self._sentence = ""
        self.icon = QLabel()
        self.icon.setPixmap(qta.icon("mdi6.alert", color=WARNING_COLOR).pixmap(20, 20))
        self.icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.label = _FittedLabel(self._refit)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # the sentence never forces the window's minimum width: it is cut to the width it gets
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setMinimumWidth(40)
        self.details = QToolButton()
        self.details.setText("Details")
        self.details.setCheckable(True)
        self.details.setAutoRaise(True)
        self.details.setToolTip("Show the whole warning")
        self.details.setMinimumWidth(self.details.sizeHint().width())  # "Less" keeps the label's width
        self.details.toggled.connect(self._refit)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.icon)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.details, 0, Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.details.hide()
        self.hide()

    def show_warning(self, sentence: str) -> None:
        """Show ``sentence`` (two lines at most until "Details" is pressed); "" hides the banner."""
        self._sentence = sentence
        self.setToolTip(sentence)
        self.label.setToolTip(sentence)
        self.details.setChecked(False)  # a new warning starts short
        self.setVisible(bool(sentence))
        self._refit()

    def text(self) -> str:
        """The whole sentence, or "" when the banner is hidden."""
        return self._sentence if not self.isHidden() else ""

    def shown_text(self) -> str:
        """What the banner shows now: the sentence, or its first two lines with the last one elided."""
        return self.label.text()

    def _refit(self) -> None:
        expanded = self.details.isChecked()
        self.label.setWordWrap(expanded)
        width = self.label.contentsRect().width()
        text, cut = (self._sentence, False) if expanded else fit_lines(self._sentence, self.label.font(), width)
        if text != self.label.text():
            self.label.setText(text)
        self.details.setVisible(bool(self._sentence) and (expanded or cut))
        self.details.setText("Less" if expanded else "Details")
