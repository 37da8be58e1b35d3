"""The one exception family a user sees as a plain sentence (CLI message, GUI dialog)."""


class UserError(ValueError):
    """Bad input from the user (a file, a folder, a setting); ``str(err)`` is one plain sentence."""
