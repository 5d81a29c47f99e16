"""WeChat's shared state in Redis: the access token every replica uses (and the
lock under which one replica refreshes it), and the callbacks' nonces seen."""

from __future__ import annotations

from typing import cast

from redis.asyncio.lock import Lock

from bot.store.connection import RedisClient
from bot.store.keys import Keys


class WeChatStore:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def token(self) -> str | None:
        """The access token cached by any replica (None: none, or it expired)."""
        return cast(str | None, await self.redis.get(self.keys.wechat_token()))

    async def keep_token(self, token: str, seconds: int) -> None:
        await self.redis.set(self.keys.wechat_token(), token, ex=seconds)

    async def drop_token(self, token: str) -> None:
        """Forget `token` if it is still the cached one.

        GET then DEL is not atomic: at worst a token another replica just cached
        is dropped too, and the next send fetches it again (stable_token's normal
        mode returns the same token), which is harmless.
        """
        if await self.redis.get(self.keys.wechat_token()) == token:
            await self.redis.delete(self.keys.wechat_token())

    def refresh_lock(self, seconds: float) -> Lock:
        """redis-py's lock under which one replica at a time fetches a new token."""
        return self.redis.lock(
            self.keys.wechat_token_lock(), timeout=seconds, blocking=False, thread_local=False
        )

    async def claim_nonce(self, seen: str, seconds: int) -> bool:
        """Take a callback's timestamp and nonce: False when seen before (a replay)."""
        return bool(await self.redis.set(self.keys.wechat_nonce(seen), "1", nx=True, ex=seconds))

    async def release_nonce(self, seen: str) -> None:
        await self.redis.delete(self.keys.wechat_nonce(seen))
