"""Approved WhatsApp templates: replaced as a set, read back, rendered."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.templates import HeaderFormat, TemplateButton
from bot.store.templates import TemplateStore, WhatsAppTemplate
from tests.conftest import StoreEnv

ORDER = WhatsAppTemplate("order_update", "en", "UTILITY", "Hi {{1}}, order {{2}} has shipped.")
ORDER_AR = WhatsAppTemplate("order_update", "ar", "UTILITY", "مرحبا {{1}}، تم شحن الطلب {{2}}.")
FOLLOW = WhatsAppTemplate("follow_up", "en", "UTILITY", "We fixed the issue you reported.")


async def test_sync_replaces_the_approved_set(any_env: StoreEnv) -> None:
    store = TemplateStore(any_env.redis, any_env.keys)
    await store.replace_all([ORDER, ORDER_AR, FOLLOW])
    assert [t.field for t in await store.all()] == [
        "follow_up:en",
        "order_update:ar",
        "order_update:en",
    ]
    await store.replace_all([FOLLOW])  # order_update no longer approved
    assert await store.get("order_update", "en") is None
    assert await store.get("follow_up", "en") == FOLLOW


def test_parameters_are_counted_and_rendered() -> None:
    assert ORDER.parameter_count == 2 and FOLLOW.parameter_count == 0
    assert ORDER.render(("Sara", "#123")) == "Hi Sara, order #123 has shipped."
    assert ORDER_AR.render(("سارة", "#123")) == "مرحبا سارة، تم شحن الطلب #123."
    with pytest.raises(ValueError, match="takes 2 parameters"):
        ORDER.render(("Sara",))


async def test_a_store_that_keeps_the_set_reads_redis_again_after_keep_for(
    any_env: StoreEnv,
) -> None:
    kept = TemplateStore(any_env.redis, any_env.keys, keep_for=0.2)
    other = TemplateStore(any_env.redis, any_env.keys)  # another replica's sync
    await other.replace_all([ORDER])
    assert [t.name for t in await kept.all()] == ["order_update"]
    await other.replace_all([FOLLOW])
    assert [t.name for t in await kept.all()] == ["order_update"]  # kept
    await asyncio.sleep(0.25)
    assert [t.name for t in await kept.all()] == ["follow_up"]


async def test_a_store_sees_its_own_replacement_at_once(any_env: StoreEnv) -> None:
    kept = TemplateStore(any_env.redis, any_env.keys, keep_for=60)
    await kept.replace_all([ORDER])
    assert [t.name for t in await kept.all()] == ["order_update"]
    await kept.replace_all([FOLLOW])
    assert [t.name for t in await kept.all()] == ["follow_up"]


async def test_a_template_is_stored_with_its_components_and_read_back_whole(
    any_env: StoreEnv,
) -> None:
    rich = WhatsAppTemplate(
        "order_shipped",
        "ar",
        "UTILITY",
        "مرحبا {{name}}",
        named=True,
        header_format=HeaderFormat.DOCUMENT,
        header_example="https://x/e.pdf",
        body_examples=("سارة",),
        footer="Acme",
        buttons=(
            TemplateButton("URL", 0, "Track", url="https://a.example/{{1}}", example="x"),
            TemplateButton("COPY_CODE", 1, example="SAVE10"),
        ),
    )
    blocked = WhatsAppTemplate(
        "visit",
        "en",
        "MARKETING",
        "Visit",
        unsupported=("compose.template.unsupported.flow", "FLOW"),
    )
    store = TemplateStore(any_env.redis, any_env.keys)
    await store.replace_all([rich, blocked])
    assert await store.get("order_shipped", "ar") == rich
    assert await store.all() == [rich, blocked]
