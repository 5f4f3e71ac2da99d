"""Fan-out: N viewers on the leaderboard stream while one judge stores a score every second."""

from __future__ import annotations

import asyncio
import json
import math
import random
import select
import subprocess
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from common import BENCH_DIR, HOST, PYTHON, log, percentile
from load import Connection, HttpError, get_json, random_scores, score_request

VIEWERS_PER_PROCESS = 2500


class ViewerGroup:
    """The viewer processes of one fan-out run, started and stopped by PID."""

    per_process = VIEWERS_PER_PROCESS

    def __init__(self, env: dict[str, str], port: int, session_id: int, viewers: int) -> None:
        self.processes: list[subprocess.Popen[str]] = []
        count = max(1, math.ceil(viewers / self.per_process))
        shares = [viewers // count + (1 if i < viewers % count else 0) for i in range(count)]
        for index, share in enumerate(shares):
            self.processes.append(subprocess.Popen(
                self.command(port, session_id, share, index),
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))

    def command(self, port: int, session_id: int, share: int, index: int) -> list[str]:
        return [PYTHON, str(BENCH_DIR / "sse_viewers.py"), "--port", str(port), "--session", str(session_id),
                "--viewers", str(share)]

    def wait_ready(self, timeout: float) -> tuple[int, int, float]:
        """(connected, failed, seconds) once every process has reported READY."""
        deadline = time.monotonic() + timeout
        connected = failed = 0
        seconds = 0.0
        for process in self.processes:
            assert process.stdout is not None
            line = ""
            while not line.startswith("READY"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or process.poll() is not None:
                    raise RuntimeError("viewers did not get ready: " + (process.stderr.read()[-2000:]
                                                                        if process.poll() is not None
                                                                        and process.stderr else "timeout"))
                readable, _, _ = select.select([process.stdout], [], [], remaining)
                if readable:
                    line = process.stdout.readline()
            _, ok, bad, took = line.split()
            connected += int(ok)
            failed += int(bad)
            seconds = max(seconds, float(took))
        return connected, failed, seconds

    def finish(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        reports = []
        for process in self.processes:
            assert process.stdin is not None
            try:
                process.stdin.write("STOP\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError):
                continue
        for process in self.processes:
            try:
                out, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                out, err = process.communicate()
            line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("{")), None)
            if line is None:
                raise RuntimeError(f"viewer process {process.pid} gave no report: {err[-2000:]}")
            reports.append(json.loads(line))
        return reports

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(5)


async def submit_every_second(port: int, seed: dict[str, Any], seconds: int,
                              interval: float = 1.0) -> list[dict[str, Any]]:
    """One judge stores a new score every ``interval`` s. For each PUT: when it was sent and
    answered, and the server's ``updated_at`` (set just before the commit), all wall-clock."""
    judge = seed["judges"][0]
    rng = random.Random(1234)
    # Milliseconds since the epoch: above any client_seq sent before (the score phase counts
    # from 1, an earlier fan-out used an earlier time), so every write here is a new revision.
    seq_base = int(time.time() * 1000)
    connection = Connection(HOST, port)
    writes = []
    start = time.monotonic() + 0.2
    try:
        for k in range(seconds):
            await asyncio.sleep(max(0.0, start + k * interval - time.monotonic()))
            pitch_id = seed["pitch_ids"][k % len(seed["pitch_ids"])]
            raw = score_request(f"{HOST}:{port}", pitch_id, judge["token"], random_scores(rng, seed["criteria"]),
                                seq_base + k)
            sent = time.time()
            try:
                status, _, body = await connection.request(raw)
            except (OSError, HttpError, asyncio.IncompleteReadError) as error:
                writes.append({"sent": sent, "answered": None, "committed": None, "status": None,
                               "stored": False, "error": type(error).__name__})
                connection.close()
                continue
            answered = time.time()
            answer = json.loads(body) if status == 200 else {}
            stored = answer.get("stored") is True
            committed = datetime.fromisoformat(answer["updated_at"]).timestamp() if stored else None
            writes.append({"sent": sent, "answered": answered, "committed": committed, "status": status,
                           "stored": stored})
    finally:
        connection.close()
    return writes


def run_fanout(env: dict[str, str], port: int, seed: dict[str, Any], viewers: int, seconds: int,
               on_ready: Callable[[], None] | None = None) -> dict[str, Any]:
    session_id = seed["session_id"]
    status, _, board = asyncio.run(get_json(HOST, port, f"/api/v1/sessions/{session_id}/leaderboard"))
    if status != 200:
        raise RuntimeError(f"leaderboard answered {status}")
    version_before = int(board["version"])
    group = ViewerGroup(env, port, session_id, viewers)
    try:
        connected, failed, connect_seconds = group.wait_ready(timeout=60 + viewers / 25)
        log(f"  {connected} viewers connected ({failed} failed) in {connect_seconds:.1f} s; "
            f"submitting one score per second for {seconds} s")
        if on_ready is not None:
            on_ready()
        live_started = time.monotonic()
        writes = asyncio.run(submit_every_second(port, seed, seconds))
        time.sleep(2.0)  # let the last event reach everyone
        live_seconds = time.monotonic() - live_started
        reports = group.finish()
    finally:
        group.kill()
    return analyse(version_before, writes, reports, viewers, connected, failed, connect_seconds) | {
        "live_seconds": round(live_seconds, 2)}


def analyse(version_before: int, writes: list[dict[str, Any]], reports: list[dict[str, Any]],
            viewers: int, connected: int, failed: int, connect_seconds: float) -> dict[str, Any]:
    arrivals: dict[int, list[float]] = {}
    for report in reports:
        for version, times in report["arrivals"].items():
            arrivals.setdefault(int(version), []).extend(times)
    # Only this judge writes now: the k-th stored write produces scores_version = before + k.
    produced: dict[int, dict[str, Any]] = {}
    version = version_before
    for write in writes:
        if write["stored"]:
            version += 1
            produced[version] = write
    delays_answer: list[float] = []
    delays_sent: list[float] = []
    delays_commit: list[float] = []
    delivered = 0
    to_everyone = 0
    for version, write in produced.items():
        times = arrivals.get(version, [])
        delivered += len(times)
        to_everyone += len(times) >= connected
        delays_answer.extend((t - write["answered"]) * 1000 for t in times)
        delays_sent.extend((t - write["sent"]) * 1000 for t in times)
        delays_commit.extend((t - write["committed"]) * 1000 for t in times)
    unexpected = sorted(v for v in arrivals if v > version_before and v not in produced)
    expected = len(produced) * connected
    put_latencies = [(w["answered"] - w["sent"]) * 1000 for w in writes if w["answered"] is not None]

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "viewers": viewers, "connected": connected, "failed": failed,
        "connect_seconds": round(connect_seconds, 1),
        "closed_by_server": sum(rep["closed_by_server"] for rep in reports),
        "writes": len(writes), "stored_writes": len(produced),
        "write_errors": sum(1 for w in writes if not w["stored"]),
        "put_p50_ms": r(percentile(put_latencies, 50)), "put_p99_ms": r(percentile(put_latencies, 99)),
        "events_expected": expected, "events_delivered": delivered,
        "delivered_share": round(delivered / expected, 4) if expected else None,
        "events_reaching_every_viewer": to_everyone, "unexpected_versions": unexpected[:10],
        # Primary: from the server's own timestamp of the write (updated_at, set just before the
        # commit) to the arrival; the PUT's answer can come later than the event under load.
        "delay_p50_ms": r(percentile(delays_commit, 50)), "delay_p99_ms": r(percentile(delays_commit, 99)),
        "delay_max_ms": r(max(delays_commit) if delays_commit else None),
        "delay_from_answer_p50_ms": r(percentile(delays_answer, 50)),
        "delay_from_answer_p99_ms": r(percentile(delays_answer, 99)),
        "delay_from_sent_p50_ms": r(percentile(delays_sent, 50)),
        "delay_from_sent_p99_ms": r(percentile(delays_sent, 99)),
        "failures": _sum_counts(rep["failures"] for rep in reports),
    }


def _sum_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for count in counts:
        for key, value in count.items():
            total[key] = total.get(key, 0) + value
    return total
