"""A reply Redis already sent is taken from the buffer without arming a timeout.

redis-py reads every reply under `asyncio.timeout(socket_timeout)`: a timer
armed, rescheduled and cancelled per reply, about 5 µs each on this machine.
A pipeline's replies arrive together, so all but the first are already in
the hiredis reader's buffer when they are read, and so is the reply of a
command whose answer came in with the previous read; a `/followup` of
`bench/ack.py` reads seven replies. Here a reply already complete in the
buffer is returned at once, as redis-py's own `read_response` would return
it (an error reply raised, a connection error raised after closing the
connection, the health check's clock moved); anything else (no complete
reply yet, another parser, a read with its own timeout) goes through
redis-py's `read_response` unchanged, timeout and all.

Measured with `bench/ack.py`'s workload in one process (serve's web app, the
fake Slack and the client, `cProfile`): `read_response` was 1.0 of 1.65 s in
its timeout context over 14,667 replies (2,000 requests).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError


class BufferedReads(AbstractConnection):
    """Mixed in before a redis-py connection class (see `buffered`)."""

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


def buffered(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """`connection_class` with `BufferedReads` in front (one class per base)."""
    if issubclass(connection_class, BufferedReads):
        return connection_class
    made = _CLASSES.get(connection_class)
    if made is None:
        made = type(f"Buffered{connection_class.__name__}", (BufferedReads, connection_class), {})
        _CLASSES[connection_class] = made
    return made
