"""A real HTTP server on 127.0.0.1 standing in for Slack's incoming webhooks. It answers 200,
429 with Retry-After, 500, 404, or hangs past the client's timeout; `stop()` makes the port
refuse connections and `start()` brings it back on the same port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    at: float
    body: dict[str, Any]
    answered: int | str


@dataclass
class FakeSlack:
    mode: str = "ok"            # ok | 429 | 500 | 404 | hang
    retry_after: int = 1
    hang_s: float = 3.0
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/SECRETTOKEN"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        mode = self.mode
        if mode == "hang":
            self.received.append(Received(time.monotonic(), body, "hang"))
            await asyncio.sleep(self.hang_s)
            return web.Response(text="ok")
        status = {"ok": 200, "429": 429, "500": 500, "404": 404}[mode]
        self.received.append(Received(time.monotonic(), body, status))
        headers = {"Retry-After": str(self.retry_after)} if status == 429 else {}
        text = {200: "ok", 429: "rate_limited", 500: "rollup_error",
                404: "channel_not_found"}[status]
        return web.Response(status=status, text=text, headers=headers)

    def start(self) -> None:
        if self.port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/services/{a}/{b}/{c}", self._handle)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            loop.run_until_complete(site.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = None
        self._thread = None

    def ids(self, answered: int | str | None = None) -> list[str]:
        """The alert id each received message carries, in arrival order."""
        out = []
        for r in self.received:
            if answered is not None and r.answered != answered:
                continue
            ctx = r.body["blocks"][-1]["elements"][-1]["text"]
            out.append(ctx.split("`")[1])
        return out

    def incidents(self, answered: int | str | None = 200) -> list[tuple[str, str]]:
        """(incident id, header title) of each received message naming an incident, in
        arrival order: an incident's updates are the messages that share its id."""
        out = []
        for r in self.received:
            if answered is not None and r.answered != answered:
                continue
            for element in r.body["blocks"][-1]["elements"]:
                if element["text"].startswith("incident `"):
                    out.append((element["text"].split("`")[1],
                                r.body["blocks"][0]["text"]["text"]))
        return out


@contextmanager
def running() -> Iterator[FakeSlack]:
    """A started FakeSlack, stopped on exit (the tests' `slack` fixtures)."""
    server = FakeSlack()
    server.start()
    try:
        yield server
    finally:
        server.stop()
