"""Shared helpers for the benchmark: paths, environments, ports, statistics, the machine."""

from __future__ import annotations

import os
import platform
import resource
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable

HOST = "127.0.0.1"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "pitchtank_bench"
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = "redis://127.0.0.1:6379/15"

# Variables that would leak the caller's configuration into the servers we start.
_SCRUBBED = ("PITCHTANK_CONFIG", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "BIND", "WEB_CONCURRENCY",
             "WORKER_CONNECTIONS", "ACCESS_LOG", "FLASK_APP", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
             "STRIPE_API_BASE", "DECK_STORAGE_DIR", "PUBLIC_URL", "LIVE_CHANNEL_PREFIX")


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the machine line, the tables and the JSON."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Backend:
    """One way of serving the app: its name, environment and worker count."""

    name: str
    env: dict[str, str]
    workers: int
    kind: str  # "postgresql" or "sqlite"
    sqlite_path: str | None = None


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    # config.py is a top-level module next to the package: make it importable from anywhere.
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def postgres_backend(secret_key: str, deck_dir: str) -> Backend:
    env = base_env() | {
        "PITCHTANK_CONFIG": "production",
        "SECRET_KEY": secret_key,
        "PUBLIC_URL": "https://pitchtank.bench",
        "LIVE_CHANNEL_PREFIX": "pitchtank-bench:live:",
        "DATABASE_URL": PG_URL,
        "REDIS_URL": REDIS_URL,
        "WEB_CONCURRENCY": "2",
        "ACCESS_LOG": "",
        "DECK_STORAGE_DIR": deck_dir,
    }
    return Backend("postgresql+redis, 2 workers", env, 2, "postgresql")


def sqlite_backend(secret_key: str, sqlite_path: str, deck_dir: str) -> Backend:
    env = base_env() | {
        "PITCHTANK_CONFIG": "development",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": f"sqlite:///{sqlite_path}",
        "WEB_CONCURRENCY": "1",
        "ACCESS_LOG": "",
        "DECK_STORAGE_DIR": deck_dir,
    }
    return Backend("sqlite embedded, 1 worker", env, 1, "sqlite", sqlite_path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (pct in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def machine_info() -> dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "mem_total_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"
