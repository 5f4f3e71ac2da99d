"""The fallback's fan-out: N screens polling with If-None-Match while one judge stores a score
every second (the page's polling mode when live push is unavailable; see pollers.py)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from common import BENCH_DIR, HOST, PYTHON, log, percentile
from fanout import ViewerGroup, submit_every_second
from load import get_json

POLLERS_PER_PROCESS = 1000


class PollerGroup(ViewerGroup):
    """The poller processes of one run, started and stopped by PID (same stdio protocol)."""

    per_process = POLLERS_PER_PROCESS

    def __init__(self, env: dict[str, str], port: int, session_id: int, pollers: int, interval: float,
                 session_interval: float) -> None:
        self.interval = interval
        self.session_interval = session_interval
        super().__init__(env, port, session_id, pollers)

    def command(self, port: int, session_id: int, share: int, index: int) -> list[str]:
        return [PYTHON, str(BENCH_DIR / "pollers.py"), "--port", str(port), "--session", str(session_id),
                "--pollers", str(share), "--interval", str(self.interval),
                "--session-interval", str(self.session_interval), "--seed", str(index),
                "--ready-timeout", str(30 + max(self.interval, self.session_interval) + share / 50)]


def run_polling(env: dict[str, str], port: int, seed: dict[str, Any], pollers: int, seconds: int,
                interval: float = 2.0, session_interval: float = 5.0,
                on_ready: Callable[[], None] | None = None) -> dict[str, Any]:
    session_id = seed["session_id"]
    status, _, board = asyncio.run(get_json(HOST, port, f"/api/v1/sessions/{session_id}/leaderboard"))
    if status != 200:
        raise RuntimeError(f"leaderboard answered {status}")
    version_before = int(board["version"])
    group = PollerGroup(env, port, session_id, pollers, interval, session_interval)
    try:
        ready, failed, ready_seconds = group.wait_ready(timeout=60 + max(interval, session_interval) + pollers / 25)
        log(f"  {ready} pollers polling ({failed} without a first answer) after {ready_seconds:.1f} s; "
            f"submitting one score per second for {seconds} s")
        if on_ready is not None:
            on_ready()
        live_started = time.monotonic()
        writes = asyncio.run(submit_every_second(port, seed, seconds))
        # A poller asks again ``interval`` s after its last answer: two intervals reach everyone.
        time.sleep(2 * interval + 1.0)
        live_seconds = time.monotonic() - live_started
        reports = group.finish()
    finally:
        group.kill()
    return analyse_polling(version_before, writes, reports, pollers, ready, failed, ready_seconds) | {
        "interval_s": interval, "session_interval_s": session_interval,
        "expected_rps": round(ready / interval + (ready / session_interval if session_interval else 0.0), 1),
        "live_seconds": round(live_seconds, 2)}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _endpoint(reports: list[dict[str, Any]], name: str) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    rps = 0.0
    for report in reports:
        part = report[name]
        statuses.update(part["statuses"])
        errors.update(part["errors"])
        latencies.extend(part["latencies_ms"])
        if report["seconds"]:
            rps += sum(part["statuses"].values()) / report["seconds"]
    answered = sum(statuses.values())
    return {
        "requests": answered, "rps": round(rps, 1),
        "share_304": round(statuses.get("304", 0) / answered, 4) if answered else None,
        "p50_ms": _r(percentile(latencies, 50)), "p99_ms": _r(percentile(latencies, 99)),
        "max_ms": _r(max(latencies) if latencies else None),
        "statuses": dict(sorted(statuses.items())), "errors": dict(errors),
        "_latencies": latencies,
    }


def analyse_polling(version_before: int, writes: list[dict[str, Any]], reports: list[dict[str, Any]],
                    pollers: int, ready: int, failed: int, ready_seconds: float) -> dict[str, Any]:
    # Only this judge writes now: the k-th stored write produces scores_version = before + k.
    produced: dict[int, dict[str, Any]] = {}
    version = version_before
    for write in writes:
        if write["stored"]:
            version += 1
            produced[version] = write
    final = version
    order = sorted(produced)
    delays: list[float] = []
    reached_by: Counter[int] = Counter()
    exact = 0
    tracked = 0  # pollers that had at least one leaderboard answer
    saw_final = 0
    unexpected: set[int] = set()
    for report in reports:
        for seen in report["seen"]:
            if not seen:
                continue
            tracked += 1
            versions = {v for v, _ in seen}
            exact += sum(1 for v in order if v in versions)
            unexpected.update(v for v in versions if v > final)
            saw_final += seen[-1][0] >= final
            # seen is in increasing version: the first entry >= v is when this poller caught up with v.
            position = 0
            for v in order:
                while position < len(seen) and seen[position][0] < v:
                    position += 1
                if position == len(seen):
                    break
                reached_by[v] += 1
                delays.append((seen[position][1] - produced[v]["committed"]) * 1000)
    expected = len(order) * tracked
    board = _endpoint(reports, "board")
    session = _endpoint(reports, "session")
    latencies = board.pop("_latencies") + session.pop("_latencies")
    answered = board["requests"] + session["requests"]
    not_modified = board["statuses"].get("304", 0) + session["statuses"].get("304", 0)
    errors = Counter(board["errors"]) + Counter(session["errors"])
    put_latencies = [(w["answered"] - w["sent"]) * 1000 for w in writes if w["answered"] is not None]
    return {
        "pollers": pollers, "ready": ready, "failed": failed, "ready_seconds": round(ready_seconds, 1),
        "tracked": tracked,
        "measured_seconds": round(max((rep["seconds"] for rep in reports), default=0.0), 2),
        "writes": len(writes), "stored_writes": len(order),
        "write_errors": sum(1 for w in writes if not w["stored"]),
        "put_p50_ms": _r(percentile(put_latencies, 50)), "put_p99_ms": _r(percentile(put_latencies, 99)),
        # What the server answered while measuring, both polled URLs together and each alone.
        "requests": answered, "rps": round(board["rps"] + session["rps"], 1),
        "share_304": round(not_modified / answered, 4) if answered else None,
        "p50_ms": _r(percentile(latencies, 50)), "p99_ms": _r(percentile(latencies, 99)),
        "errors": sum(errors.values()), "errors_by_kind": dict(errors),
        "leaderboard": board, "session": session,
        "connections_opened_measuring": sum(rep["connections_opened_measuring"] for rep in reports),
        # A 2 s poller may skip versions: the figure that matters is when it caught up with each
        # write, i.e. first saw a version >= the write's, from the write's server timestamp.
        "final_version": final, "final_seen_by_all": tracked > 0 and saw_final == tracked,
        "pollers_missing_final": tracked - saw_final,
        "versions_reached_share": round(sum(reached_by.values()) / expected, 4) if expected else None,
        "versions_reaching_every_poller": sum(1 for v in order if reached_by[v] >= tracked),
        "exact_versions_seen_share": round(exact / expected, 4) if expected else None,
        "unexpected_versions": sorted(unexpected)[:10],
        "delay_p50_ms": _r(percentile(delays, 50)), "delay_p99_ms": _r(percentile(delays, 99)),
        "delay_max_ms": _r(max(delays) if delays else None),
    }
