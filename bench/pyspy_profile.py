"""Optional sampling profiles of the gunicorn workers with py-spy (``run.py --profile-dir DIR``).

py-spy is not a dependency of the app: install it anywhere (``pip install py-spy`` in a
scratch venv) and pass ``--py-spy /path/to/py-spy`` unless it is on PATH. Each worker is
recorded in "raw" (collapsed stacks) format; ``summarise`` turns the files into the
functions with the most samples, inclusive and self.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from common import log


class Profiler:
    """py-spy record on every worker for one phase; stopped by PID in ``stop``."""

    def __init__(self, py_spy: str, out_dir: Path, phase: str, pids: list[int], seconds: float) -> None:
        self.files = [out_dir / f"{phase}-{pid}.txt" for pid in pids]
        self.processes: list[subprocess.Popen[bytes]] = []
        for pid, path in zip(pids, self.files, strict=True):
            self.processes.append(subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
                 "--rate", "200", "--format", "raw", "--output", str(path), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))

    def stop(self, timeout: float = 30.0) -> list[Path]:
        for process in self.processes:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        return [f for f in self.files if f.exists()]


def find_py_spy(explicit: str | None) -> str | None:
    if explicit:
        return explicit if Path(explicit).exists() else None
    return shutil.which("py-spy")


def start(py_spy: str | None, out_dir: Path | None, phase: str, pids: list[int], seconds: float
          ) -> Profiler | None:
    if py_spy is None or out_dir is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    log(f"  py-spy recording {phase} on workers {pids}")
    return Profiler(py_spy, out_dir, phase, pids, seconds)


def _frame_name(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)"; line numbers vary between samples.
    name, _, location = frame.partition(" (")
    file = location.rsplit(":", 1)[0].rstrip(")")
    short = "/".join(file.split("/")[-2:]) if "pitchtank" in file else file.split("/")[-1]
    return f"{name} ({short})"


def summarise(files: list[Path], top: int = 15) -> dict[str, Any]:
    """The functions with the most samples: inclusive (on the stack) and self (at the top).

    py-spy leaves idle samples out, so percentages are of the time the workers were busy."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_frame_name(f) for f in stack.split(";") if f]
            total += count
            for name in set(frames):
                inclusive[name] += count
            if frames:
                own[frames[-1]] += count

    def pct(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)] if total else []

    return {"samples": total, "inclusive_pct": pct(inclusive), "self_pct": pct(own), "files": [str(f) for f in files]}
