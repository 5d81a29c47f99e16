"""Approved WhatsApp message templates, as synced from the Business Management API.

One hash per deployment (`fu:{templates}:whatsapp`), field `name:language`
(the same name in each of its approved languages), value the template with
its components, category and examples as JSON (`bot.domain.templates.Template`).
The sync (`GET /{waba-id}/message_templates?status=APPROVED`) replaces the
whole set at once, so a template Meta stopped approving disappears with the
next sync.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any, cast

from bot.domain.templates import HeaderFormat, Template, TemplateButton
from bot.store.connection import RedisClient
from bot.store.keys import Keys

__all__ = ["TemplateStore", "WhatsAppTemplate", "decode_template", "encode_template"]

#: The composer's and the relay's name for a synced template.
WhatsAppTemplate = Template


def encode_template(template: Template) -> str:
    """`template` as the JSON stored in its hash field."""
    return json.dumps(asdict(template), ensure_ascii=False, separators=(",", ":"))


def decode_template(value: str) -> Template:
    """`encode_template`'s JSON back."""
    data: dict[str, Any] = json.loads(value)
    header = data.get("header_format")
    unsupported = data.get("unsupported")
    return Template(
        name=data["name"],
        language=data["language"],
        category=data.get("category") or "",
        body=data.get("body") or "",
        status=data.get("status") or "APPROVED",
        named=bool(data.get("named") or data.get("names")),
        header_format=HeaderFormat(header) if header else None,
        header_text=data.get("header_text") or "",
        header_example=data.get("header_example") or "",
        body_examples=tuple(data.get("body_examples") or ()),
        footer=data.get("footer") or "",
        buttons=tuple(TemplateButton(**b) for b in data.get("buttons") or ()),
        unsupported=(unsupported[0], unsupported[1]) if unsupported else None,
    )


class TemplateStore:
    """The approved set in Redis.

    `keep_for` seconds (0: never) a replica keeps the set it read: the composer
    asks for it on every `/followup` to a WhatsApp customer, and the set
    changes once per sync at most, so other replicas see a new
    set at most that much later. This one sees its own `replace_all` at once.
    """

    def __init__(self, redis: RedisClient, keys: Keys, *, keep_for: float = 0.0) -> None:
        self.redis = redis
        self.keys = keys
        self.keep_for = keep_for
        self._kept: tuple[float, list[WhatsAppTemplate]] | None = None

    async def replace_all(self, templates: list[WhatsAppTemplate]) -> None:
        """The approved set is exactly `templates` (one MULTI on one key)."""
        self._kept = None
        key = self.keys.whatsapp_templates()
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        if templates:
            pipe.hset(
                key,
                mapping={t.field: encode_template(t) for t in templates},
            )
        await pipe.execute()

    async def all(self) -> list[WhatsAppTemplate]:
        kept = self._kept
        if kept is not None and time.monotonic() - kept[0] < self.keep_for:
            return list(kept[1])
        raw = cast(dict[str, str], await self.redis.hgetall(self.keys.whatsapp_templates()))
        found = sorted(
            (decode_template(v) for v in raw.values()), key=lambda t: (t.name, t.language)
        )
        if self.keep_for > 0:
            self._kept = (time.monotonic(), found)
        return list(found)

    async def get(self, name: str, language: str) -> WhatsAppTemplate | None:
        raw = cast(
            str | None, await self.redis.hget(self.keys.whatsapp_templates(), f"{name}:{language}")
        )
        return decode_template(raw) if raw else None

    async def claim_sync(self, name: str, period_ms: int) -> bool:
        """The right to sync now, for `name`, for `period_ms` (False: a replica
        synced, or is syncing, within the period)."""
        lock = self.keys.template_sync_lock()
        return bool(await self.redis.set(lock, name, nx=True, px=period_ms))

    async def retry_sync_in(self, ms: int) -> None:
        """A claimed sync failed: the next may be tried after `ms`, not a period."""
        await self.redis.pexpire(self.keys.template_sync_lock(), ms)

    async def request_sync(self) -> None:
        """Have the next look of any replica's sync fetch the list again (Meta said a
        template changed): the lock spacing the syncs goes."""
        await self.redis.delete(self.keys.template_sync_lock())
