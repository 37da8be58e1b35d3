"""The one exception family a user sees as a plain sentence (CLI message, GUI dialog)."""


class UserError(ValueError):
    """Bad input from the user (a file, a folder, a setting); ``str(err)`` is one plain sentence."""


def sentence(text: str) -> str:
    """``text`` as one sentence: one line, a capital first letter, one final period (or ? / !)."""
    text = " ".join(str(text).split()).rstrip(":;, ")
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an error's text that says something (not a heading ending in a colon)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    line = next((x for x in lines if not x.endswith(":")), lines[0]).rstrip(":. ")
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def cause(exc: BaseException, limit: int = 160) -> str:
    """``"TypeName: first line"`` of an unexpected error, for the end of a one-sentence message."""
    line = first_line(exc, limit)
    name = type(exc).__name__
    return name if line == name else f"{name}: {line}"


#: what a batch never swallows: the user or the interpreter stopping it
STOP_EXCEPTIONS = (KeyboardInterrupt, SystemExit, GeneratorExit)


def failure_reason(exc: BaseException) -> str:
    """Why one input of a batch failed, as one sentence: a ``UserError``'s own text, else its type and first line.

    Callers catch ``BaseException`` per input (decoder panics are not ``Exception``s), re-raise
    :data:`STOP_EXCEPTIONS`, and go on with the next input.
    """
    if isinstance(exc, UserError):
        return sentence(str(exc)) or f"{type(exc).__name__}."
    return f"It could not be read or processed ({cause(exc)})."
