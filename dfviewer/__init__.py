"""dfviewer: uncertainty-guided generation and viewing of X-ray dark-field radiographs."""

__version__ = "0.1.0"
