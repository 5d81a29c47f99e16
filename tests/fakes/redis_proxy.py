"""A TCP proxy in front of a real Redis that can lose a script call's answer.

`mode = "pass"` forwards both ways. `"lose_answer"`: a request carrying an
`EVALSHA` reaches Redis (which runs it), then the connection drops before
the answer comes back, as when Redis or the network goes away at that very
moment; `"lose_one_answer"` does that once, then passes. `"refuse"`: a
request carrying an `EVALSHA` is dropped with its connection before it
reaches Redis (the script never runs). Other commands (the connection's
handshake, SCRIPT LOAD) always go through, and so do other scripts than
`only` (a SHA) when it is set.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

Mode = Literal["pass", "lose_answer", "lose_one_answer", "refuse"]


class RedisProxy:
    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.mode: Mode = "pass"
        self.only: str | None = None  # the SHA of the one script concerned
        self.scripts_run = 0  # EVALSHA requests that reached Redis
        self.answers_lost = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> RedisProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        lose = asyncio.Event()  # the answer now on its way must not arrive

        async def requests() -> None:
            while data := await reader.read(65536):
                script = b"EVALSHA" in data.upper() and (
                    self.only is None or self.only.encode() in data
                )
                if script and self.mode == "refuse":
                    return
                if script and self.mode in ("lose_answer", "lose_one_answer"):
                    lose.set()
                    if self.mode == "lose_one_answer":
                        self.mode = "pass"
                up_writer.write(data)
                await up_writer.drain()
                self.scripts_run += script

        async def answers() -> None:
            while data := await up_reader.read(65536):
                if lose.is_set():
                    self.answers_lost += 1
                    return
                writer.write(data)
                await writer.drain()

        try:
            pumps = [asyncio.create_task(requests()), asyncio.create_task(answers())]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()
            self._tasks.discard(task)
