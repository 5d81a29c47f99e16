"""Writes one kind of change in a loop until killed (see test_crash)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from bot.domain.channels import Channel
from bot.store.connection import create_redis
from bot.store.contacts import ContactDraft, ContactStore
from bot.store.keys import Keys


async def main(url: str, prefix: str, partitions: int, mode: str, contact_id: str) -> None:
    redis = create_redis(url)
    store = ContactStore(redis, Keys(partitions=partitions, prefix=prefix))
    now = datetime(2026, 11, 24, tzinfo=UTC)
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        if mode == "rename":
            await store.update_details(
                contact_id,
                first_name=f"Name{i}",
                last_name=f"Last{i}",
                phone=f"+9715{i % 10}{i:07d}"[:13],
                email=f"user{i}@example.com",
            )
        else:  # create, reopen, receive (twice), close, delete: every step a script
            draft = ContactDraft(
                first_name=f"Temp{i}",
                last_name="Gone",
                phone=f"+97155{i:07d}"[:13],
                identities={Channel.TELEGRAM: f"tg{i}", Channel.WHATSAPP: f"97155{i:07d}"},
            )
            created = await store.create(draft, now)
            await store.reopen(created.contact_id, "U_AGENT", now)
            await store.record_inbound(created.contact_id, Channel.TELEGRAM, now, now)
            await store.record_inbound(created.contact_id, Channel.WHATSAPP, now, now)
            later = now + timedelta(minutes=i % 7)  # moves the window's start
            await store.record_inbound(created.contact_id, Channel.WHATSAPP, later, now)
            await store.close(created.contact_id, now, unassign=bool(i % 2))
            await store.delete(created.contact_id)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
