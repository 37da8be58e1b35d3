"""Before Qt starts: a missing display, missing xcb libraries or a silent X server are one sentence, not a core dump."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading

import pytest

from dfviewer.platform_check import XCB_LIBRARIES, display_problem, qt_platform, x_server_answers

ALL_THERE = {"has_library": lambda name: True, "can_connect": lambda display: True}


@pytest.mark.parametrize("env, platform", [
    ({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}, "xcb"),
    ({"DISPLAY": ":0"}, "xcb"),
    ({}, "xcb"),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "wayland"),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "x11"}, "xcb"),
    ({"QT_QPA_PLATFORM": "offscreen"}, "offscreen"),
    ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, "wayland"),
    ({"QT_QPA_PLATFORM": "xcb:nocursor"}, "xcb"),
    ({"QT_QPA_PLATFORM": " Minimal "}, "minimal"),
])
def test_which_platform_qt_tries_first(env, platform):
    assert qt_platform(env) == platform


@pytest.mark.parametrize("env", [
    {"QT_QPA_PLATFORM": "offscreen"}, {"QT_QPA_PLATFORM": "minimal"}, {"QT_QPA_PLATFORM": "wayland"},
    {"WAYLAND_DISPLAY": "wayland-0"}, {"QT_QPA_PLATFORM": "vnc"},
])
def test_platforms_without_x_are_not_checked(env):
    nothing = {"has_library": lambda name: False, "can_connect": lambda display: False}
    assert display_problem(env, "linux", **nothing) is None


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_macos_and_windows_are_not_checked(platform):
    assert display_problem({}, platform, has_library=lambda name: False) is None


def test_a_working_x_setup_passes():
    assert display_problem({"DISPLAY": ":0"}, "linux", **ALL_THERE) is None
    assert display_problem({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux", **ALL_THERE) is None
    # without libxcb the server cannot be asked: Qt is left to try
    assert display_problem({"DISPLAY": ":0"}, "linux", has_library=lambda name: True,
                           can_connect=lambda display: None) is None


@pytest.mark.parametrize("env", [{}, {"DISPLAY": ""}, {"DISPLAY": " "}, {"QT_QPA_PLATFORM": "xcb"}])
def test_no_display_names_the_ways_out(env):
    text = display_problem(env, "linux", **ALL_THERE)
    assert text is not None and "DISPLAY is not set" in text
    assert "QT_QPA_PLATFORM=offscreen" in text and "--screenshot" in text
    assert text.endswith(".") and "\n" not in text


def test_missing_libraries_name_debian_and_fedora_packages():
    absent = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
    text = display_problem({"DISPLAY": ":0"}, "linux", has_library=lambda name: name not in absent,
                           can_connect=lambda display: True)
    assert text is not None and "\n" not in text
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4 and libxcb-keysyms.so.1" in text
    assert "`sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1` (Debian, Ubuntu)" in text
    assert "`sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms` (Fedora)" in text
    assert "QT_QPA_PLATFORM=offscreen" in text


def test_fedora_packages_are_listed_once():
    text = display_problem({"DISPLAY": ":0"}, "linux", has_library=lambda name: not name.startswith("libxcb-"),
                           can_connect=lambda display: True)
    assert text is not None
    fedora = text.split("sudo dnf install ")[1].split("`")[0].split()
    assert len(fedora) == len(set(fedora)) and "libxcb" in fedora and "xcb-util-wm" in fedora


def test_every_library_of_the_installed_xcb_plugin_is_mapped():
    """The table covers each system library the installed plugin links (read from its ELF header)."""
    pyqt = pytest.importorskip("PyQt6")
    if not sys.platform.startswith("linux"):
        pytest.skip("the xcb plugin is Linux only")
    from pathlib import Path

    qt = Path(pyqt.__file__).parent / "Qt6"
    needed: set[str] = set()
    for binary in (qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6"):
        needed |= _elf_needed(binary.read_bytes())
    relevant = {n for n in needed if n.startswith(("libxcb", "libX11", "libxkbcommon", "libGL."))}
    assert relevant and relevant <= set(XCB_LIBRARIES)


def test_a_silent_display_is_a_sentence():
    text = display_problem({"DISPLAY": ":99"}, "linux", has_library=lambda name: True,
                           can_connect=lambda display: False)
    assert text is not None and "X display :99 does not answer" in text and "QT_QPA_PLATFORM=offscreen" in text


def test_x_server_answers_asks_a_real_server():
    if x_server_answers(":0") is None:
        pytest.skip("libxcb is not installed")
    number = _free_display_number()
    assert x_server_answers(f":{number}") is False
    with _FakeXServer(number):
        assert x_server_answers(f":{number}") is True
        assert display_problem({"DISPLAY": f":{number}"}, "linux", has_library=lambda name: True) is None


@pytest.mark.parametrize("display", ["", ":{free}"])
def test_the_viewer_exits_2_with_one_sentence_instead_of_a_core_dump(display):
    """The real command: no display (and, here, missing xcb libraries or no server at :N) -> exit 2."""
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env["DISPLAY"] = display.format(free=_free_display_number())
    result = subprocess.run([sys.executable, "-m", "dfviewer", "--demo"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dfviewer: ") and lines[0].endswith("."), result.stderr
    for qt_text in ("Aborted", "core dumped", "qt.qpa", "Traceback"):
        assert qt_text not in result.stderr
    assert "QT_QPA_PLATFORM=offscreen" in lines[0]


# -- helpers --------------------------------------------------------------------------------------


def _elf_needed(data: bytes) -> set[str]:
    """DT_NEEDED names of a 64-bit little-endian ELF shared object."""
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    dynamic = next(s for s in sections if s[1] == 6)  # SHT_DYNAMIC
    strtab = sections[dynamic[6]]  # sh_link: its string table
    names = set()
    for offset in range(dynamic[4], dynamic[4] + dynamic[5], 16):
        tag, value = struct.unpack_from("<qQ", data, offset)
        if tag == 0:
            break
        if tag == 1:  # DT_NEEDED
            start = strtab[4] + value
            names.add(data[start:data.index(b"\0", start)].decode())
    return names


def _free_display_number() -> int:
    for number in range(4711, 4811):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not _abstract_socket_taken(number):
            return number
    raise AssertionError("no free X display number")


def _abstract_socket_taken(number: int) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.bind(f"\0/tmp/.X11-unix/X{number}")
        except OSError:
            return True
    return False


class _FakeXServer:
    """Accepts X11 connections on display ``:number`` (abstract socket) and answers the setup with success."""

    def __init__(self, number: int) -> None:
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(f"\0/tmp/.X11-unix/X{number}")
        self.server.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:  # closed
                return
            self._answer(client)

    @staticmethod
    def _answer(client: socket.socket) -> None:
        with client:
            head = client.recv(12)
            order = "<" if head[:1] == b"l" else ">"
            name_len, data_len = struct.unpack_from(order + "HH", head, 6)
            pad = lambda n: (n + 3) // 4 * 4  # noqa: E731
            _recv_exactly(client, pad(name_len) + pad(data_len))
            # setup reply: no vendor string, no pixmap formats, no screens (32 bytes after the header)
            body = struct.pack(order + "IIIIHHBBBBBBBB4x", 0, 0x00200000, 0x001FFFFF, 0, 0, 0xFFFF, 0, 0, 0, 0, 32,
                               32, 8, 255)
            client.sendall(struct.pack(order + "BxHHH", 1, 11, 0, len(body) // 4) + body)
            client.recv(1)  # until the client hangs up

    def __enter__(self) -> _FakeXServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        self.server.close()
        self.thread.join(timeout=5)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data
