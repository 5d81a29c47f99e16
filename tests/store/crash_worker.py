"""Renames and re-numbers one contact in a loop until killed (see test_crash)."""

from __future__ import annotations

import asyncio
import sys

from bot.store.connection import create_redis
from bot.store.contacts import ContactStore
from bot.store.keys import Keys


async def main(url: str, prefix: str, partitions: int, contact_id: str) -> None:
    redis = create_redis(url)
    store = ContactStore(redis, Keys(partitions=partitions, prefix=prefix))
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        await store.update_details(
            contact_id,
            first_name=f"Name{i}",
            last_name=f"Last{i}",
            phone=f"+9715{i % 10}{i:07d}"[:13],
            email=f"user{i}@example.com",
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
