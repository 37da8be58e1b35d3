"""The fuzz worker: reads one JSON request per line, runs the target, answers one JSON line.

Runs in its own process so that a hang, an abort or a memory blow-up costs one restart, not the
campaign; ``ru_maxrss`` after each case tells the parent how much memory the case touched.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _probe_image():
    import numpy as np

    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    return (1.5 + np.sin(6 * xx) * np.cos(4 * yy)).astype(np.float32)


def run_radiograph(path: str, force: bool) -> str:
    import numpy as np

    from dfviewer.io import read_radiograph

    radiograph = read_radiograph(path, force=force)
    pixels = radiograph.pixels
    if pixels.ndim != 2 or pixels.dtype != np.float32 or not np.isfinite(pixels).any():
        return f"bad result: shape {pixels.shape}, dtype {pixels.dtype}"
    centre, width = radiograph.window
    if not (np.isfinite(centre) and np.isfinite(width) and width > 0):
        return f"bad window {radiograph.window}"
    return ""


def run_checkpoint(path: str, force: bool) -> str:
    from dfviewer.core.inference import Predictor

    predictor = Predictor.from_checkpoint(path, device="cpu")
    return _non_finite_map(predictor)


def _non_finite_map(predictor) -> str:
    """'' when every map of a small prediction is finite, else which is not."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    for result in predictor.predict(_probe_image(), mc_samples=2, seed=0, working_size=32):
        for name, array in result.maps().items():
            if not np.isfinite(array).all():
                return f"non-finite {name} map at stage {result.stage}"
    return ""


def run_expect(path: str, force: bool) -> str:
    """Read a synthesised file and compare it with its ``.expect.npz`` (see tests/fuzz/expectation.py)."""
    from expectation import Expect, compare

    from dfviewer.errors import UserError
    from dfviewer.io import read_radiograph

    expect = Expect.load(path + ".expect.npz")
    try:
        radiograph = read_radiograph(path, force=force)
    except UserError:
        if expect.pixels is not None:  # a consistent file the reader must take
            raise RefusedValid(expect.what) from None
        raise
    problem = compare(expect, radiograph.pixels, radiograph.window)
    return f"{problem} [{expect.what}]" if problem else ""


def run_checkpoint_expect(path: str, force: bool) -> str:
    """A synthesised checkpoint: refused when its ``.expect.npz`` says so, else finite maps and a real domain score."""
    import numpy as np
    from expectation import Expect

    from dfviewer.core.inference import Predictor

    expect = Expect.load(path + ".expect.npz")
    predictor = Predictor.from_checkpoint(path, device="cpu")
    problem = _non_finite_map(predictor)
    if problem:
        return f"{problem} [{expect.what}]"
    if predictor.domain is not None:
        score = predictor.domain_score(_probe_image())
        if score is None or np.isnan(score):
            return f"domain score {score} (a NaN score never flags) [{expect.what}]"
    if expect.refuse:
        return f"loaded although it must be refused [{expect.what}]"
    return ""


def run_store(path: str, force: bool) -> str:
    """verify, resume, verify a tampered store through the ``dfviewer generate`` CLI (in this process)."""
    from synth_store import store_round

    return store_round(path)


class RefusedValid(Exception):
    """A consistent file with a known expected image was refused."""


TARGETS = {"radiograph": run_radiograph, "checkpoint": run_checkpoint, "expect": run_expect,
           "checkpoint_expect": run_checkpoint_expect, "store": run_store}


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM); ru_maxrss cannot be used, it survives fork and exec."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _touched_mb(before: float, resettable: bool) -> float:
    """Memory a case touched beyond what the process held before it, in MB."""
    if resettable:
        return max(0.0, _status_mb("VmHWM") - before)
    return max(0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before)


def main() -> None:
    import dfviewer.io  # noqa: F401 - import before the baseline is taken
    from dfviewer.errors import UserError

    if os.environ.get("DFV_FUZZ_TORCH"):
        import torch  # noqa: F401

        import dfviewer.core.inference  # noqa: F401
    resettable = _reset_peak()
    print(json.dumps({"ready": True, "resettable": resettable}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if resettable:
            _reset_peak()
            before = _status_mb("VmRSS")
        else:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        answer = {"outcome": "ok", "type": "", "message": "", "where": ""}
        try:
            problem = TARGETS[request["kind"]](request["path"], request.get("force", False))
            if problem:
                answer.update(outcome="bad_result", message=problem)
        except RefusedValid as exc:
            answer.update(outcome="bad_result", type="RefusedValid", message=f"a consistent file was refused [{exc}]")
        except UserError as exc:
            text = str(exc)
            one_sentence = text.endswith(".") and "\n" not in text and len(text) < 600
            memory = "more memory" in text
            answer.update(outcome="memory" if memory else "user_error" if one_sentence else "bad_message",
                          type=type(exc).__name__, message=text)
        except BaseException as exc:  # noqa: BLE001 - the finding itself
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            frames = traceback.extract_tb(exc.__traceback__)
            where = frames[-1] if frames else None
            answer.update(outcome="crash", type=type(exc).__name__, message=str(exc)[:300],
                          where=f"{os.path.basename(where.filename)}:{where.name}" if where else "")
        answer["seconds"] = time.perf_counter() - started
        answer["rss_mb"] = _touched_mb(before, resettable)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
