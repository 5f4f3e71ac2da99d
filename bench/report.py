"""Readable tables and the target verdicts for the benchmark's results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common import fmt

READ_TARGET_PCT = 80.0
SCORES_TARGET_PER_S = 300.0
SCORES_TARGET_P99_MS = 100.0
FANOUT_TARGET_VIEWERS = 1000
FANOUT_TARGET_P99_MS = 200.0
MEMORY_TARGET_MB = 600.0
RANK_TARGET = (200, 50, 50.0)  # pitches, judges, ms


def machine_line(machine: dict[str, Any]) -> str:
    return (f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['mem_total_gb']} GB RAM, "
            f"Python {machine['python']}, Linux {machine['kernel']}, open files {machine['fd_limit']}, "
            f"wrk {'yes' if machine.get('wrk') else 'no (asyncio load generator)'}, "
            f"load average {' '.join(str(v) for v in machine.get('loadavg_start', []))}")


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    for row in cells[1:]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= 70 else text[:67] + "..."


def _verdict(met: bool | None) -> str:
    return "-" if met is None else ("met" if met else "MISSED")


def _ok(value: Any) -> bool:
    return isinstance(value, dict) and "error" not in value


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its measured value and whether it was met (None: not measured)."""
    out: list[dict[str, Any]] = []

    def add(backend: str, what: str, value: Any, target: str, met: bool | None) -> None:
        out.append({"backend": backend, "what": what, "value": value, "target": target, "met": met})

    for key, backend in results.get("backends", {}).items():
        if not _ok(backend):
            add(key, "backend run", backend.get("error") if isinstance(backend, dict) else None, "runs", False)
            continue
        reads = backend.get("reads", {})
        if _ok(reads):
            for name in ("leaderboard", "leaderboard_304"):
                pct = reads[name].get("pct_of_healthz")
                add(key, f"{name} rps as % of healthz", pct, f">= {READ_TARGET_PCT:.0f} %",
                    None if pct is None else pct >= READ_TARGET_PCT)
        else:
            add(key, "reads", reads.get("error"), "runs", False)
        scores = backend.get("scores", {})
        if _ok(scores):
            add(key, "stored scores per second", scores["stored_per_s"], f">= {SCORES_TARGET_PER_S:.0f}/s",
                scores["stored_per_s"] >= SCORES_TARGET_PER_S)
            add(key, "score PUT p99 latency (ms)", scores["p99_ms"], f"< {SCORES_TARGET_P99_MS:.0f} ms",
                scores["p99_ms"] is not None and scores["p99_ms"] < SCORES_TARGET_P99_MS)
            add(key, "no lost or duplicated score writes", scores["integrity"]["ok"], "true",
                scores["integrity"]["ok"])
            i = scores["integrity"]
            add(key, "score_sheets rows == judges x pitches", f"{i['sheets_rows']}/{i['sheets_expected']}",
                "all", i["complete"])
        else:
            add(key, "scores", scores.get("error"), "runs", False)
        for viewers, fan in backend.get("fanout", {}).items():
            if not _ok(fan):
                add(key, f"fan-out {viewers} viewers", fan.get("error"), "runs", False)
                continue
            graded = int(viewers) == FANOUT_TARGET_VIEWERS
            add(key, f"fan-out {viewers}: share of events delivered", fan["delivered_share"], "1.0",
                fan["delivered_share"] == 1.0 and fan["failed"] == 0)
            add(key, f"fan-out {viewers}: p99 commit->arrival (ms)", fan["delay_p99_ms"],
                f"< {FANOUT_TARGET_P99_MS:.0f} ms" if graded else "(none)",
                (fan["delay_p99_ms"] is not None and fan["delay_p99_ms"] < FANOUT_TARGET_P99_MS) if graded else None)
        for pollers, poll in backend.get("polling", {}).items():
            if not _ok(poll):
                add(key, f"polling {pollers} pollers", poll.get("error"), "runs", False)
                continue
            add(key, f"polling {pollers}: every poller saw the final version", poll["final_seen_by_all"], "true",
                poll["final_seen_by_all"] and poll["failed"] == 0)
            add(key, f"polling {pollers}: errors", poll["errors"], "0", poll["errors"] == 0)
            add(key, f"polling {pollers}: p99 commit->caught up (ms)", poll["delay_p99_ms"], "(none)", None)
        memory = backend.get("memory")
        if memory and memory.get("peak_rss_mb") is not None:
            add(key, "peak RSS, master + workers (MB)", memory["peak_rss_mb"], f"< {MEMORY_TARGET_MB:.0f} MB",
                memory["peak_rss_mb"] < MEMORY_TARGET_MB)
    for size in results.get("ranking") or []:
        if isinstance(size, dict) and (size["pitches"], size["judges"]) == RANK_TARGET[:2]:
            add("-", f"rank_pitches {size['pitches']}x{size['judges']} median (ms)", size["median_ms"],
                f"< {RANK_TARGET[2]:.0f} ms", size["median_ms"] < RANK_TARGET[2])
    return out


def tables(results: dict[str, Any]) -> str:
    backends: dict[str, Any] = {k: v for k, v in results.get("backends", {}).items() if _ok(v)}
    settings = results["settings"]
    parts: list[str] = []

    rows = []
    for key, backend in backends.items():
        reads = backend.get("reads", {})
        if not _ok(reads):
            rows.append([key, "error", reads.get("error", "")[:60], "", "", "", ""])
            continue
        for name in ("healthz", "leaderboard", "leaderboard_304"):
            r = reads[name]
            errors = ", ".join(f"{k}={v}" for k, v in r.get("errors", {}).items()) or "0"
            rows.append([key, name, fmt(r["rps"]), fmt(r["p50_ms"], 2), fmt(r["p99_ms"], 2),
                         fmt(r.get("pct_of_healthz")) + (" %" if r.get("pct_of_healthz") is not None else ""),
                         fmt(r.get("server_cpu_ms_per_request"), 3), fmt(r.get("pg_connections_opened")), errors])
    rounds = settings.get("http_rounds", 1)
    parts.append(table(f"1. Reads: {settings['connections']} keep-alive connections, "
                       f"{settings['http_seconds']:.0f} s each in {rounds} interleaved round(s) "
                       f"({settings['load_tool']}); % of healthz = median of the rounds' ratios; "
                       "p99 = worst round",
                       ["backend", "endpoint", "req/s", "p50 ms", "p99 ms", "% of healthz", "server CPU ms/req",
                        "new PG conns", "errors"], rows))

    rows = []
    for key, backend in backends.items():
        s = backend.get("scores", {})
        if not _ok(s):
            rows.append([key, "error: " + s.get("error", "")[:60]] + [""] * 6)
            continue
        i = s["integrity"]
        statuses = ", ".join(f"{k}:{v}" for k, v in s["statuses"].items())
        integrity = (f"{'OK' if i['ok'] else 'FAILED'}: sheets {i['sheets_rows']}/{i['sheets_expected']}, "
                     f"scores {i['score_rows']}/{i['score_rows_expected']}, seq mismatches {i['seq_mismatches']}, "
                     f"max seq db/acked {i['db_max_client_seq']}/{i['acknowledged_max_client_seq']}, "
                     f"version +{i['version_delta']} for {i['stored_acknowledged']} stored")
        rows.append([key, s["requests"], fmt(s["stored_per_s"]), fmt(s["p50_ms"], 1), fmt(s["p99_ms"], 1),
                     fmt(s["max_ms"], 1), fmt(s.get("server_cpu_ms_per_request"), 1),
                     fmt(s.get("pg_connections_opened")),
                     statuses + (f" errors {s['errors']}" if s["errors"] else ""), integrity])
    for key, backend in backends.items():
        activity = (backend.get("scores") or {}).get("pg_activity") or {}
        if activity:
            rows.append([key, "PostgreSQL sessions (mean)", f"lock wait {activity['lock_wait_mean']}",
                         f"active {activity['active_mean']}",
                         f"idle in transaction {activity['idle_in_transaction_mean']}",
                         "", "", "", "", ""])
    parts.append(table(f"2. Score submission: 15 judges PUT back to back for {settings['score_seconds']:.0f} s",
                       ["backend", "requests", "stored/s", "p50 ms", "p99 ms", "max ms", "server CPU ms/req",
                        "new PG conns", "statuses", "integrity"], rows))

    rows = []
    for key, backend in backends.items():
        for viewers, f in backend.get("fanout", {}).items():
            if not _ok(f):
                rows.append([key, viewers, "error: " + f.get("error", "")[:80]] + [""] * 10)
                continue
            failed = (f", {f['failed']} failed: " + ", ".join(f"{k} x{v}" for k, v in f["failures"].items())
                      if f["failed"] else "")
            rows.append([key, viewers, f"{f['connected']} ({f['connect_seconds']} s{failed})",
                         f"{f['stored_writes']}/{f['writes']}", fmt(100 * (f["delivered_share"] or 0), 2) + " %",
                         f"{f['events_reaching_every_viewer']}/{f['stored_writes']}",
                         fmt(f["delay_p50_ms"]), fmt(f["delay_p99_ms"]), fmt(f["delay_from_answer_p99_ms"]),
                         fmt(f["delay_from_sent_p99_ms"]),
                         fmt(f["put_p99_ms"]), fmt(f.get("server_cpu_ms_per_stream_connect"), 2),
                         fmt(f.get("server_cpu_us_per_delivered_event"), 1)])
    parts.append(table(f"3. Fan-out: one stored score per second for {settings['fanout_seconds']} s; "
                       "delay = event arrival - the write's server timestamp (updated_at, just before commit)",
                       ["backend", "viewers", "connected", "writes", "delivered", "to all", "p50 ms", "p99 ms",
                        "p99 from PUT answer", "p99 from PUT sent", "PUT p99 ms", "CPU ms/connect",
                        "CPU us/event"], rows))

    rows = []
    for key, backend in backends.items():
        for pollers, p in backend.get("polling", {}).items():
            if not _ok(p):
                rows.append([key, pollers, "error: " + p.get("error", "")[:80]] + [""] * 12)
                continue
            board, session = p["leaderboard"], p["session"]
            errors = ", ".join(f"{k} x{v}" for k, v in p["errors_by_kind"].items()) or "0"
            rows.append([key, pollers, f"{p['ready']} ({p['ready_seconds']} s)",
                         f"{p['stored_writes']}/{p['writes']}", f"{fmt(p['rps'])} / {fmt(p['expected_rps'])}",
                         fmt(100 * (p["share_304"] or 0), 1) + " %", f"{fmt(p['p50_ms'])} / {fmt(p['p99_ms'])}",
                         f"{fmt(board['p99_ms'])} / {fmt(session['p99_ms'])}",
                         f"{fmt(p['delay_p50_ms'])} / {fmt(p['delay_p99_ms'])}",
                         f"{'yes' if p['final_seen_by_all'] else 'NO'} ({p['pollers_missing_final']} missing)",
                         f"{p['versions_reaching_every_poller']}/{p['stored_writes']}",
                         fmt(100 * (p["exact_versions_seen_share"] or 0), 1) + " %", errors,
                         fmt(p.get("peak_rss_mb")),
                         f"{fmt(p.get('server_cpu_ms_per_request'), 3)} ({fmt(p.get('bench_cpu_pct_live'))} %)"])
    if rows:
        parts.append(table(
            f"3b. Polling fallback: screens poll the leaderboard every {settings.get('poll_interval', 2):g} s and "
            f"the session every {settings.get('session_poll_interval', 5):g} s with If-None-Match (random phase, "
            f"one keep-alive connection each), one stored score per second for {settings['fanout_seconds']} s; "
            "caught up = first answer with a version >= the write's, from its server timestamp",
            ["backend", "pollers", "ready", "writes", "req/s (expected)", "304s", "p50/p99 ms",
             "p99 board/session", "caught up p50/p99 ms", "final seen by all", "to all", "exact versions seen",
             "errors", "peak RSS MB", "server CPU ms/req (bench CPU)"], rows))

    rows = []
    for key, backend in backends.items():
        m = backend.get("memory") or {}
        phases = ", ".join(f"{p} {v}" for p, v in (m.get("by_phase_rss_mb") or {}).items())
        rows.append([key, fmt(m.get("peak_rss_mb")), fmt(m.get("peak_pss_mb")), m.get("processes", "-"), phases])
    parts.append(table("4. Memory: RSS summed over gunicorn master + workers, sampled every 0.5 s",
                       ["backend", "peak RSS MB", "peak PSS MB", "processes", "peak RSS MB by phase"], rows))

    rows = []
    for key, backend in backends.items():
        for phase, cpu in (backend.get("cpu_by_phase") or {}).items():
            if cpu:
                rows.append([key, phase, fmt(cpu["server_pct"]), fmt(cpu["bench_pct"]), fmt(cpu["postgres_pct"]),
                             fmt(cpu["redis_pct"]), fmt(cpu["other_pct"]), fmt(cpu["machine_pct"])])
    parts.append(table("CPU during each phase, % of one CPU (this machine has "
                       f"{results['machine']['nproc']}); bench = this run's load generators and viewers; "
                       "other = anything else running on the machine",
                       ["backend", "phase", "server %", "bench %", "PostgreSQL %", "Redis %", "other %", "machine %"],
                       rows))

    rows = []
    for size in results.get("ranking") or []:
        if isinstance(size, dict):
            rows.append([f"{size['pitches']} x {size['judges']}", size["criteria"], size["runs"],
                         fmt(size["median_ms"], 2), fmt(size["min_ms"], 2)])
    ranking = results.get("ranking")
    if isinstance(ranking, dict) and "error" in ranking:
        rows.append(["error", ranking["error"][:80], "", "", ""])
    for key, backend in backends.items():
        c = backend.get("compute")
        if _ok(c):
            rows.append([f"compute() 40 x 15, {key}", 6, c["runs"], fmt(c["median_ms"], 2),
                         f"{fmt(c['min_ms'], 2)} ({c['sql_statements']} SQL statements, "
                         f"ranking alone {fmt(c['rank_only_median_ms'], 2)} ms)"])
        elif isinstance(c, dict):
            rows.append([f"compute() {key}", "error", c.get("error", "")[:80], "", ""])
    parts.append(table("5. Leaderboard computation: rank_pitches (pure) and results.compute (DB load + ranking)",
                       ["pitches x judges", "criteria", "runs", "median ms", "min ms"], rows))

    for key, backend in backends.items():
        for phase, summary in (backend.get("profiles") or {}).items():
            rows = [[name, pct_in, pct_self] for (name, pct_in), (_, pct_self) in zip(
                summary["inclusive_pct"], summary["self_pct"] + [["", ""]] * 15, strict=False)]
            self_rows = [[name, pct] for name, pct in summary["self_pct"]]
            parts.append(table(f"py-spy {key} {phase}: {summary['samples']} busy samples, top inclusive",
                               ["function (inclusive)", "%", ""], [[r[0], r[1], ""] for r in rows]))
            parts.append(table(f"py-spy {key} {phase}: top self", ["function (self)", "%"], self_rows))

    for key, backend in backends.items():
        if backend.get("server_log"):
            parts.append(f"Server log of {key} (lines other than gunicorn's INFO notices, last 15):\n"
                         + "\n".join("  " + line[:200] for line in backend["server_log"]))

    rows = [[t["backend"], t["what"], _short(t["value"]), t["target"], _verdict(t["met"])] for t in results["targets"]]
    parts.append(table("Targets", ["backend", "measure", "value", "target", "verdict"], rows))
    missed = sum(1 for t in results["targets"] if t["met"] is False)
    load_end = " ".join(str(v) for v in results["machine"].get("loadavg_end", []))
    parts.append(f"{missed} target(s) missed; total run time {results['total_seconds']} s; "
                 f"load average at the end {load_end} (above {results['machine']['nproc']} means other work "
                 "shared the CPUs: compare the server-CPU-per-request columns, which depend less on it)")
    return "\n\n".join(parts)
