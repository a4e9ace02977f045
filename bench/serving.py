"""A `willay serve` of the benchmarks' own: a free loopback port, real Redis, its own key prefix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx2
import redis

ROOT = Path(__file__).resolve().parent.parent
PSEUDONYM_KEY = "bench-pseudonym-key"
STARTUP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def delete_keys(redis_url: str, prefix: str) -> int:
    """Delete the keys under `prefix:`; return how many there were."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.delete(*batch)
                batch.clear()
        if batch:
            deleted += client.delete(*batch)
        return deleted
    finally:
        client.close()


def wait_healthy(base: str, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx2.Client(trust_env=False, timeout=2) as client:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if client.get(f"{base}/readyz").status_code == 200:
                    return True
            except httpx2.HTTPError:
                pass
            time.sleep(0.1)
    return False


@contextmanager
def willay_serve(
    env_overrides: Mapping[str, str], *, workers: int = 1, pin: bool = False
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`willay serve` on a free loopback port in the testing environment, with these settings,
    until the block ends (its workers pinned to CPUs with `pin`); yields its base URL and
    process."""
    port = free_port()
    command = [sys.executable, "-m", "shell", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers), *(["--pin-workers"] if pin else [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WILLAY_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "WILLAY_ENVIRONMENT": "testing",
        "WILLAY_PSEUDONYM_KEY": PSEUDONYM_KEY,
        **env_overrides,
    }
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            if not wait_healthy(base, proc):
                log.seek(0)
                sys.exit(f"willay serve did not become ready:\n{log.read()[-3000:]}")
            yield base, proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], *, timeout: float = 20) -> None:
    """Ask `proc` to stop (SIGTERM: uvicorn stops its workers) and wait; kill it if it hangs."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def own_server(
    redis_url: str,
    *,
    prefix: str,
    events_file: Path,
    workers: int = 1,
    pin: bool = False,
    keep_keys: bool = False,
) -> Iterator[str]:
    """Run `willay serve` until the block ends; yield its base URL. Keys are deleted after."""
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        sys.exit(f"Redis is not reachable at {redis_url}: {exc}")
    delete_keys(redis_url, prefix)
    env = {
        "WILLAY_REDIS_URL": redis_url,
        "WILLAY_REDIS_PREFIX": prefix,
        "WILLAY_EVENTS_FILE": str(events_file),
        "WILLAY_MODEL_POLL_SECONDS": "0",
    }
    try:
        with willay_serve(env, workers=workers, pin=pin) as (base, _):
            yield base
    finally:
        if not keep_keys:
            delete_keys(redis_url, prefix)
