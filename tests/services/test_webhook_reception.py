"""Taking a verified webhook (`WebhookReception`): a replayed callback is refused
and nothing stored; a callback that could not be stored gives its token back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.exceptions import ResponseError

from bot.channels.base import InboundMessage, WebhookRequest
from bot.domain.channels import Channel
from bot.services.webhook_reception import WebhookReception
from bot.store.webhook_intake import WebhookIntakeStore
from tests.conftest import StoreEnv

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
HOOK = WebhookRequest(
    method="POST", url="https://x/webhooks/wechat", headers={}, query={}, body=b""
)


class OneTimeTokens:
    """A connector whose callbacks carry a one-time token (as WeChat's nonce)."""

    def __init__(self) -> None:
        self.taken: set[int] = set()
        self.released = 0

    async def claim(self, request: WebhookRequest) -> bool:
        if id(request) in self.taken:
            return False
        self.taken.add(id(request))
        return True

    async def release(self, request: WebhookRequest) -> None:
        self.taken.discard(id(request))
        self.released += 1


def message(sender: str) -> InboundMessage:
    return InboundMessage(Channel.WECHAT, sender, f"m-{sender}", NOW, "hello")


async def test_a_replayed_callback_is_refused_and_nothing_is_stored_twice(env: StoreEnv) -> None:
    reception = WebhookReception(WebhookIntakeStore(env.redis, env.keys))
    tokens = OneTimeTokens()
    stream = env.keys.webhook_intake(env.keys.webhook_shard("wechat", "o1"))

    assert await reception.receive(tokens, HOOK, [message("o1")]) is True  # type: ignore[arg-type]
    assert await reception.receive(tokens, HOOK, [message("o1")]) is False  # type: ignore[arg-type]
    assert await env.redis.xlen(stream) == 1


async def test_a_callback_not_stored_gives_its_token_back(env: StoreEnv) -> None:
    reception = WebhookReception(WebhookIntakeStore(env.redis, env.keys))
    tokens = OneTimeTokens()
    stream = env.keys.webhook_intake(env.keys.webhook_shard("wechat", "o2"))
    await env.redis.set(stream, "not a stream")  # WRONGTYPE on the store's write

    with pytest.raises(ResponseError):
        await reception.receive(tokens, HOOK, [message("o2")])  # type: ignore[arg-type]
    assert tokens.released == 1

    await env.redis.delete(stream)  # repaired: the channel's retry is taken
    assert await reception.receive(tokens, HOOK, [message("o2")]) is True  # type: ignore[arg-type]
    assert await env.redis.xlen(stream) == 1
