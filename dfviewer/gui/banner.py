"""A warning banner over the panels: one word-wrapped sentence that stays while it applies."""

from __future__ import annotations

import qtawesome as qta
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QWidget

WARNING_COLOR = "#e8a028"


class WarningBanner(QFrame):
    """Hidden until :meth:`show_warning` gets a sentence; "" hides it again."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("warningBanner")
        self.setStyleSheet(f"#warningBanner {{ background: rgba(232, 160, 40, 40); border: 1px solid {WARNING_COLOR};"
                           " border-radius: 3px; }")
        self.icon = QLabel()
        self.icon.setPixmap(qta.icon("mdi6.alert", color=WARNING_COLOR).pixmap(20, 20))
        self.icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # wraps instead of widening the window: the sentence never forces the minimum width
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setMinimumWidth(40)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.icon)
        layout.addWidget(self.label, 1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hide()

    def show_warning(self, sentence: str) -> None:
        """Show ``sentence`` (the whole of it, wrapped); "" hides the banner."""
        self.label.setText(sentence)
        self.setToolTip(sentence)
        self.setVisible(bool(sentence))

    def text(self) -> str:
        """The sentence shown, or "" when the banner is hidden."""
        return self.label.text() if not self.isHidden() else ""
