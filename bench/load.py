"""A small keep-alive HTTP/1.1 client on asyncio streams, and the load patterns built on it.

Used for what wrk cannot do simply (judges with their own tokens and increasing client_seq,
checking each answer) and as the fallback read load when wrk is not installed.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from common import percentile


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive connection; requests are sent one after another (no pipelining)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.reconnects = 0

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=2**20)

    async def request(self, raw: bytes) -> tuple[int, bytes, bytes]:
        """Send a complete request; return (status, header block, body)."""
        for attempt in range(2):
            if self._writer is None:
                await self._open()
                if attempt:
                    self.reconnects += 1
            assert self._reader is not None and self._writer is not None
            try:
                self._writer.write(raw)
                head = await self._reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.close()
                continue
            status = int(head[9:12])
            lower = head.lower()
            body = b""
            marker = lower.find(b"content-length:")
            if marker >= 0:
                end = lower.index(b"\r\n", marker)
                length = int(lower[marker + 15:end])
                if length:
                    body = await self._reader.readexactly(length)
            elif b"transfer-encoding: chunked" in lower:
                body = await self._read_chunked()
            if b"connection: close" in lower:
                self.close()
            return status, head, body
        raise HttpError("connection closed twice in a row")

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def build_request(method: str, path: str, host: str, headers: dict[str, str] | None = None,
                  body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: pitchtank-bench"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "seconds": round(self.seconds, 2), "rps": round(self.rps, 1),
            "p50_ms": _r(percentile(self.latencies_ms, 50)), "p99_ms": _r(percentile(self.latencies_ms, 99)),
            "max_ms": _r(max(self.latencies_ms) if self.latencies_ms else None),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def constant_load(host: str, port: int, raw: bytes, connections: int, seconds: float,
                        warmup: float = 1.0) -> LoadResult:
    """``connections`` clients sending ``raw`` back to back for ``seconds`` (after a warm-up)."""
    result = LoadResult()
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def client() -> None:
        connection = Connection(host, port)
        try:
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                try:
                    status, _, _ = await connection.request(raw)
                except (OSError, HttpError, asyncio.IncompleteReadError) as error:
                    result.errors[type(error).__name__] += 1
                    connection.close()
                    await asyncio.sleep(0.05)
                    continue
                done = time.perf_counter()
                if sent >= measure_from:
                    result.requests += 1
                    result.statuses[status] += 1
                    result.latencies_ms.append((done - sent) * 1000)
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    result.seconds = seconds
    return result


# --- judges scoring -------------------------------------------------------------------------


@dataclass
class ScoreLoadResult(LoadResult):
    stored: int = 0
    not_stored: int = 0
    max_seq_sent: int = 0
    # (judge_id, pitch_id) -> (client_seq, values) of the newest write the server said it stored
    last_stored: dict[tuple[int, int], tuple[int, dict[str, int]]] = field(default_factory=dict)
    uncertain: int = 0  # writes whose answer never arrived (could be stored or not)

    def summary(self) -> dict[str, Any]:
        return super().summary() | {
            "stored": self.stored, "not_stored": self.not_stored,
            "stored_per_s": round(self.stored / self.seconds, 1) if self.seconds else 0.0,
            "max_seq_sent": self.max_seq_sent, "uncertain": self.uncertain,
        }


def random_scores(rng: random.Random, criteria: list[dict[str, Any]]) -> dict[str, int]:
    return {c["key"]: rng.randint(int(c["min"]), int(c["max"])) for c in criteria}


def score_request(host: str, pitch_id: int, token: str, scores: dict[str, int], seq: int) -> bytes:
    body = json.dumps({"scores": scores, "client_seq": seq}, separators=(",", ":")).encode()
    return build_request("PUT", f"/api/v1/pitches/{pitch_id}/scores/me", host, {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Accept-Language": "en",
    }, body)


async def judges_scoring(host: str, port: int, seed: dict[str, Any], seconds: float,
                         first_seq: int = 1) -> ScoreLoadResult:
    """Every judge on its own keep-alive connection, PUTting scores back to back for ``seconds``,
    cycling over the pitches with an increasing client_seq. Every second of the run counts."""
    result = ScoreLoadResult()
    pitch_ids: list[int] = seed["pitch_ids"]
    criteria: list[dict[str, Any]] = seed["criteria"]
    host_header = f"{host}:{port}"
    start = time.perf_counter()
    stop_at = start + seconds

    async def judge(index: int, judge_id: int, token: str) -> None:
        rng = random.Random(judge_id)
        connection = Connection(host, port)
        seq = first_seq
        # Judges start on different pitches, as they would after a few minutes of a session.
        position = index % len(pitch_ids)
        try:
            while time.perf_counter() < stop_at:
                pitch_id = pitch_ids[position]
                scores = random_scores(rng, criteria)
                raw = score_request(host_header, pitch_id, token, scores, seq)
                result.max_seq_sent = max(result.max_seq_sent, seq)
                sent = time.perf_counter()
                try:
                    status, _, body = await connection.request(raw)
                except (OSError, HttpError, asyncio.IncompleteReadError) as error:
                    result.errors[type(error).__name__] += 1
                    result.uncertain += 1
                    connection.close()
                    seq += 1
                    continue
                result.latencies_ms.append((time.perf_counter() - sent) * 1000)
                result.requests += 1
                result.statuses[status] += 1
                if status == 200:
                    answer = json.loads(body)
                    if answer.get("stored") is True:
                        result.stored += 1
                        result.last_stored[(judge_id, pitch_id)] = (seq, scores)
                    else:
                        result.not_stored += 1
                seq += 1
                position = (position + 1) % len(pitch_ids)
        finally:
            connection.close()

    await asyncio.gather(*(judge(i, j["judge_id"], j["token"]) for i, j in enumerate(seed["judges"])))
    result.seconds = time.perf_counter() - start
    return result


async def get_json(host: str, port: int, path: str, headers: dict[str, str] | None = None
                   ) -> tuple[int, dict[str, str], Any]:
    """One GET; (status, lower-cased headers, parsed JSON or None)."""
    connection = Connection(host, port)
    try:
        status, head, body = await connection.request(build_request("GET", path, f"{host}:{port}", headers))
    finally:
        connection.close()
    parsed_headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            parsed_headers[name.strip().lower()] = value.strip()
    return status, parsed_headers, json.loads(body) if body else None
