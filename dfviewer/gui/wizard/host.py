"""The training wizard a page sits in, typed, for pages that read their sibling pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtWidgets import QWizardPage

if TYPE_CHECKING:
    from dfviewer.gui.wizard.wizard import TrainingWizard


def training_wizard(page: QWizardPage) -> TrainingWizard | None:
    """The :class:`TrainingWizard` holding ``page``; None while it is in none (being built or torn down)."""
    from dfviewer.gui.wizard.wizard import TrainingWizard  # here: the wizard module imports every page

    wizard = page.wizard()
    return wizard if isinstance(wizard, TrainingWizard) else None
