"""The training wizard: train, evaluate and open a model from the viewer, on the core of ``dfviewer train``.

Entry point: :func:`open_training_wizard(parent) <open_training_wizard>` returns a shown
:class:`TrainingWizard`; its ``model_ready(Path)`` signal carries the trained checkpoint.
"""

from dfviewer.gui.wizard.wizard import TrainingWizard, open_training_wizard

__all__ = ["TrainingWizard", "open_training_wizard"]
