"""Approved WhatsApp message templates, as synced from the Business Management API.

One hash per deployment (`fu:{templates}:whatsapp`), field `name:language`,
value the template as JSON. The sync (`GET /{waba-id}/message_templates
?status=APPROVED`) replaces the whole set at once, so a template Meta
stopped approving disappears with the next sync.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import cast

from bot.store.connection import RedisClient
from bot.store.keys import Keys

_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")
#: A NAMED template's placeholders: `{{first_name}}` (lower case, digits, underscores).
_NAMED = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")


def named_parameters(body: str) -> tuple[str, ...]:
    """A NAMED template's parameter names, in the order the body first uses them."""
    return tuple(dict.fromkeys(_NAMED.findall(body)))


@dataclass(frozen=True)
class WhatsAppTemplate:
    """An approved template: its body text with `{{1}}`… placeholders."""

    name: str
    language: str
    category: str
    body: str
    #: A NAMED template's parameters (`{{first_name}}`), in order; empty for a
    #: POSITIONAL one (`{{1}}`). The send request names each named parameter.
    parameter_names: tuple[str, ...] = ()

    @property
    def parameter_count(self) -> int:
        """How many body parameters the template takes ({{1}} … {{n}}, or its names)."""
        if self.parameter_names:
            return len(self.parameter_names)
        return max((int(n) for n in _PLACEHOLDER.findall(self.body)), default=0)

    def placeholder(self, n: int) -> str:
        """Parameter `n` (1-based) as the body writes it: `{{2}}` or `{{first_name}}`."""
        return f"{{{{{self.parameter_label(n)}}}}}"

    def parameter_label(self, n: int) -> str:
        """Parameter `n` (1-based) as the agent knows it: its number or its name."""
        return self.parameter_names[n - 1] if self.parameter_names else str(n)

    def render(self, params: tuple[str, ...]) -> str:
        """The body with its parameters filled in (for previews and threads)."""
        if len(params) != self.parameter_count:
            raise ValueError(f"{self.name} takes {self.parameter_count} parameters")
        if self.parameter_names:
            values = dict(zip(self.parameter_names, params, strict=True))
            return _NAMED.sub(lambda m: values.get(m.group(1), m.group(0)), self.body)
        return _PLACEHOLDER.sub(lambda m: params[int(m.group(1)) - 1], self.body)

    @property
    def field(self) -> str:
        return f"{self.name}:{self.language}"


class TemplateStore:
    """The approved set in Redis.

    `keep_for` seconds (0: never) a replica keeps the set it read: the composer
    asks for it on every `/followup` to a WhatsApp customer, and the set
    changes once per sync (10 minutes) at most, so other replicas see a new
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
                mapping={
                    t.field: json.dumps(
                        {
                            "name": t.name,
                            "language": t.language,
                            "category": t.category,
                            "body": t.body,
                            "names": list(t.parameter_names),
                        },
                        ensure_ascii=False,
                    )
                    for t in templates
                },
            )
        await pipe.execute()

    async def all(self) -> list[WhatsAppTemplate]:
        kept = self._kept
        if kept is not None and time.monotonic() - kept[0] < self.keep_for:
            return list(kept[1])
        raw = cast(dict[str, str], await self.redis.hgetall(self.keys.whatsapp_templates()))
        found = sorted((_decode(v) for v in raw.values()), key=lambda t: (t.name, t.language))
        if self.keep_for > 0:
            self._kept = (time.monotonic(), found)
        return list(found)

    async def get(self, name: str, language: str) -> WhatsAppTemplate | None:
        raw = cast(
            str | None, await self.redis.hget(self.keys.whatsapp_templates(), f"{name}:{language}")
        )
        return _decode(raw) if raw else None


def _decode(value: str) -> WhatsAppTemplate:
    data = json.loads(value)
    return WhatsAppTemplate(
        data["name"],
        data["language"],
        data["category"],
        data["body"],
        tuple(data.get("names") or ()),
    )
