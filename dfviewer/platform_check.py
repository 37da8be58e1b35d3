"""Can the viewer open a window here?  Checked before Qt starts, because Qt aborts (core dump) when it cannot.

On Linux, Qt's X11 platform plugin (xcb) needs a display and a set of system libraries that
PyQt6's wheels do not bundle; when either is missing Qt prints its own messages and calls
``abort()``. :func:`display_problem` finds those cases first and returns one sentence naming the
fix. It imports no Qt; the real library lookup and X connection are passed in, so the decision
is testable without an X server.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Mapping

#: libraries Qt's xcb plugin (libqxcb.so, libQt6XcbQpa.so.6) links that the system must provide,
#: with their Debian/Ubuntu and Fedora packages (from ``objdump -p`` on the PyQt6 6.x wheel)
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
}

OFFSCREEN_HINT = "or render a screenshot without a window (dfviewer --demo --screenshot out.png, or QT_QPA_PLATFORM=offscreen)"


def qt_platform(env: Mapping[str, str]) -> str:
    """The platform plugin Qt will try first on Linux: QT_QPA_PLATFORM's first entry, else xcb or wayland."""
    requested = env.get("QT_QPA_PLATFORM", "").strip()
    if requested:  # e.g. "offscreen", "wayland;xcb", "xcb:nocursor" (plugin options after the colon)
        return requested.split(";")[0].split(":")[0].strip().lower()
    session = env.get("XDG_SESSION_TYPE", "").lower()
    if env.get("WAYLAND_DISPLAY") and session != "x11":
        return "wayland"
    return "xcb"


def display_problem(env: Mapping[str, str], platform: str = sys.platform,
                    has_library: Callable[[str], bool] | None = None,
                    can_connect: Callable[[str], bool | None] | None = None) -> str | None:
    """One sentence on why the viewer cannot open a window here, or None when Qt should start.

    ``has_library(soname)`` says whether the system can load a library (default: try to load it);
    ``can_connect(display)`` whether the X server answers (True/False; None when it cannot tell).
    Only Linux with Qt's xcb platform is checked; macOS, Windows, Wayland and offscreen pass.
    """
    if not platform.startswith("linux") or qt_platform(env) != "xcb":
        return None
    display = env.get("DISPLAY", "").strip()
    if not display:
        return (f"there is no display to open the viewer on (DISPLAY is not set); start it from a "
                f"desktop session, {OFFSCREEN_HINT}.")
    has_library = has_library or can_load
    missing = [name for name in XCB_LIBRARIES if not has_library(name)]
    if missing:
        debian = " ".join(dict.fromkeys(XCB_LIBRARIES[name][0] for name in missing))
        fedora = " ".join(dict.fromkeys(XCB_LIBRARIES[name][1] for name in missing))
        return (f"the viewer cannot open a window because this system lacks {_join(missing)}, which "
                f"Qt's X11 plugin needs; install them with `sudo apt install {debian}` (Debian, Ubuntu) or "
                f"`sudo dnf install {fedora}` (Fedora), {OFFSCREEN_HINT}.")
    if (can_connect or x_server_answers)(display) is False:
        return (f"the X display {display} does not answer (no X server runs there, or this user may not "
                f"use it); start the viewer from a desktop session or fix DISPLAY, {OFFSCREEN_HINT}.")
    return None


def can_load(soname: str) -> bool:
    """Whether the dynamic linker finds and loads ``soname`` (as it will when Qt loads its plugin)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def x_server_answers(display: str) -> bool | None:
    """Connect to ``display`` with libxcb and hang up: True if it accepts, False if not, None without libxcb."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)  # never NULL: an error connection on failure
    try:
        return connection is not None and xcb.xcb_connection_has_error(connection) == 0
    finally:
        if connection is not None:
            xcb.xcb_disconnect(connection)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
