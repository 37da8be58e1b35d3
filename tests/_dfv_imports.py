"""What importing some modules drags in, checked in a fresh interpreter (the layering tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping


def packages_loaded_by(modules: Iterable[str], packages: Iterable[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The modules of ``packages`` (top-level names) loaded after importing ``modules`` in a new process."""
    code = (f"import sys, importlib\nfor m in {list(modules)!r}: importlib.import_module(m)\n"
            f"print(__import__('json').dumps(sorted(m for m in sys.modules if m.split('.')[0] in {list(packages)!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(env) if env is not None else None)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
