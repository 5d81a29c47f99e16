"""A writer killed at any moment leaves the indexes in step with the records."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from datetime import datetime
from pathlib import Path

import pytest

from bot.domain.contacts import TermKind
from bot.domain.models import ConversationStatus
from bot.domain.windows import free_text_closes_at
from bot.store.contacts import ContactDraft, contact_from_hash, open_member, window_member
from tests.conftest import StoreEnv

ROOT = Path(__file__).resolve().parents[2]


async def inconsistencies(env: StoreEnv) -> list[str]:
    """Every index entry points at a contact indexed under that term, and back;
    likewise the open-conversations index and the window-alert index.

    Test-only: SCANs this test's own key prefix to see everything there is.
    """
    problems: list[str] = []
    contacts = {}
    entries: set[tuple[str, str]] = set()  # (key, member)
    async for key in env.redis.scan_iter(match=f"{env.keys.prefix}:*", count=1000):
        kind = key.split(":")[2]
        if kind == "c":
            contacts[key] = await env.redis.hgetall(key)
        elif kind in ("ix", "rx", "open", "walert"):
            for member in await env.redis.zrange(key, 0, -1):
                entries.add((key, member))
    expected: set[tuple[str, str]] = set()
    for key, data in contacts.items():
        p = int(key.split("{p")[1].split("}")[0])
        local = key.rsplit(":", 1)[1]
        contact = contact_from_hash(f"{p}-{local}", data)
        for kind_value, term in contact.index_terms:
            kind = TermKind(kind_value)
            member = f"{term}\x00{local}"
            expected.add((env.keys.index_bucket(p, kind, term), member))
            if kind is TermKind.NAME:
                status = ConversationStatus(data["st"])
                expected.add((env.keys.recency_bucket(p, status, term), member))
        conv = contact.conversation
        if conv.status is ConversationStatus.OPEN and conv.assignee:
            expected.add((env.keys.open_assigned(p), open_member(conv.assignee, local)))
        for channel, at in conv.last_inbound_at.items():
            if free_text_closes_at(channel, at) is not None:
                expected.add((env.keys.window_alerts(p), window_member(local, channel, at)))
    problems += [f"stale entry {k} {m!r}" for k, m in sorted(entries - expected)]
    problems += [f"missing entry {k} {m!r}" for k, m in sorted(expected - entries)]
    return problems


@pytest.mark.parametrize("mode", ["rename", "lifecycle"])
async def test_killed_writer_leaves_nothing_under_old_values(
    env: StoreEnv, now: datetime, redis_url: str, mode: str
) -> None:
    created = await env.contacts.create(
        ContactDraft(first_name="Start", last_name="Here", phone="+971500000001"), now
    )
    rng = random.Random(7)
    for _ in range(8):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.store.crash_worker",
            redis_url, env.keys.prefix, str(env.keys.partitions), mode, created.contact_id,
            cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        assert await inconsistencies(env) == []
    if mode == "rename":
        # The writers really were interrupted mid-stream, many writes in.
        contact = await env.contacts.require(created.contact_id)
        assert contact.version > 50
        names = {t for k, t in contact.index_terms if k == TermKind.NAME.value}
        assert f"{contact.first_name} {contact.last_name}".lower() in names
    else:
        # Many contacts went through create … delete while being killed.
        created_ids = [
            await env.redis.get(env.keys.sequence(p)) for p in range(env.keys.partitions)
        ]
        assert sum(int(c or 0) for c in created_ids) > 20
