"""Hold N leaderboard streams open and record when each ``leaderboard`` event arrives.

    python bench/sse_viewers.py --port P --session S --viewers N

Protocol on stdio: prints ``READY <connected> <failed> <seconds>`` once every stream has delivered its
first leaderboard snapshot (or the connect timeout passed), then waits for a line on stdin
(``STOP``), closes everything and prints one JSON line: for each leaderboard version, the
arrival times at every viewer as ``time.time()``, the wall clock that the server's own
timestamps (``updated_at``) use too on this one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections import defaultdict

from common import raise_fd_limit

VERSION = re.compile(rb'"version":(\d+)')


class Viewer(asyncio.Protocol):
    """One EventSource-like client: de-chunks the HTTP body and splits it into SSE events."""

    def __init__(self, request: bytes, arrivals: dict[int, list[float]], first: asyncio.Future[None]) -> None:
        self.request = request
        self.arrivals = arrivals
        self.first = first
        self.transport: asyncio.Transport | None = None
        self.raw = bytearray()
        self.text = bytearray()
        self.in_headers = True
        self.chunk_left = 0  # bytes of chunk data still to read, then CRLF
        self.status = 0
        self.events = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.raw += data
        if self.in_headers:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self.raw[9:12])
            if self.status != 200:
                self._fail(f"HTTP {self.status}")
                return
            del self.raw[:end + 4]
            self.in_headers = False
        self._dechunk()
        self._events(now)

    def _dechunk(self) -> None:
        raw = self.raw
        while raw:
            if self.chunk_left == 0:
                line_end = raw.find(b"\r\n")
                if line_end < 0:
                    return
                size = int(bytes(raw[:line_end]).split(b";")[0] or b"0", 16)
                if size == 0:
                    del raw[:]
                    return
                del raw[:line_end + 2]
                self.chunk_left = size + 2  # the data and its trailing CRLF
            take = min(self.chunk_left, len(raw))
            # Strip the CRLF that ends the chunk (it may arrive split across reads).
            data_part = max(0, min(take, self.chunk_left - 2))
            self.text += raw[:data_part]
            del raw[:take]
            self.chunk_left -= take

    def _events(self, now: float) -> None:
        while True:
            end = self.text.find(b"\n\n")
            if end < 0:
                return
            block = bytes(self.text[:end])
            del self.text[:end + 2]
            if b"event: leaderboard" not in block:
                continue
            match = VERSION.search(block)
            if match is None:
                continue
            self.events += 1
            self.arrivals[int(match.group(1))].append(now)
            if not self.first.done():
                self.first.set_result(None)

    def _fail(self, reason: str) -> None:
        if not self.first.done():
            self.first.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.first.done():
            self.first.set_exception(ConnectionError(str(exc) if exc else "closed before the first event"))


async def main_async(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    request = (f"GET /api/v1/sessions/{args.session}/stream HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n"
               "Accept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: pitchtank-bench\r\n\r\n"
               ).encode()
    arrivals: dict[int, list[float]] = defaultdict(list)
    viewers: list[Viewer] = []
    failures: dict[str, int] = defaultdict(int)
    started = time.monotonic()
    pending: list[asyncio.Future[None]] = []
    for index in range(args.viewers):
        first: asyncio.Future[None] = loop.create_future()
        viewer = Viewer(request, arrivals, first)
        try:
            await loop.create_connection(lambda v=viewer: v, "127.0.0.1", args.port)
        except OSError as error:
            failures[type(error).__name__] += 1
            first.cancel()
            continue
        viewers.append(viewer)
        pending.append(first)
        if (index + 1) % args.batch == 0:
            # Let the server answer a batch before opening more (a burst would overflow its backlog).
            await asyncio.sleep(args.batch_pause)
    done, not_done = await asyncio.wait(pending, timeout=args.ready_timeout) if pending else (set(), set())
    for future in done:
        if future.exception() is not None:
            failures[str(future.exception())[:60]] += 1
    failures["no first event in time"] += len(not_done)
    connected = sum(1 for f in done if f.exception() is None)
    print(f"READY {connected} {args.viewers - connected} {time.monotonic() - started:.2f}", flush=True)

    await loop.run_in_executor(None, sys.stdin.readline)
    dropped = sum(1 for v in viewers if v.closed)
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.close()
    print(json.dumps({
        "connected": connected, "failed": args.viewers - connected, "closed_by_server": dropped,
        "failures": {k: v for k, v in failures.items() if v},
        "connect_seconds": round(time.monotonic() - started, 2),
        "arrivals": {str(version): times for version, times in arrivals.items()},
    }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--session", type=int, required=True)
    parser.add_argument("--viewers", type=int, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batch-pause", type=float, default=0.1)
    parser.add_argument("--ready-timeout", type=float, default=120.0)
    args = parser.parse_args()
    raise_fd_limit()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
