"""What every request body passes before anything parses it: a size cap, enforced
while the body streams in (chunked bodies too), and a cap on JSON nesting.

aiohttp's `client_max_size` only bounds `request.read()`, and that buffers up
to the cap before refusing: 60 concurrent 50 MB chunked bodies refused that
way took `serve` from 73 MB to 969 MB resident, never given back. Reading in
the chunks the socket delivers and stopping at the route's cap keeps a refused
body's cost at that cap; aiohttp then drops the rest of it unread-into-memory.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

#: Slack's own requests are a few KB; the largest, a view submission, carries
#: the whole view (up to 100 blocks) and its state: tens of KB at most.
SLACK_MAX_BODY_BYTES = 256 * 1024
#: A channel's webhook (JSON, form or XML): a batch of messages and receipts.
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
#: An inbound e-mail is raw MIME, attachments included (base64: 4/3 of their size).
EMAIL_MAX_BODY_BYTES = 10 * 1024 * 1024
#: No webhook or Slack payload nests deeper than a dozen levels; 64 leaves room.
MAX_JSON_DEPTH = 64

_BRACKETS = re.compile(rb"[\[\]{}]")
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')


#: A body must arrive at this rate at least, and within `BODY_SECONDS_MIN` in any
#: case: a sender that trickles its body would otherwise hold the request (and a
#: connection) for as long as it likes. Slack waits 3 s for an answer, and the
#: channels' servers send from data centres: 10 s for a Slack request or a webhook,
#: 51 s for a 10 MB e-mail.
BODY_BYTES_PER_SECOND = 200 * 1024
BODY_SECONDS_MIN = 10.0


def body_seconds(limit: int) -> float:
    """How long a body of at most `limit` bytes may take to arrive."""
    return max(BODY_SECONDS_MIN, limit / BODY_BYTES_PER_SECOND)


def too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    """The 413 for a body over `limit`; the connection is not kept alive."""
    error = web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=limit + 1)
    error.force_close()
    return error


def too_slow() -> web.HTTPRequestTimeout:
    """The 408 for a body that did not arrive in time; the connection is closed."""
    error = web.HTTPRequestTimeout(text="The request body did not arrive in time.")
    error.force_close()
    return error


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request's body, or HTTPRequestEntityTooLarge as soon as it passes `limit`
    bytes, or HTTPRequestTimeout when it has not all arrived `body_seconds(limit)`
    after its headers.

    A declared Content-Length over the limit is refused before a byte is read.
    """
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    if request.content.is_eof():
        # The whole body came with the headers (nearly every Slack request and
        # webhook): nothing to wait for, so no timer.
        return await _read_all(request, limit)
    try:
        async with asyncio.timeout(body_seconds(limit)):
            return await _read_all(request, limit)
    except TimeoutError:
        raise too_slow() from None


async def _read_all(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except BaseException:
        # The traceback keeps this frame alive until the garbage collector breaks
        # its cycle (late, by design: see runtime.tune_gc): it must not keep the
        # chunks with it, refused for their size or their pace.
        chunks.clear()
        chunk = b""  # nor the last one
        raise
    return b"".join(chunks)


def json_depth_ok(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether `raw`'s arrays and objects nest at most `max_depth` deep.

    A cheap linear scan run before `json.loads`/orjson (Python's parser recurses
    and fails with RecursionError past about a thousand levels). Brackets inside
    strings are skipped; a body that is not JSON at all passes, for the parser to
    refuse.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return True  # the usual case: no scan needed
    if b'"' in data:
        # Escapes first (an escaped quote ends no string), then whole strings.
        data = _STRING.sub(b'""', _ESCAPE.sub(b"", data))
    depth = 0
    for bracket in _BRACKETS.findall(data):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return False
        else:
            depth -= 1
    return True
