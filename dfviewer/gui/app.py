"""``dfviewer [FILE...]``: start the viewer (also ``view FILE...``, ``--demo``, ``--screenshot``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

DEMO_MODEL = ("models", "demo.safetensors")


def build_parser(prog: str = "dfviewer") -> argparse.ArgumentParser:
    """The viewer's options; ``prog`` is ``dfviewer view`` when the user typed that."""
    from dfviewer.core.results import DEFAULT_MC_SAMPLES, DEVICE_HELP

    parser = argparse.ArgumentParser(
        prog=prog,
        description="View attenuation radiographs with the generated dark-field and its uncertainty maps.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="radiographs or folders to open")
    parser.add_argument("--demo", action="store_true", help="open a bundled sample case with the bundled model")
    parser.add_argument("--model", metavar="CKPT", help="model checkpoint (.safetensors); default: the demo model")
    parser.add_argument("--device", metavar="DEV", help=f"{DEVICE_HELP} (default: auto)")
    parser.add_argument("--mc", type=int, metavar="N", help=f"Monte Carlo dropout samples (default {DEFAULT_MC_SAMPLES})")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="render the window once inference finishes, save it to PNG and exit")
    parser.add_argument("--size", default="1280x800", metavar="WxH", help="window size for --screenshot (default 1280x800)")
    parser.add_argument("--overlay", metavar="MAP", help="overlay map to show (alpha, beta, aleatoric, epistemic, "
                        "total, error)")
    parser.add_argument("--stage", type=int, metavar="N", help="stage to show first")
    parser.add_argument("--crop", action="store_true", help="start with the lung crop on")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="S",
                        help="give up a --screenshot after this many seconds (default 300)")
    return parser


def demo_paths() -> tuple[Path, Path]:
    """The bundled demo model and first sample case; ``FileNotFoundError`` with a clear message if absent."""
    from dfviewer.io.file_filters import list_radiographs
    from dfviewer.resources import resource_path

    model = resource_path(*DEMO_MODEL)
    samples_dir = resource_path("samples")
    samples = [p for p in list_radiographs(samples_dir) if p.suffix.lower() in (".dcm", "")] if samples_dir.is_dir() else []
    samples = samples or (list_radiographs(samples_dir) if samples_dir.is_dir() else [])
    if not model.exists():
        raise FileNotFoundError(f"the bundled demo model {model} is missing from this installation")
    if not samples:
        raise FileNotFoundError(f"no bundled sample case was found in {samples_dir}")
    return model, samples[0]


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if not (200 <= w <= 7680 and 150 <= h <= 4320):  # up to 8K: a screenshot's pixels are held at once
            raise ValueError
        return w, h
    except ValueError:
        raise SystemExit(f"dfviewer: --size must look like 1280x800 (200x150 to 7680x4320), not {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    from dfviewer.threads import set_wait_policy

    set_wait_policy()  # a no-op through ``dfviewer`` (set at its start); here for callers of this main()
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "dfviewer"
    if argv and argv[0] == "view":
        argv, prog = argv[1:], "dfviewer view"
    args = build_parser(prog).parse_args(argv)
    files = list(args.files)
    model = args.model
    if args.demo:
        try:
            demo_model, sample = demo_paths()
        except FileNotFoundError as exc:
            print(f"dfviewer: --demo: {exc}", file=sys.stderr)
            return 2
        model = model or str(demo_model)
        files = files or [str(sample)]
    if model and not Path(model).exists():
        print(f"dfviewer: the model checkpoint {model} does not exist", file=sys.stderr)
        return 2
    for path in files:
        if not Path(path).exists():
            print(f"dfviewer: {path} does not exist", file=sys.stderr)
            return 2
    size = parse_size(args.size) if args.screenshot else None
    if args.screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from dfviewer.platform_check import display_problem

    problem = display_problem(os.environ)  # Qt would abort (core dump) in these cases
    if problem:
        print(f"dfviewer: {problem}", file=sys.stderr)
        return 2

    from PyQt6.QtCore import QEventLoop, QSettings, QTimer
    from PyQt6.QtGui import QIcon
    from PyQt6.QtWidgets import QApplication

    from dfviewer.gui.main_window import MainWindow
    from dfviewer.gui.theme import apply_theme
    from dfviewer.resources import resource_path

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
    app.setApplicationName("dfviewer")
    app.setOrganizationName("dfviewer")
    app.setDesktopFileName("io.github.dfviewer.DFViewer")  # Wayland matches the launcher by this
    app.setWindowIcon(QIcon(str(resource_path("icons", "dfviewer.svg"))))
    apply_theme(app)
    settings = None
    if args.screenshot:  # reproducible screenshots: ignore the user's saved layout and preferences
        settings = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "dfviewer", "screenshot")
        settings.clear()
    window = MainWindow(settings=settings, model_path=model, device=args.device, mc_samples=args.mc)
    if size:
        window.resize(*size)
    window.show()
    if files:
        window.open_paths(files)
    if args.stage:
        window.state.set_stage(args.stage)
    if args.overlay:
        window._select_map(args.overlay)
    if args.crop:
        window.state.set_crop_enabled(True)
    if size is None:  # no --screenshot
        return app.exec()

    exit_code = {"rc": 0}
    # a local loop, not app.exec()/app.quit(): quitting the application would also end every
    # later event loop in this process (e.g. when called from tests)
    loop = QEventLoop()
    timeout = QTimer()  # stopped once the screenshot is taken: it must never fire in a later loop
    timeout.setSingleShot(True)
    saving = QTimer()
    saving.setSingleShot(True)
    saving.setInterval(300)

    done = []

    def save() -> None:
        timeout.stop()
        done.append(True)
        if args.stage:
            window.state.set_stage(args.stage)
        window.resize(*size)  # loading may have grown the window
        app.processEvents()
        window.reset_view()
        window.flush()
        app.processEvents()
        image = window.grab()
        if not image.save(args.screenshot):
            print(f"dfviewer: could not write {args.screenshot}", file=sys.stderr)
            exit_code["rc"] = 2
        window.close()
        window.deleteLater()
        loop.quit()

    saving.timeout.connect(save)

    def later() -> None:
        if not (done or saving.isActive()):  # once, whichever signal comes first
            saving.start()

    def failed(message: str) -> None:
        exit_code["rc"] = 1
        later()

    def timed_out() -> None:
        print("dfviewer: --screenshot timed out", file=sys.stderr)
        later()

    if window.controller.running:
        window.summaryUpdated.connect(later)  # after the final summary (lung mask, SSIM) arrived
        window.inferenceCancelled.connect(later)
        window.inferenceFailed.connect(failed)
        timeout.timeout.connect(timed_out)
        timeout.start(int(args.timeout * 1000))
    else:
        later()
    loop.exec()
    return exit_code["rc"]
