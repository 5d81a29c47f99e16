"""Approved WhatsApp templates synced from the Business Management API (SPEC config table)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.channels.whatsapp_templates import (
    TemplateFetchError,
    fetch_approved_templates,
)
from bot.config import Settings
from bot.domain.templates import UNSUPPORTED_LOCATION, HeaderFormat, needs, parse_template
from bot.services.template_sync import TemplateSync
from bot.store.templates import TemplateStore
from tests.channels.conftest import settings
from tests.conftest import StoreEnv
from tests.fakes.graph import FakeGraph

WABA = "102290129340398"


def template(name: str, body: str, *, status: str = "APPROVED", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "language": extra.pop("language", "en_US"),
        "status": status,
        "category": "UTILITY",
        "id": f"id-{name}",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Update"},
            {"type": "BODY", "text": body},
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
        ],
        **extra,
    }


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as fake:
        fake.templates[WABA] = [
            template("order_update", "Hi {{1}}, your order {{2}} has shipped."),
            template("pending_one", "Not yet", status="PENDING"),
            template("fix_shipped", "Good news {{1}}: the fix is live."),
            template("ar_update", "مرحبا {{1}}", language="ar"),
            template(
                "named_one",
                "Hello {{first_name}}, your {{item}} ships {{day}}. Thanks, {{first_name}}!",
                parameter_format="NAMED",
            ),
            template("rejected_one", "No", status="REJECTED"),
        ]
        yield fake


def settings_for(graph: FakeGraph, **overrides: Any) -> Settings:
    values = {
        "whatsapp_api_url": graph.url,
        "whatsapp_token": graph.whatsapp_token,
        "whatsapp_phone_number_id": graph.phone_number_id,
        "whatsapp_business_account_id": WABA,
    }
    return settings(values, **overrides)


def replica(
    env: StoreEnv, settings: Settings, http: aiohttp.ClientSession, name: str, **timing: float
) -> TemplateSync:
    """One replica's sync of the templates fetched with `settings`."""
    return TemplateSync(
        TemplateStore(env.redis, env.keys),
        lambda: fetch_approved_templates(settings, http),
        name=name,
        **timing,
    )


async def test_fetch_follows_every_page_and_keeps_every_approved_template(
    graph: FakeGraph, http: aiohttp.ClientSession
) -> None:
    fetched = await fetch_approved_templates(settings_for(graph), http)

    names = sorted((t.name, t.language) for t in fetched.templates)
    assert names == [
        ("ar_update", "ar"),
        ("fix_shipped", "en_US"),
        ("named_one", "en_US"),
        ("order_update", "en_US"),
    ]
    assert fetched.named == 1
    named = next(t for t in fetched.templates if t.name == "named_one")
    assert named.parameter_names == ("first_name", "item", "day")  # first use, once each
    assert named.parameter_count == 3
    assert named.placeholder(2) == "{{item}}"
    assert (
        named.render(("Sara", "order", "today"))
        == "Hello Sara, your order ships today. Thanks, Sara!"
    )
    order = next(t for t in fetched.templates if t.name == "order_update")
    assert order.parameter_count == 2
    assert order.render(("Sara", "A-17")) == "Hi Sara, your order A-17 has shipped."
    pages = [r for r in graph.requests if r.path.endswith("/message_templates")]
    assert len(pages) >= 2  # two per page: paging.next was followed
    assert pages[0].query["status"] == "APPROVED"


async def test_a_refused_fetch_raises_and_keeps_the_old_set(
    graph: FakeGraph, env: StoreEnv, http: aiohttp.ClientSession
) -> None:
    store = TemplateStore(env.redis, env.keys)
    sync = replica(env, settings_for(graph), http, "w1", every=0.2, retry_after=0.05)
    assert await sync.sync_once() == 4
    before = await store.all()

    bad = settings_for(graph, whatsapp_token="wrong-token")
    with pytest.raises(TemplateFetchError, match="HTTP 401"):
        await fetch_approved_templates(bad, http)

    failing = replica(env, bad, http, "w2", every=0.2, retry_after=0.05)
    await asyncio.sleep(0.25)
    assert await failing.sync_once() is None
    assert await store.all() == before


async def test_one_replica_syncs_per_period(
    graph: FakeGraph, env: StoreEnv, http: aiohttp.ClientSession
) -> None:
    calls = 0
    settings = settings_for(graph)

    async def fetch() -> Any:
        nonlocal calls
        calls += 1
        return await fetch_approved_templates(settings, http)

    replicas = [
        TemplateSync(TemplateStore(env.redis, env.keys), fetch, name=f"w{i}", every=30)
        for i in range(3)
    ]
    results = await asyncio.gather(*(r.sync_once() for r in replicas))

    assert calls == 1
    assert sorted(results, key=lambda r: r or 0) == [None, None, 4]


async def test_a_template_meta_stopped_approving_disappears(
    graph: FakeGraph, env: StoreEnv, http: aiohttp.ClientSession
) -> None:
    sync = replica(env, settings_for(graph), http, "w", every=0.05)
    await sync.sync_once()
    graph.templates[WABA][0]["status"] = "PAUSED"
    await asyncio.sleep(0.1)
    await sync.sync_once()
    names = {t.name for t in await TemplateStore(env.redis, env.keys).all()}
    assert "order_update" not in names and "fix_shipped" in names


async def test_the_worker_syncs_templates(graph: FakeGraph, env: StoreEnv) -> None:
    from bot.app import run_worker

    settings = settings_for(graph, partitions=env.keys.partitions, redis_key_prefix=env.keys.prefix)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, env.redis, stop))
    store = TemplateStore(env.redis, env.keys)
    try:
        for _ in range(100):
            if await store.all():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
    stored = {t.name: t for t in await store.all()}
    assert set(stored) == {"order_update", "fix_shipped", "ar_update", "named_one"}
    assert stored["named_one"].parameter_names == ("first_name", "item", "day")


RICH = [
    {
        "name": "order_shipped",
        "language": language,
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "id": f"id-{language}",
        "components": [
            {
                "type": "HEADER",
                "format": "IMAGE",
                "example": {"header_handle": ["https://x/e.png"]},
            },
            {"type": "BODY", "text": body, "example": {"body_text": [["Sara", "A-17"]]}},
            {"type": "FOOTER", "text": "Acme"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Track",
                        "url": "https://acme.example/t/{{1}}",
                        "example": ["https://acme.example/t/A-17"],
                    },
                    {"type": "QUICK_REPLY", "text": "Stop"},
                ],
            },
        ],
    }
    for language, body in (
        ("en", "Hi {{1}}, order {{2}} has shipped."),
        ("ar", "مرحبا {{1}}، تم شحن الطلب {{2}}."),
    )
] + [
    {
        "name": "store_visit",
        "language": "en",
        "status": "APPROVED",
        "category": "MARKETING",
        "components": [
            {"type": "HEADER", "format": "LOCATION"},
            {"type": "BODY", "text": "Visit us"},
        ],
    }
]


async def test_the_sync_keeps_components_category_and_every_approved_language(
    env: StoreEnv, http: aiohttp.ClientSession
) -> None:
    async with FakeGraph() as graph:
        graph.templates[WABA] = RICH
        assert await replica(env, settings_for(graph), http, "w1").sync_once() == 3
    store = TemplateStore(env.redis, env.keys)
    found = {t.field: t for t in await store.all()}
    assert sorted(found) == ["order_shipped:ar", "order_shipped:en", "store_visit:en"]
    english, arabic = found["order_shipped:en"], found["order_shipped:ar"]
    assert english == parse_template(RICH[0])  # read back whole
    assert arabic.body == "مرحبا {{1}}، تم شحن الطلب {{2}}."
    assert (english.category, english.header_format, english.footer) == (
        "UTILITY",
        HeaderFormat.IMAGE,
        "Acme",
    )
    assert [i.key for i in needs(arabic)] == ["header", "body.1", "body.2", "button.0", "button.1"]
    # Listed, but disabled with its reason.
    assert found["store_visit:en"].unsupported == (UNSUPPORTED_LOCATION, "LOCATION")
    assert await store.get("order_shipped", "ar") == arabic
