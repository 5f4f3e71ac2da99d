"""Start gunicorn the way production does, watch its memory, and stop it by PID."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import HOST, ROOT, VENV_BIN, log

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/<pid>/task/*/children, else by scanning /proc)."""
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        for task in task_dir.iterdir():
            text = (task / "children").read_text()
            found.extend(int(p) for p in text.split())
        return sorted(set(found))
    except OSError:
        pass
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces: the parent pid is the 2nd field after ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared (copy-on-write) pages split between the processes."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks over all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def scan_processes() -> dict[int, tuple[int, str, int]]:
    """Every process: pid -> (parent pid, command name, utime + stime ticks), in one /proc pass."""
    table: dict[int, tuple[int, str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry.name)] = (int(fields[1]), comm, int(fields[11]) + int(fields[12]))
    return table


def descendants(table: dict[int, tuple[int, str, int]], root: int) -> set[int]:
    found = {root} if root in table else set()
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, _) in table.items():
            if ppid == parent and pid not in found:
                found.add(pid)
                frontier.append(pid)
    return found


def _ticks(table: dict[int, tuple[int, str, int]], pids: set[int]) -> int:
    return sum(table[p][2] for p in pids if p in table)


@dataclass
class Sample:
    at: float
    phase: str
    rss: int
    pss: int
    processes: int
    server_ticks: int  # cumulative CPU ticks of the processes alive at this sample
    busy_ticks: int
    total_ticks: int
    bench_ticks: int = 0  # this benchmark's own processes: load generators, viewers, wrk, py-spy
    postgres_ticks: int = 0  # every PostgreSQL backend (all databases on the server)
    redis_ticks: int = 0


@dataclass
class MemorySampler:
    """Every ``interval`` s: RSS and PSS summed over the gunicorn master and its workers, the
    server's CPU time and the whole machine's busy time (to see who used the two CPUs)."""

    master_pid: int
    interval: float = 0.5
    phase: str = "startup"
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        own = os.getpid()
        while not self._stop.is_set():
            table = scan_processes()
            server = descendants(table, self.master_pid)
            bench = descendants(table, own) - server
            rss = sum(rss_bytes(p) for p in server)
            if rss:
                busy, total = machine_ticks()
                self.samples.append(Sample(
                    time.monotonic(), self.phase, rss, sum(pss_bytes(p) for p in server), len(server),
                    _ticks(table, server), busy, total, _ticks(table, bench),
                    _ticks(table, {p for p, row in table.items() if row[1] == "postgres"}),
                    _ticks(table, {p for p, row in table.items() if row[1] == "redis-server"}),
                ))
            self._stop.wait(self.interval)

    def phases(self) -> list[str]:
        return list(dict.fromkeys(s.phase for s in self.samples))

    def peak_mb(self, phase: str | None = None) -> float | None:
        values = [s.rss for s in self.samples if phase is None or s.phase == phase]
        return round(max(values) / 2**20, 1) if values else None

    def peak_pss_mb(self, phase: str | None = None) -> float | None:
        values = [s.pss for s in self.samples if phase is None or s.phase == phase]
        return round(max(values) / 2**20, 1) if values else None

    def cpu(self, phase: str) -> dict[str, float] | None:
        """CPU use during ``phase`` in % of one CPU (200 % = 2 CPUs busy): the server, this
        benchmark's own processes, PostgreSQL, Redis, the whole machine, and the rest.

        Sums the intervals between consecutive samples that both belong to ``phase``, so a
        phase that recurs (rounds) is measured over its own intervals only."""
        seconds = 0.0
        total = busy = 0
        ticks = dict.fromkeys(("server", "bench", "postgres", "redis"), 0)
        for before, after in zip(self.samples, self.samples[1:], strict=False):
            if before.phase != phase or after.phase != phase:
                continue
            seconds += after.at - before.at
            total += after.total_ticks - before.total_ticks
            busy += after.busy_ticks - before.busy_ticks
            for name in ticks:
                # A process that ended takes its ticks with it: never count a negative interval.
                ticks[name] += max(0, getattr(after, f"{name}_ticks") - getattr(before, f"{name}_ticks"))
        if seconds <= 0 or total <= 0:
            return None
        out = {f"{name}_pct": round(value / CLOCK_TICKS / seconds * 100, 1) for name, value in ticks.items()}
        out["machine_pct"] = round(busy / total * (os.cpu_count() or 1) * 100, 1)
        out["other_pct"] = round(max(0.0, out["machine_pct"] - sum(out[f"{n}_pct"] for n in ticks)), 1)
        return out


class GunicornServer:
    """``gunicorn -c gunicorn.conf.py wsgi:app`` bound to 127.0.0.1:<port>, stopped by PID."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path, worker_connections: int) -> None:
        self.port = port
        self.env = env | {"BIND": f"{HOST}:{port}", "WORKER_CONNECTIONS": str(worker_connections)}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.worker_pids: set[int] = set()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, expected_workers: int, timeout: float = 60.0) -> None:
        gunicorn = str(VENV_BIN / "gunicorn")
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                [gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=self.env,
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}:\n"
                                   + self.log_tail())
            workers = children_of(self.pid)
            self.worker_pids.update(workers)
            if len(workers) >= expected_workers and self._healthy():
                self._wait_until_booted(workers, deadline)
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not become healthy in {timeout} s:\n" + self.log_tail())

    def _wait_until_booted(self, workers: list[int], deadline: float) -> None:
        """One worker answering is not all of them: wait until no worker's memory still grows
        (each imports the app after the fork), so no phase measures a worker's boot."""
        previous = [rss_bytes(p) for p in workers]
        steady = 0
        while steady < 4 and time.monotonic() < deadline:
            time.sleep(0.25)
            current = [rss_bytes(p) for p in workers]
            grew = any(abs(c - p) > 0.005 * max(p, 1) for c, p in zip(current, previous, strict=True))
            steady = 0 if grew else steady + 1
            previous = current

    def _healthy(self) -> bool:
        try:
            connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
            connection.request("GET", "/healthz")
            ok = connection.getresponse().status == 200
            connection.close()
            return ok
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Quick shutdown (SIGQUIT: open streams would hold a graceful stop), then SIGKILL by PID."""
        if self.process is None:
            return
        self.worker_pids.update(children_of(self.pid))
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"gunicorn {self.pid} ignored SIGQUIT; killing it")
                self.process.kill()
                self.process.wait(5)
        for pid in sorted(self.worker_pids):
            _kill_if_alive(pid)


def _kill_if_alive(pid: int) -> None:
    """SIGKILL a worker we recorded, only if it still exists and is still a gunicorn process."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return  # already gone
    if b"gunicorn" not in cmdline:
        return  # the PID was reused by something else
    try:
        os.kill(pid, signal.SIGKILL)
        log(f"killed leftover gunicorn worker {pid}")
    except ProcessLookupError:
        pass
