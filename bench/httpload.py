"""Fixed-concurrency read load: wrk when installed (C, light on the shared CPUs), else asyncio."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from common import HOST, log
from load import build_request, constant_load

# wrk calls done() once at the end; latency is in microseconds.
WRK_SCRIPT = """
{headers}
done = function(summary, latency, requests)
  io.write("WRK_JSON ")
  io.write(string.format(
    '{{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeout_errors":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


USE_WRK = True  # run.py --no-wrk turns it off to compare with the asyncio generator
_fallback_noted = False


def wrk_available() -> bool:
    return USE_WRK and shutil.which("wrk") is not None


def _lua_headers(headers: dict[str, str]) -> str:
    # A JSON string of ASCII text is also a valid Lua string literal (an ETag holds quotes).
    return "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())


def run_wrk(url: str, headers: dict[str, str], connections: int, seconds: float, threads: int,
            workdir: Path, name: str) -> dict[str, Any]:
    script = workdir / f"wrk-{name}.lua"
    script.write_text(WRK_SCRIPT.format(headers=_lua_headers(headers)))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "5s", "-s", str(script), url]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stdout}\n{completed.stderr}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    duration = raw["duration_us"] / 1e6
    errors = {k: raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors",
                                  "timeout_errors") if raw[k]}
    return {
        "tool": "wrk", "requests": raw["requests"], "seconds": round(duration, 2),
        "rps": round(raw["requests"] / duration, 1) if duration else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 2), "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2), "max_ms": round(raw["max_us"] / 1000, 2),
        "errors": errors,
    }


def read_load(port: int, path: str, headers: dict[str, str], connections: int, seconds: float,
              workdir: Path, name: str, warmup: float = 2.0) -> dict[str, Any]:
    """Requests/s and latency of GET ``path`` at ``connections`` concurrent keep-alive clients."""
    if wrk_available():
        threads = 2 if connections >= 2 else 1
        if warmup > 0:
            run_wrk(f"http://{HOST}:{port}{path}", headers, connections, warmup, threads, workdir, name + "-warm")
        return run_wrk(f"http://{HOST}:{port}{path}", headers, connections, seconds, threads, workdir, name)
    global _fallback_noted
    if not _fallback_noted:
        log("  without wrk: the asyncio load generator (it competes harder for the CPUs)")
        _fallback_noted = True
    raw = build_request("GET", path, f"{HOST}:{port}", headers)
    result = asyncio.run(constant_load(HOST, port, raw, connections, seconds, warmup=warmup))
    summary = result.summary()
    bad = sum(v for k, v in result.statuses.items() if k >= 400)
    errors = dict(result.errors) | ({"status_errors": bad} if bad else {})
    return {"tool": "python-asyncio", **{k: summary[k] for k in ("requests", "seconds", "rps", "p50_ms",
                                                                  "p99_ms", "max_ms")},
            "statuses": summary["statuses"], "errors": errors}
