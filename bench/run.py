"""PitchTank benchmark: ``.venv/bin/python bench/run.py [--quick]`` (see bench/README.md).

Seeds a live session (40 pitches, 15 judges, 6 criteria) per backend, serves it with
``gunicorn -c gunicorn.conf.py wsgi:app`` on 127.0.0.1, and measures reads, score writes,
live fan-out, memory and the ranking's cost. Prints the machine, readable tables and, as the
last line, one JSON object with every figure. Every process it starts is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import database
import httpload
import pyspy_profile as pyspy
import report
from common import (
    HOST,
    PYTHON,
    ROOT,
    VENV_BIN,
    Backend,
    base_env,
    free_port,
    log,
    machine_info,
    postgres_backend,
    raise_fd_limit,
    sqlite_backend,
)
from fanout import run_fanout
from httpload import read_load, wrk_available
from load import build_request, constant_load, get_json, judges_scoring
from polling import run_polling
from server import GunicornServer, MemorySampler, children_of

FULL_RANK_SIZES = "40x15,40x50,200x15,200x50,1000x15,1000x50"
QUICK_RANK_SIZES = "40x15,200x50"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 1-2 minute smoke run with shorter phases")
    parser.add_argument("--backends", default="postgresql,sqlite",
                        help="comma-separated: postgresql (production: PostgreSQL+Redis, 2 workers), "
                             "sqlite (embedded default, 1 worker)")
    parser.add_argument("--connections", type=int, default=50, help="read-load concurrency")
    parser.add_argument("--http-seconds", type=float, help="seconds per read endpoint (15; quick 4)")
    parser.add_argument("--http-rounds", type=int, help="interleaved rounds the read seconds are split into "
                        "(3; quick 1)")
    parser.add_argument("--score-seconds", type=float, help="score-submission phase (20; quick 6)")
    parser.add_argument("--viewers", help="fan-out viewer counts, comma-separated (1000,5000; quick 1000)")
    parser.add_argument("--fanout-seconds", type=int, help="scores submitted, one per second (30; quick 8)")
    parser.add_argument("--pollers", help="fallback fan-out: conditional pollers, comma-separated counts, run "
                        "after the stream viewers with the same scores (1000; 0 skips)")
    parser.add_argument("--poll-interval", type=float, default=2.0,
                        help="leaderboard poll interval, s (2, as screen.js)")
    parser.add_argument("--session-poll-interval", type=float, default=5.0,
                        help="session poll interval, s (5, as screen.js; 0: leaderboard only)")
    parser.add_argument("--rank-sizes", help=f"PITCHESxJUDGES list ({FULL_RANK_SIZES}; quick {QUICK_RANK_SIZES})")
    parser.add_argument("--rank-budget", type=float, help="seconds per ranking size before it stops "
                        "repeating (3; quick 1); it always runs at least once")
    parser.add_argument("--compute-runs", type=int, help="results.compute repetitions (15; quick 5)")
    parser.add_argument("--pitches", type=int, default=40)
    parser.add_argument("--judges", type=int, default=15)
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio read load even if wrk is installed")
    parser.add_argument("--profile-dir", type=Path, help="record py-spy profiles of the workers here "
                        "(scores, leaderboard reads, fan-out) and summarise them in the report")
    parser.add_argument("--py-spy", help="path to py-spy when it is not on PATH")
    args = parser.parse_args(argv)
    quick = args.quick
    args.http_seconds = args.http_seconds or (4.0 if quick else 15.0)
    args.http_rounds = args.http_rounds or (1 if quick else 3)
    args.score_seconds = args.score_seconds or (6.0 if quick else 20.0)
    args.fanout_seconds = args.fanout_seconds or (8 if quick else 30)
    args.viewer_counts = [int(v) for v in (args.viewers or ("1000" if quick else "1000,5000")).split(",") if v]
    args.poller_counts = [int(v) for v in (args.pollers or "1000").split(",") if v and int(v) > 0]
    args.rank_sizes = args.rank_sizes or (QUICK_RANK_SIZES if quick else FULL_RANK_SIZES)
    args.rank_budget = args.rank_budget if args.rank_budget is not None else (1.0 if quick else 3.0)
    args.compute_runs = args.compute_runs or (5 if quick else 15)
    args.warmup = 1.0 if quick else 2.0
    return args


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def run_step(command: list[str], env: dict[str, str], what: str, timeout: float = 300) -> str:
    """Run one helper to completion (subprocess.run kills it on timeout); its stdout."""
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                               check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{what} failed ({completed.returncode}):\n{completed.stdout[-3000:]}\n"
                           f"{completed.stderr[-3000:]}")
    return completed.stdout


def last_json_line(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def delta(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


def guarded(results: dict[str, Any], key: str, action: Callable[[], Any]) -> Any:
    """Run one phase; a failure is recorded in the report instead of ending the whole run."""
    try:
        value = action()
    except Exception as error:  # one broken phase must not hide the others' figures
        log(f"  {key} FAILED: {error}")
        traceback.print_exc(file=sys.stderr)
        results[key] = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
        return None
    results[key] = value
    return value


class BackendRun:
    """Everything measured against one backend: set-up, server, phases, tear-down."""

    def __init__(self, backend: Backend, key: str, args: argparse.Namespace, workdir: Path) -> None:
        self.backend = backend
        self.key = key
        self.args = args
        self.workdir = workdir
        self.out: dict[str, Any] = {"name": backend.name, "workers": backend.workers, "loadavg_before": loadavg()}
        self.seed: dict[str, Any] = {}
        self.port = 0
        self.sampler: MemorySampler | None = None
        self.workers: list[int] = []
        self.py_spy = pyspy.find_py_spy(args.py_spy) if args.profile_dir else None
        self.profilers: list[pyspy.Profiler] = []
        self.profiles: dict[str, Any] = {}
        if args.profile_dir and self.py_spy is None:
            log("  --profile-dir given but py-spy not found: no profiles")

    # --- orchestration ---

    def run(self) -> dict[str, Any]:
        self.prepare()
        self.port = free_port()
        worker_connections = max(3000, max(self.args.viewer_counts + self.args.poller_counts, default=0) + 1000)
        server = GunicornServer(self.backend.env, self.port, self.workdir / f"gunicorn-{self.key}.log",
                                worker_connections)
        try:
            server.start(self.backend.workers)
            self.out |= {"port": self.port, "worker_connections": worker_connections}
            self.workers = children_of(server.pid)
            self.sampler = MemorySampler(server.pid)
            self.sampler.start()
            log(f"   gunicorn {server.pid} on {HOST}:{self.port}, workers {self.workers}")
            self.set_phase("warm-up")
            self.warm_up()
            # Scores first, so that the reads and streams carry a full 40 x 15 leaderboard.
            guarded(self.out, "scores", self.scores_phase)
            guarded(self.out, "reads", self.read_phase)
            self.out["fanout"] = {}
            for viewers in self.args.viewer_counts:
                self.fanout_phase(viewers)
            self.out["polling"] = {}
            for pollers in self.args.poller_counts:
                self.polling_phase(pollers)
            if self.profiles:
                self.out["profiles"] = self.profiles
            # Anything but gunicorn's own start-up notices: errors the app logged, tracebacks.
            self.out["server_log"] = [line for line in server.log_tail(2000).splitlines()
                                      if line.strip() and not _info_line(line)][-15:]
        finally:
            for profiler in self.profilers:
                profiler.stop(timeout=0)
            if self.sampler is not None:
                self.sampler.stop()
            server.stop()
        self.summarise_sampler()
        log("  results.compute() on the scored session")
        guarded(self.out, "compute", lambda: last_json_line(run_step(
            [PYTHON, "bench/compute_bench.py", "--session", str(self.seed["session_id"]),
             "--runs", str(self.args.compute_runs)], self.backend.env, "compute bench")))
        return self.out

    def prepare(self) -> None:
        log(f"== {self.backend.name}: preparing the database")
        if self.backend.kind == "postgresql":
            database.reset_postgres()
            database.flush_redis()
        started = time.perf_counter()
        run_step([str(VENV_BIN / "flask"), "--app", "pitchtank", "db", "upgrade"], self.backend.env, "db upgrade")
        seed_path = self.workdir / f"seed-{self.key}.json"
        run_step([PYTHON, "bench/seed.py", "--out", str(seed_path), "--pitches", str(self.args.pitches),
                  "--judges", str(self.args.judges)], self.backend.env, "seeding")
        self.seed = json.loads(seed_path.read_text())
        self.out["setup_seconds"] = round(time.perf_counter() - started, 1)
        log(f"   migrated and seeded session {self.seed['session_id']} in {self.out['setup_seconds']} s")

    def set_phase(self, phase: str) -> None:
        if self.sampler is not None:
            self.sampler.phase = phase

    def profile(self, phase: str, seconds: float) -> pyspy.Profiler | None:
        profiler = pyspy.start(self.py_spy, self.args.profile_dir, f"{self.key}-{phase}", self.workers, seconds)
        if profiler is not None:
            self.profilers.append(profiler)
        return profiler

    def collect(self, phase: str, profiler: pyspy.Profiler | None) -> None:
        if profiler is not None:
            self.profiles[phase] = pyspy.summarise(profiler.stop())

    def warm_up(self) -> None:
        """A second of light reads: pools, caches and lazy imports are filled before measuring."""
        for path in ("/healthz", f"/api/v1/sessions/{self.seed['session_id']}/leaderboard"):
            raw = build_request("GET", path, f"{HOST}:{self.port}")
            asyncio.run(constant_load(HOST, self.port, raw, 8, 1.0, warmup=0.0))

    # --- phases ---

    def scores_phase(self) -> dict[str, Any]:
        """15 judges writing back to back; then the database is checked against the answers."""
        log(f"  {len(self.seed['judges'])} judges scoring for {self.args.score_seconds:.0f} s")
        backend = self.backend
        before = database.scores_version(backend, self.seed["session_id"])
        sessions = database.pg_sessions(backend)
        self.set_phase("scores")
        profiler = self.profile("scores", self.args.score_seconds - 1)
        activity: dict[str, float] = {}
        try:
            if backend.kind == "postgresql":
                with database.PgActivity() as watcher:
                    load = asyncio.run(judges_scoring(HOST, self.port, self.seed, self.args.score_seconds))
                activity = watcher.summary()
            else:
                load = asyncio.run(judges_scoring(HOST, self.port, self.seed, self.args.score_seconds))
        finally:
            self.set_phase("idle")
        self.collect("scores", profiler)
        return load.summary() | {
            "integrity": database.verify_scores(backend, self.seed, load, before),
            "pg_connections_opened": delta(sessions, database.pg_sessions(backend)),
            "pg_activity": activity,
        }

    def read_phase(self) -> dict[str, Any]:
        """healthz, the leaderboard and its 304, at fixed concurrency, in interleaved rounds."""
        args, backend, seed, port = self.args, self.backend, self.seed, self.port
        board_path = f"/api/v1/sessions/{seed['session_id']}/leaderboard"
        status, headers, body = asyncio.run(get_json(HOST, port, board_path))
        if status != 200:
            raise RuntimeError(f"leaderboard answered {status}: {body}")
        etag = headers["etag"]
        status_304, _, _ = asyncio.run(get_json(HOST, port, board_path, {"If-None-Match": etag}))
        out: dict[str, Any] = {"leaderboard_bytes": len(json.dumps(body)), "etag_check_status": status_304,
                               "leaderboard_entries": len(body["entries"])}
        targets = [("healthz", "/healthz", {}), ("leaderboard", board_path, {}),
                   ("leaderboard_304", board_path, {"If-None-Match": etag})]
        # Interleaved rounds: a change in the machine's other load then hits every endpoint alike.
        rounds = max(1, args.http_rounds)
        seconds = max(1.0, args.http_seconds / rounds)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in targets}
        connections_opened: dict[str, int | None] = dict.fromkeys(runs, 0)
        log(f"  reads: {rounds} round(s) of {seconds:.0f} s per endpoint, {args.connections} connections")
        for round_number in range(rounds):
            for name, path, headers_ in targets:
                self.set_phase(f"read:{name}")
                sessions = database.pg_sessions(backend)
                runs[name].append(read_load(port, path, headers_, args.connections, seconds, self.workdir,
                                            f"{self.key}-{name}-{round_number}",
                                            warmup=args.warmup if round_number == 0 else 0.0))
                opened = delta(sessions, database.pg_sessions(backend))
                previous = connections_opened[name]
                connections_opened[name] = None if opened is None or previous is None else previous + opened
        self.set_phase("idle")
        for name, rounds_of in runs.items():
            requests = sum(r["requests"] for r in rounds_of)
            elapsed = sum(r["seconds"] for r in rounds_of)
            errors: dict[str, int] = {}
            for r in rounds_of:
                for key, value in r.get("errors", {}).items():
                    errors[key] = errors.get(key, 0) + value
            out[name] = {
                "tool": rounds_of[0]["tool"], "rounds": len(rounds_of), "requests": requests,
                "seconds": round(elapsed, 2), "rps": round(requests / elapsed, 1) if elapsed else 0.0,
                "p50_ms": statistics.median(r["p50_ms"] for r in rounds_of),
                "p99_ms": max(r["p99_ms"] for r in rounds_of),
                "rps_by_round": [r["rps"] for r in rounds_of], "errors": errors,
                "pg_connections_opened": connections_opened[name],
            }
        for name in ("leaderboard", "leaderboard_304"):
            ratios = [100 * mine / base for mine, base in zip(out[name]["rps_by_round"], out["healthz"]["rps_by_round"],
                                                               strict=True) if base]
            # The median of the rounds' ratios: robust to one round that other work slowed down.
            out[name]["pct_of_healthz"] = round(statistics.median(ratios), 1) if ratios else None
        return out


    def fanout_phase(self, viewers: int) -> None:
        """N viewers on the stream, one stored score per second; profiled while live."""
        log(f"  fan-out to {viewers} viewers")
        self.set_phase(f"fanout:{viewers}:connect")
        profilers: list[pyspy.Profiler | None] = []

        def live() -> None:
            self.set_phase(f"fanout:{viewers}:live")
            profilers.append(self.profile(f"fanout-{viewers}", self.args.fanout_seconds))

        sessions = database.pg_sessions(self.backend)
        try:
            fan = guarded(self.out["fanout"], str(viewers), lambda: run_fanout(
                self.backend.env, self.port, self.seed, viewers, self.args.fanout_seconds, on_ready=live))
        finally:
            self.set_phase("idle")
        if fan is not None:
            fan["pg_connections_opened"] = delta(sessions, database.pg_sessions(self.backend))
        for profiler in profilers:
            self.collect(f"fanout-{viewers}", profiler)

    def polling_phase(self, pollers: int) -> None:
        """The fallback: N screens polling with If-None-Match, one stored score per second."""
        args = self.args
        log(f"  polling fallback: {pollers} pollers every {args.poll_interval:g} s "
            f"(session every {args.session_poll_interval:g} s)")
        phases = (f"polling:{pollers}:start", f"polling:{pollers}:live")
        self.set_phase(phases[0])
        profilers: list[pyspy.Profiler | None] = []

        def live() -> None:
            self.set_phase(phases[1])
            profilers.append(self.profile(f"polling-{pollers}", args.fanout_seconds))

        sessions = database.pg_sessions(self.backend)
        try:
            poll = guarded(self.out["polling"], str(pollers), lambda: run_polling(
                self.backend.env, self.port, self.seed, pollers, args.fanout_seconds, args.poll_interval,
                args.session_poll_interval, on_ready=live))
        finally:
            self.set_phase("idle")
        if poll is not None:
            poll["pg_connections_opened"] = delta(sessions, database.pg_sessions(self.backend))
            if self.sampler is not None:
                peaks = [v for v in (self.sampler.peak_mb(p) for p in phases) if v is not None]
                pss = [v for v in (self.sampler.peak_pss_mb(p) for p in phases) if v is not None]
                poll["peak_rss_mb"] = max(peaks, default=None)
                poll["peak_pss_mb"] = max(pss, default=None)
        for profiler in profilers:
            self.collect(f"polling-{pollers}", profiler)

    # --- figures from the sampler ---

    def summarise_sampler(self) -> None:
        sampler = self.sampler
        if sampler is None:
            return
        phases = sampler.phases()
        self.out["memory"] = {
            "peak_rss_mb": sampler.peak_mb(), "peak_pss_mb": sampler.peak_pss_mb(),
            "processes": max((s.processes for s in sampler.samples), default=0),
            "samples": len(sampler.samples),
            "by_phase_rss_mb": {phase: sampler.peak_mb(phase) for phase in phases},
        }
        self.out["cpu_by_phase"] = {phase: sampler.cpu(phase) for phase in phases
                                    if phase not in {"startup", "warm-up", "idle"}}
        add_cpu_costs(self.out)


def _info_line(line: str) -> bool:
    """A notice at INFO level, in gunicorn's text format or the app's JSON or text logs."""
    return "[INFO]" in line or '"level": "INFO"' in line or " INFO [" in line


def add_cpu_costs(out: dict[str, Any]) -> None:
    """Server CPU per unit of work: steadier than rates while other work shares the CPUs."""
    cpu = out.get("cpu_by_phase", {})

    def server_cpu_seconds_per_s(phase: str) -> float | None:
        value = cpu.get(phase)
        return value["server_pct"] / 100 if value else None

    scores = out.get("scores")
    per_s = server_cpu_seconds_per_s("scores")
    if isinstance(scores, dict) and "error" not in scores and per_s and scores["rps"]:
        scores["server_cpu_ms_per_request"] = round(per_s * 1000 / scores["rps"], 2)
    reads = out.get("reads")
    if isinstance(reads, dict) and "error" not in reads:
        for name in ("healthz", "leaderboard", "leaderboard_304"):
            per_s = server_cpu_seconds_per_s(f"read:{name}")
            if per_s and reads[name]["rps"]:
                reads[name]["server_cpu_ms_per_request"] = round(per_s * 1000 / reads[name]["rps"], 3)
    for viewers, fan in (out.get("fanout") or {}).items():
        if not isinstance(fan, dict) or "error" in fan:
            continue
        connect = cpu.get(f"fanout:{viewers}:connect")
        if connect and fan["connected"]:
            # The connect phase's CPU-seconds, from its mean use and the time the viewers took.
            fan["server_cpu_ms_per_stream_connect"] = round(
                connect["server_pct"] / 100 * fan["connect_seconds"] * 1000 / fan["connected"], 2)
        live = cpu.get(f"fanout:{viewers}:live")
        if live and fan["events_delivered"] and fan["live_seconds"]:
            fan["server_cpu_us_per_delivered_event"] = round(
                live["server_pct"] / 100 * fan["live_seconds"] * 1e6 / fan["events_delivered"], 1)
        if live:
            fan["server_cpu_pct_live"] = live["server_pct"]
    for pollers, poll in (out.get("polling") or {}).items():
        if not isinstance(poll, dict) or "error" in poll:
            continue
        live = cpu.get(f"polling:{pollers}:live")
        if live:
            # Over the writes and the settling time; the requests were counted over about that span.
            poll["server_cpu_pct_live"] = live["server_pct"]
            poll["bench_cpu_pct_live"] = live["bench_pct"]
            if poll["rps"]:
                poll["server_cpu_ms_per_request"] = round(live["server_pct"] / 100 * 1000 / poll["rps"], 3)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    httpload.USE_WRK = not args.no_wrk
    fd_limit = raise_fd_limit()
    started = time.perf_counter()
    machine = machine_info()
    machine["wrk"] = shutil.which("wrk") or None
    machine["loadavg_start"] = loadavg()
    print(report.machine_line(machine), flush=True)
    results: dict[str, Any] = {
        "machine": machine,
        "settings": {
            "quick": args.quick, "connections": args.connections, "http_seconds": args.http_seconds,
            "http_rounds": args.http_rounds,
            "score_seconds": args.score_seconds, "viewers": args.viewer_counts,
            "fanout_seconds": args.fanout_seconds, "pitches": args.pitches, "judges": args.judges,
            "pollers": args.poller_counts, "poll_interval": args.poll_interval,
            "session_poll_interval": args.session_poll_interval,
            "criteria": 6, "fd_limit": fd_limit, "load_tool": "wrk" if wrk_available() else "python-asyncio",
        },
        "backends": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="pitchtank-bench-"))
    secret = secrets.token_urlsafe(32)
    used_postgres = False
    try:
        for key in [b.strip() for b in args.backends.split(",") if b.strip()]:
            if key == "postgresql":
                used_postgres = True
                backend = postgres_backend(secret, str(workdir / "decks"))
            elif key == "sqlite":
                backend = sqlite_backend(secret, str(workdir / "bench.sqlite3"), str(workdir / "decks"))
            else:
                raise SystemExit(f"unknown backend {key!r}")
            guarded(results["backends"], key, BackendRun(backend, key, args, workdir).run)
        log("rank_pitches on random scores")
        guarded(results, "ranking", lambda: last_json_line(run_step(
            [PYTHON, "bench/ranking.py", "--sizes", args.rank_sizes, "--budget", str(args.rank_budget)],
            base_env(), "ranking bench", timeout=600)))
    finally:
        if used_postgres:
            try:
                database.drop_postgres()
                database.flush_redis()
            except Exception as error:  # cleanup is best effort; say so
                log(f"cleanup of PostgreSQL/Redis failed: {error}")
        shutil.rmtree(workdir, ignore_errors=True)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["loadavg_end"] = loadavg()
    results["targets"] = report.targets(results)
    print(report.tables(results), flush=True)
    print(json.dumps(results, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
