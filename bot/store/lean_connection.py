"""A redis-py connection that skips work with nothing to do: timers for I/O that
cannot wait, and a second encoding pass hiredis does itself.

redis-py arms a timeout around every read and every write of a connection
with `socket_timeout` (ours has 30 s, so a dead server is noticed): a read
runs under `asyncio.timeout`, a timer armed, rescheduled and cancelled per
reply (about 5 µs each on this machine); a write runs under
`asyncio.wait_for`, which makes a task of it (a task, a timer and one more
turn of the event loop per command sent). Neither waits when there is
nothing to wait for:

* **Reads.** A pipeline's replies arrive together, so all but the first are
  already in the hiredis reader's buffer when they are read, and so is the
  reply of a command whose answer came in with the previous read; a
  `/followup` of `bench/ack.py` reads seven replies. A reply already complete
  in the buffer is returned at once, as redis-py's own `read_response` would
  return it (an error reply raised, a connection error raised after closing
  the connection, the health check's clock moved). Measured with
  `bench/ack.py`'s workload in one process (serve's web app, the fake Slack
  and the client, `cProfile`): `read_response` was 1.0 of 1.65 s in its
  timeout context over 14,667 replies (2,000 requests).
* **Writes.** A command is written to the transport, which sends what the
  socket takes at once; when nothing is left in the transport's buffer the
  write is over and there is nothing to time. Only when some of it waits
  in the buffer (a full socket: a slow or dead server) is the drain awaited
  under `socket_timeout`, failing as redis-py's write fails (measured in
  `send_packed_command`).
* **Packing.** With hiredis, redis-py encodes every argument itself (four
  type checks each) and then hands them to `hiredis.pack_command`, which
  encodes `str` as UTF-8 and `int` in decimal on its own. A command of only
  `str`, `bytes` and `int` arguments goes straight to hiredis (see
  `pack_command`).

Anything else (no complete reply yet, another parser, a read with its own
timeout, a connection not yet made or due a health check, a closing
transport, an argument of another type or another encoding) goes through
redis-py's own method unchanged, timeout and all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import hiredis
from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
from redis.asyncio.connection import AbstractConnection
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: The argument types hiredis packs exactly as redis-py's encoder would (UTF-8,
#: strict; an `int` in decimal; not `bool`, which redis-py refuses, nor `float`).
_PLAIN = frozenset({str, bytes, int})


class LeanConnection(AbstractConnection):
    """Mixed in before a redis-py connection class (see `lean`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        encoder = self.encoder
        #: Whether hiredis alone packs as redis-py would: decided once, as the
        #: packer and the encoding are the connection's for its life.
        self._hiredis_packs = (
            type(self._command_packer) is HiredisRespSerializer
            and encoder.encoding.lower() in ("utf-8", "utf8")
            and encoder.encoding_errors == "strict"
        )

    def pack_command(self, *args: Any) -> list[bytes]:
        """A command of plain arguments packed by hiredis alone.

        An EVALSHA of nine arguments: 7.0 µs through redis-py, 1.0 µs here
        (`timeit`); `/find-contact` packs four (one per partition) and the
        relay one per batch. The first argument is a command name redis-py
        would not split (`"CONFIG GET"` it sends as two); the output is
        redis-py's, byte for byte (`tests/store/test_lean_connection.py`).
        """
        first = args[0] if args else None
        if (
            self._hiredis_packs
            and type(first) is str
            and len(first.split()) == 1
            and all(map(_PLAIN.__contains__, map(type, args)))
        ):
            return [hiredis.pack_command(args)]
        return super().pack_command(*args)

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109  # redis-py's signature
        *,
        disconnect_on_error: bool = True,
        push_request: bool | None = False,
    ) -> Any:
        parser = self._parser
        if (
            timeout is None
            and not disable_decoding
            and not push_request
            and type(parser) is _AsyncHiredisParser
            and parser._connected
        ):
            reader: Any = parser._reader
            try:
                response = reader.gets()
            except BaseException:  # a protocol error: the connection is unusable
                await self.disconnect(nowait=True)
                raise
            if response is not NOT_ENOUGH_DATA:
                push = parser._hiredis_PushNotificationType
                if push is None or not isinstance(response, push):
                    return await self._buffered(response, disconnect_on_error)
                # A RESP3 push before the reply: handled as the parser handles it,
                # then the reply is read as redis-py reads it.
                await parser.handle_push_response(response)
        return await super().read_response(
            disable_decoding,
            timeout,
            disconnect_on_error=disconnect_on_error,
            push_request=push_request,
        )

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        """Write `command`; await only what the socket did not take at once.

        `/find-contact`'s search (one pipeline) in one process, 1,500 calls:
        about 10 µs of CPU less per round trip (47 against 57 µs, a 4-GET
        pipeline and a GET, 16 alternating rounds of 1,000) than through
        `asyncio.wait_for`.
        """
        writer = self._writer
        if (
            writer is None
            or self._reader is None
            or type(command) is not list  # what pack_command(s) make
            or writer.transport.is_closing()
            or (
                check_health
                and self.health_check_interval
                and asyncio.get_running_loop().time() > self.next_health_check
            )
        ):
            await super().send_packed_command(command, check_health)
            return
        try:
            writer.writelines(command)
            if writer.transport.get_write_buffer_size():
                # Part of it waits for a full socket: timed as redis-py times a write.
                await asyncio.wait_for(writer.drain(), self.socket_timeout)
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as error:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket: {error}") from error
        except BaseException:
            await self.disconnect(nowait=True)
            raise

    async def _buffered(self, response: Any, disconnect_on_error: bool) -> Any:
        """What redis-py's `read_response` does with a reply its parser returned."""
        failed = response if isinstance(response, RedisConnectionError) else None
        if (
            isinstance(response, list)
            and response
            and isinstance(response[0], RedisConnectionError)
        ):
            failed = response[0]
        if failed is not None:
            if disconnect_on_error:
                await self.disconnect(nowait=True)
            raise failed
        if self.health_check_interval:
            next_time = asyncio.get_running_loop().time() + self.health_check_interval
            self.next_health_check = next_time
        if isinstance(response, ResponseError):
            try:
                raise response from None
            finally:
                del response
        return response


_CLASSES: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def lean(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """`connection_class` with `LeanConnection` in front (one class per base)."""
    if issubclass(connection_class, LeanConnection):
        return connection_class
    made = _CLASSES.get(connection_class)
    if made is None:
        made = type(f"Lean{connection_class.__name__}", (LeanConnection, connection_class), {})
        _CLASSES[connection_class] = made
    return made
