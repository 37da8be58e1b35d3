"""The mutation-fuzzing campaign: mutate seed files, run each case in a worker process, keep findings.

A case is fine when the target returns a usable result or raises a ``UserError`` whose text is one
sentence. Anything else is a finding: ``crash`` (another exception), ``hang`` (no answer within
the time limit), ``died`` (the worker process was killed, e.g. a native abort), ``memory`` (the
case touched more than the memory limit, or was refused for want of memory), ``bad_message``,
``bad_result``. Findings are grouped by signature (kind, outcome, exception type, raising function)
and can be minimised against their seed and kept as regression files.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import select
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import mutators

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("worker.py")
REGRESSIONS = ROOT / "tests" / "data" / "fuzz"
FINE = ("ok", "user_error")
#: which target each seed kind feeds
TARGET = {"dicom": "radiograph", "image": "radiograph", "checkpoint": "checkpoint"}


@dataclass
class Finding:
    kind: str
    seed: str
    mutation: str
    answer: dict
    data: bytes
    suffix: str
    force: bool = False

    @property
    def signature(self) -> tuple[str, ...]:
        a = self.answer
        if a["outcome"] in ("hang", "died", "memory"):
            return (self.kind, a["outcome"])
        return (self.kind, a["outcome"], a.get("type", ""), a.get("where", ""))


@dataclass
class Report:
    cases: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    findings: dict[tuple[str, ...], Finding] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    max_seconds: float = 0.0
    max_rss_mb: float = 0.0
    wall_seconds: float = 0.0

    def record(self, kind: str, answer: dict) -> bool:
        """Count one case's answer; True when it is a finding (then :meth:`add` it)."""
        self.cases[kind] += 1
        self.outcomes[answer["outcome"]] += 1
        self.max_seconds = max(self.max_seconds, answer.get("seconds", 0.0))
        self.max_rss_mb = max(self.max_rss_mb, answer.get("rss_mb", 0.0))
        return answer["outcome"] not in FINE

    def add(self, finding: Finding) -> None:
        """Count a finding under its signature, keeping the first of each."""
        self.counts[finding.signature] += 1
        self.findings.setdefault(finding.signature, finding)

    def summary(self) -> str:
        lines = [f"{sum(self.cases.values())} cases in {self.wall_seconds:.0f} s "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(self.cases.items()))}); "
                 f"outcomes: {dict(sorted(self.outcomes.items()))}; slowest case {self.max_seconds:.2f} s; "
                 f"most memory touched by one case {self.max_rss_mb:.0f} MB"]
        for signature, finding in sorted(self.findings.items()):
            a = finding.answer
            lines.append(f"  {self.counts[signature]:5d} x {' / '.join(s for s in signature if s)}: "
                         f"{a.get('message', '')[:140]} (seed {finding.seed}, {finding.mutation})")
        return "\n".join(lines)


class Worker:
    """One worker process; restarted after a hang, a death, a memory finding or ``recycle`` cases."""

    def __init__(self, torch: bool = False, code_root: Path = ROOT, memory_limit_mb: float = 1024,
                 timeout: float = 10.0, recycle: int = 400):
        self.env = dict(os.environ, PYTHONPATH=str(code_root), QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
        if torch:
            self.env["DFV_FUZZ_TORCH"] = "1"
        self.memory_limit_mb = memory_limit_mb
        self.timeout = timeout
        self.recycle = recycle
        self.process: subprocess.Popen | None = None
        self.served = 0

    def _start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.env, text=True, bufsize=1, cwd=str(WORKER.parent),
        )
        ready = self._answer(120.0)
        if not ready or not ready.get("ready"):
            raise RuntimeError(f"the fuzz worker did not start: {self._stderr()}")
        self.served = 0

    def _answer(self, timeout: float) -> dict | None:
        assert self.process is not None and self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not readable:
            return None
        line = self.process.stdout.readline()
        return json.loads(line) if line else {"outcome": "died", "message": self._stderr()}

    def _stderr(self) -> str:
        if self.process is None or self.process.stderr is None:
            return ""
        self.process.kill()
        self.process.wait()
        return (self.process.stderr.read() or "")[-300:]

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def run(self, target: str, path: Path, force: bool = False) -> dict:
        if self.process is None or self.process.poll() is not None or self.served >= self.recycle:
            self.stop()
            self._start()
        assert self.process is not None and self.process.stdin is not None
        self.served += 1
        try:
            self.process.stdin.write(json.dumps({"kind": target, "path": str(path), "force": force}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            answer = {"outcome": "died", "message": self._stderr()}
            self.process = None
            return answer
        started = time.perf_counter()
        answer = self._answer(self.timeout)
        if answer is None:
            self.stop()
            return {"outcome": "hang", "message": f"no answer within {self.timeout:g} s", "seconds": time.perf_counter() - started}
        if answer["outcome"] == "died":
            self.process = None
        elif answer.get("rss_mb", 0) > self.memory_limit_mb:
            answer = dict(answer, outcome="memory", message=f"touched {answer['rss_mb']:.0f} MB; {answer.get('message', '')}")
            self.stop()
        return answer


def campaign(seeds: dict[str, list[Path]], cases: dict[str, int], seed: int, workdir: Path,
             minutes: float | None = None, code_root: Path = ROOT, timeout: float = 10.0) -> Report:
    """Run ``cases[kind]`` mutations per kind (or until ``minutes`` pass, spread over the kinds)."""
    report = Report()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    kinds = [k for k in cases if seeds.get(k) and cases[k] > 0]
    for position, kind in enumerate(kinds):
        rng = random.Random(f"{seed}-{kind}")
        originals = [(p, p.read_bytes()) for p in seeds[kind]]
        worker = Worker(torch=TARGET[kind] == "checkpoint", code_root=code_root, timeout=timeout)
        deadline = None if minutes is None else started + 60 * minutes * (position + 1) / len(kinds)
        try:
            for _ in range(cases[kind]):
                if deadline is not None and time.perf_counter() > deadline:
                    break
                path, original = rng.choice(originals)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # pydicom warns about the hostile values it writes
                    data, mutation = mutators.mutate(original, path.suffix.lower(), rng)
                case = workdir / f"case-{kind}{path.suffix}"
                case.write_bytes(data)
                force = kind == "dicom" and rng.random() < 0.3
                answer = worker.run(TARGET[kind], case, force=force)
                if report.record(kind, answer):
                    report.add(Finding(kind, path.name, mutation, answer, data, path.suffix.lower(), force))
        finally:
            worker.stop()
    report.wall_seconds = time.perf_counter() - started
    return report


def minimise(finding: Finding, original: bytes, workdir: Path, code_root: Path = ROOT, budget: int = 120) -> bytes:
    """A smaller (or closer-to-the-seed) input with the same signature, by truncation and reverting bytes."""
    worker = Worker(torch=TARGET[finding.kind] == "checkpoint", code_root=code_root)
    case = workdir / f"minimise{finding.suffix}"
    tries = 0

    def same(candidate: bytes) -> bool:
        nonlocal tries
        tries += 1
        case.write_bytes(candidate)
        answer = worker.run(TARGET[finding.kind], case, force=finding.force)
        return Finding(finding.kind, "", "", answer, candidate, finding.suffix).signature == finding.signature

    best = finding.data
    try:
        if not same(best):  # flaky or force-only: keep as found
            return best
        # shortest failing prefix (halving steps)
        step = len(best) // 2
        while step >= 16 and tries < budget // 2:
            if same(best[:-step]):
                best = best[:-step]
            else:
                step //= 2
        # revert differing bytes to the seed's, half of the remaining differences at a time
        if len(best) <= len(original):
            diffs = [i for i in range(len(best)) if best[i] != original[i]]
            chunk = max(1, len(diffs) // 2)
            while diffs and tries < budget:
                progressed = False
                for start in range(0, len(diffs), chunk):
                    revert = diffs[start:start + chunk]
                    candidate = bytearray(best)
                    for i in revert:
                        candidate[i] = original[i]
                    if same(bytes(candidate)):
                        best = bytes(candidate)
                        diffs = [i for i in diffs if i not in set(revert)]
                        progressed = True
                        break
                if not progressed:
                    if chunk == 1:
                        break
                    chunk = max(1, chunk // 2)
    finally:
        worker.stop()
    return best


def keep(finding: Finding, data: bytes, folder: Path = REGRESSIONS) -> Path:
    """Save a reproducer under a name that says what it found; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:10]
    outcome = finding.answer["outcome"]
    what = (finding.answer.get("type") or outcome).lower()
    where = finding.answer.get("where", "").split(":")[-1]
    stem = "-".join(s for s in (finding.kind, outcome, what, where, digest) if s)
    path = folder / f"{stem}{'.force' if finding.force else ''}{finding.suffix}"
    path.write_bytes(data)
    return path
