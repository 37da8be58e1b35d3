"""The one error the IO layer raises for a file it cannot use."""

from __future__ import annotations

from pathlib import Path

from dfviewer.errors import UserError


class RadiographError(UserError):
    """A file that cannot be read as a radiograph (or written); ``str(err)`` is one plain sentence."""

    def __init__(self, path: str | Path | None, reason: str, action: str = "read"):
        self.path = None if path is None else Path(path)
        self.reason = reason.strip().rstrip(".")
        if self.path is None:
            message = self.reason[:1].upper() + self.reason[1:] + "."
        else:
            message = f"Cannot {action} {self.path.name}: {self.reason}."
        super().__init__(message)
