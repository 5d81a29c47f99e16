"""A writer killed at any moment leaves the index in step with the record."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from datetime import datetime
from pathlib import Path

from bot.domain.contacts import IndexTerm, TermKind
from bot.store.contacts import ContactDraft, decode_terms
from bot.store.keys import ContactId
from tests.conftest import StoreEnv

ROOT = Path(__file__).resolve().parents[2]


async def indexed_terms(env: StoreEnv, contact_id: str) -> set[IndexTerm]:
    """Every index entry that points at the contact (test-only SCAN of our prefix)."""
    cid = ContactId.parse(contact_id)
    pattern = f"{env.keys.tag(cid.partition)}:ix:*"
    found: set[IndexTerm] = set()
    async for key in env.redis.scan_iter(match=pattern, count=1000):
        kind = TermKind(key.split(":ix:")[1][0])
        for member in await env.redis.zrange(key, 0, -1):
            term, _, local = member.rpartition("\x00")
            if local == cid.local:
                found.add(IndexTerm(kind, term))
    return found


async def test_killed_writer_leaves_nothing_under_old_values(
    env: StoreEnv, now: datetime, redis_url: str
) -> None:
    created = await env.contacts.create(
        ContactDraft(first_name="Start", last_name="Here", phone="+971500000001"), now
    )
    cid = created.contact_id
    rng = random.Random(7)
    for _ in range(8):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store.crash_worker",
            redis_url,
            env.keys.prefix,
            str(env.keys.partitions),
            cid,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        contact = await env.contacts.require(cid)
        stored = set(
            decode_terms((await env.redis.hget(env.keys.contact(ContactId.parse(cid)), "tx")) or "")
        )
        # The index holds exactly the record's current terms: nothing old.
        assert await indexed_terms(env, cid) == stored
        names = {t.term for t in stored if t.kind is TermKind.NAME}
        assert f"{contact.first_name} {contact.last_name}".lower() in names
    # The writers really were interrupted mid-stream, many writes in.
    assert (await env.contacts.require(cid)).version > 50
