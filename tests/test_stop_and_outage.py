"""`serve` and `worker` stop within 5 s of SIGTERM, and ride out a Redis outage."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store.server import RedisServer, free_port
from tests.test_cli import (
    cli_env,
    data_dir,
    embedded_redis_info,
    followup,
    http_get,
    start_serve,
    wait_until_gone,
)

__all__ = ["data_dir"]

#: SIGTERM to exit, at most (Docker and Kubernetes kill after 10 s).
STOP_SECONDS = 5.0


@pytest.fixture
def silent_api() -> Iterator[str]:
    """An HTTP server that accepts connections and never answers (a channel or
    Slack hanging): work blocked on it must not hold up a stop."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for conn in held:
        conn.close()


def hanging_channels(api: str) -> dict[str, str]:
    """WhatsApp (its template sync calls the Graph API at start) and Slack on `api`."""
    return {
        "WHATSAPP_TOKEN": "token",
        "WHATSAPP_PHONE_NUMBER_ID": "100",
        "WHATSAPP_BUSINESS_ACCOUNT_ID": "200",
        "WHATSAPP_API_URL": api,
        "META_APP_SECRET": "secret",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "signing",
        "SUPPORT_CHANNEL": "C123",
        "SLACK_API_URL": api,
    }


def wait_for_line(process: subprocess.Popen[str], text: str, seconds: float = 15) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + seconds
    seen = ""
    while text not in seen and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen += line
    assert text in seen, seen
    return seen


def stop_within(process: subprocess.Popen[str], seconds: float = STOP_SECONDS) -> float:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"still running {seconds} s after SIGTERM")
    assert process.returncode == 0
    return time.monotonic() - started


def test_a_worker_waiting_on_a_silent_channel_api_stops_within_5_s(
    data_dir: Path, silent_api: str
) -> None:
    with RedisServer(data_dir=data_dir / "redis", appendonly=False) as redis:
        env = cli_env(DATA_DIR=str(data_dir), REDIS_URL=redis.url, **hanging_channels(silent_api))
        worker = followup("worker", env=env, cwd=data_dir)
        wait_for_line(worker, "relay worker running")
        time.sleep(0.5)  # the template sync is now waiting on the silent API

        assert stop_within(worker) < STOP_SECONDS


def test_serve_waiting_on_a_silent_channel_api_stops_within_5_s(
    data_dir: Path, silent_api: str
) -> None:
    env = cli_env(DATA_DIR=str(data_dir), **hanging_channels(silent_api))
    serve, _, _ = start_serve(env, data_dir)
    time.sleep(0.5)

    assert stop_within(serve) < STOP_SECONDS
    assert not (data_dir / "redis.sock").exists()  # its embedded Redis stopped too


def test_a_worker_rides_out_redis_going_away_and_a_late_redis(data_dir: Path) -> None:
    redis = RedisServer(data_dir=data_dir / "redis", port=free_port(), appendonly=True)
    env = cli_env(DATA_DIR=str(data_dir), REDIS_URL=redis.url)
    worker = followup("worker", env=env, cwd=data_dir)  # before Redis is there
    try:
        wait_for_line(worker, "waiting for Redis")
        redis.start()
        wait_for_line(worker, "relay worker running")
        redis.stop()
        time.sleep(1.5)
        assert worker.poll() is None, "the worker exited when Redis went away"
        redis.start()
        time.sleep(1.0)
        assert worker.poll() is None

        assert stop_within(worker) < STOP_SECONDS
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
        redis.stop()


def test_serve_rides_out_redis_going_away_with_healthz_503_meanwhile(data_dir: Path) -> None:
    redis = RedisServer(data_dir=data_dir / "redis", port=free_port(), appendonly=True).start()
    serve, base, first = start_serve(cli_env(DATA_DIR=str(data_dir), REDIS_URL=redis.url), data_dir)
    health = f"{base}/healthz"
    try:
        assert first[0] == 200
        redis.stop()

        status, _, body = http_get(health)
        assert status == 503
        assert json.loads(body)["redis"] == "unreachable"
        time.sleep(1.0)
        assert serve.poll() is None, "serve exited when Redis went away"
        assert "redis_up 0.0" in http_get(f"{base}/metrics")[2]

        redis.start()
        deadline = time.monotonic() + 5
        while http_get(health)[0] != 200:
            assert time.monotonic() < deadline, "healthz did not recover"
            time.sleep(0.1)
        assert "redis_up 1.0" in http_get(f"{base}/metrics")[2]

        assert stop_within(serve) < STOP_SECONDS
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate()
        redis.stop()


def test_serve_starts_its_embedded_redis_again_when_it_dies(data_dir: Path) -> None:
    serve, base, first = start_serve(cli_env(DATA_DIR=str(data_dir)), data_dir)
    health = f"{base}/healthz"
    try:
        assert first[0] == 200
        first = int(str(embedded_redis_info(data_dir)["process_id"]))
        os.kill(first, signal.SIGKILL)

        deadline = time.monotonic() + 10
        while http_get(health)[0] != 200 or not wait_until_gone(first, 0):
            assert time.monotonic() < deadline, "the embedded Redis did not come back"
            time.sleep(0.1)
        assert int(str(embedded_redis_info(data_dir)["process_id"])) != first
        assert serve.poll() is None

        assert stop_within(serve) < STOP_SECONDS
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate()
