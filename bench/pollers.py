"""Poll the leaderboard (and the session) the way a screen does when live push is down.

    python bench/pollers.py --port P --session S --pollers N [--interval 2] [--session-interval 5]

Each poller is what pitchtank/static/js/screen.js does in polling mode: one keep-alive
connection (the browser's), ``GET /api/v1/sessions/{id}/leaderboard`` with the ETag of its
last 200 in ``If-None-Match``, the next one ``--interval`` s after the answer, and
``GET /api/v1/sessions/{id}`` the same way every ``--session-interval`` s (0: never). Each
starts at a random phase within its interval, with an unconditional first request, as a page
that has just fallen back does.

Protocol on stdio, as sse_viewers.py: prints ``READY <ready> <failed> <seconds>`` once every
poller has had its first answer to both requests (or the timeout passed); from then on requests
are counted. On a line on stdin (``STOP``) it stops and prints one JSON line: per endpoint the
requests, statuses, errors and latencies, and for each poller the times (``time.time()``, the
wall clock of the server's own ``updated_at``) at which it first saw each newer leaderboard
version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
from collections import Counter
from typing import Any

from common import raise_fd_limit
from load import Connection, HttpError, build_request

# The leaderboard's ETag is "lb-<session>-<version>-<status>" on its 200s and 304s alike.
BOARD_VERSION = re.compile(rb'\r\netag: (?:W/)?"lb-\d+-(\d+)-', re.IGNORECASE)
ETAG = re.compile(rb'\r\netag: ([^\r\n]+)', re.IGNORECASE)


class CountingConnection(Connection):
    """A keep-alive connection that counts the TCP connections it opens."""

    opened = 0

    async def _open(self) -> None:
        CountingConnection.opened += 1
        await super()._open()


class Endpoint:
    """Figures of one polled URL, counted only while measuring."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.latencies_ms: list[float] = []

    def report(self) -> dict[str, Any]:
        return {"statuses": {str(k): v for k, v in sorted(self.statuses.items())}, "errors": dict(self.errors),
                "latencies_ms": [round(v, 2) for v in self.latencies_ms]}


class Poller:
    def __init__(self, index: int, args: argparse.Namespace, state: dict[str, Any], rng: random.Random) -> None:
        self.index = index
        self.args = args
        self.state = state
        self.rng = rng
        self.connection = CountingConnection("127.0.0.1", args.port)
        self.board_etag: str | None = None
        self.session_etag: str | None = None
        self.version = -1
        self.seen: list[tuple[int, float]] = []  # (newer version, when first seen)
        # Resolved once both timers have had their first answer: from then on it is steady state.
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting = {"board", "session"} if args.session_interval else {"board"}

    async def _get(self, path: str, etag: str | None, endpoint: Endpoint) -> tuple[int, bytes] | None:
        headers = {"Accept": "application/json"}
        if etag:
            headers["If-None-Match"] = etag
        raw = build_request("GET", path, self.args.host_header, headers)
        sent = time.perf_counter()
        try:
            status, head, _ = await self.connection.request(raw)
        except (OSError, HttpError, asyncio.IncompleteReadError, ValueError) as error:
            self.connection.close()
            if self.state["measuring"]:
                endpoint.errors[type(error).__name__] += 1
            return None
        if self.state["measuring"]:
            endpoint.latencies_ms.append((time.perf_counter() - sent) * 1000)
            endpoint.statuses[status] += 1
            if status not in (200, 304):
                endpoint.errors[f"HTTP {status}"] += 1
        return status, head

    async def poll_board(self) -> None:
        answer = await self._get(self.args.board_path, self.board_etag, self.state["board"])
        now = time.time()
        if answer is None:
            return
        status, head = answer
        if status == 200:
            match = ETAG.search(head)
            self.board_etag = match.group(1).decode() if match else None
        if status in (200, 304):
            match = BOARD_VERSION.search(head)
            if match is not None:
                version = int(match.group(1))
                if version > self.version:
                    self.version = version
                    self.seen.append((version, now))
            self._answered("board")

    def _answered(self, what: str) -> None:
        self.waiting.discard(what)
        if not self.waiting and not self.first.done():
            self.first.set_result(None)

    async def poll_session(self) -> None:
        answer = await self._get(self.args.session_path, self.session_etag, self.state["session"])
        if answer is not None and answer[0] == 200:
            match = ETAG.search(answer[1])
            self.session_etag = match.group(1).decode() if match else None
        if answer is not None and answer[0] in (200, 304):
            self._answered("session")

    async def run(self) -> None:
        """Both timers of the page on its one connection: each fires ``interval`` s after its
        previous answer, starting at a random phase."""
        args = self.args
        now = time.monotonic()
        next_board = now + self.rng.uniform(0, args.interval)
        next_session = now + self.rng.uniform(0, args.session_interval) if args.session_interval else float("inf")
        try:
            while True:
                due = min(next_board, next_session)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if next_board <= next_session:
                    await self.poll_board()
                    next_board = time.monotonic() + args.interval
                else:
                    await self.poll_session()
                    next_session = time.monotonic() + args.session_interval
        finally:
            self.connection.close()


async def main_async(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    args.host_header = f"127.0.0.1:{args.port}"
    args.board_path = f"/api/v1/sessions/{args.session}/leaderboard"
    args.session_path = f"/api/v1/sessions/{args.session}"
    state: dict[str, Any] = {"measuring": False, "board": Endpoint(), "session": Endpoint()}
    rng = random.Random(args.seed)
    started = time.monotonic()
    pollers = [Poller(i, args, state, rng) for i in range(args.pollers)]
    tasks = [asyncio.create_task(p.run()) for p in pollers]
    firsts = [p.first for p in pollers]
    done, _ = await asyncio.wait(firsts, timeout=args.ready_timeout) if firsts else (set(), set())
    ready = len(done)
    connections_at_ready = CountingConnection.opened
    print(f"READY {ready} {args.pollers - ready} {time.monotonic() - started:.2f}", flush=True)

    state["measuring"] = True
    measure_from = time.monotonic()
    await loop.run_in_executor(None, sys.stdin.readline)
    state["measuring"] = False
    seconds = time.monotonic() - measure_from
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({
        "pollers": args.pollers, "ready": ready, "seconds": round(seconds, 3),
        "connections_opened": CountingConnection.opened, "connections_opened_measuring":
            CountingConnection.opened - connections_at_ready,
        "board": state["board"].report(), "session": state["session"].report(),
        "seen": [[[v, round(t, 4)] for v, t in p.seen] for p in pollers],
    }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--session", type=int, required=True)
    parser.add_argument("--pollers", type=int, required=True)
    parser.add_argument("--interval", type=float, default=2.0, help="leaderboard poll interval (screen.js: 2 s)")
    parser.add_argument("--session-interval", type=float, default=5.0,
                        help="session poll interval (screen.js: 5 s); 0 polls the leaderboard only")
    parser.add_argument("--seed", type=int, default=0, help="random phases")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    args = parser.parse_args()
    raise_fd_limit()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
