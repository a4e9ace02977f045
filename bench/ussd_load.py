"""USSD load benchmark: N concurrent simulated sessions against a Willay server on real Redis.

Each session is a new phone that dials, picks Spanish, accepts consent, asks for a tip and pages
on: five hops. Prints throughput and latency; asserts nothing. Without --url it starts its own
`willay serve` on a free loopback port (Redis at --redis-url, key prefix willay_bench), stops it
at the end and deletes the willay_bench:* keys.

    .venv/bin/python bench/ussd_load.py --sessions 500 --concurrency 100
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import redis

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "willay_bench"
EVENTS_FILE = "/tmp/willay-bench-events.jsonl"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
HOPS = ["", "1", "1*1", "1*1*1", "1*1*1*98"]  # dial, Spanish, accept, tip for me, next page
STARTUP_SECONDS = 30.0


@dataclass
class Results:
    hop_ms: list[float] = field(default_factory=list)
    session_ms: list[float] = field(default_factory=list)
    hops: int = 0
    errors: int = 0
    ends: int = 0
    failed_sessions: int = 0
    first_errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(message)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def delete_keys(redis_url: str) -> int:
    """Delete the benchmark's keys; return how many there were."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(f"{PREFIX}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.delete(*batch)
                batch.clear()
        if batch:
            deleted += client.delete(*batch)
        return deleted
    finally:
        client.close()


@contextmanager
def own_server(redis_url: str) -> Iterator[str]:
    """Run `willay serve` on a free loopback port until the block ends; yield its base URL."""
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        sys.exit(f"Redis is not reachable at {redis_url}: {exc}")
    delete_keys(redis_url)
    port = free_port()
    willay = ROOT / ".venv" / "bin" / "willay"
    command = [str(willay)] if willay.exists() else [sys.executable, "-m", "willay"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WILLAY_")}
    env |= {
        "WILLAY_REDIS_URL": redis_url,
        "WILLAY_REDIS_PREFIX": PREFIX,
        "WILLAY_ENVIRONMENT": "testing",
        "WILLAY_PSEUDONYM_KEY": "bench-key",
        "WILLAY_EVENTS_FILE": EVENTS_FILE,
    }
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            if not wait_healthy(base, proc):
                log.seek(0)
                sys.exit(f"willay serve did not become healthy:\n{log.read()[-3000:]}")
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            delete_keys(redis_url)


def wait_healthy(base: str, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx2.Client(trust_env=False, timeout=2) as client:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if client.get(f"{base}/healthz").status_code == 200:
                    return True
            except httpx2.HTTPError:
                pass
            time.sleep(0.1)
    return False


async def one_session(
    client: httpx2.AsyncClient, url: str, phone: str, gate: asyncio.Semaphore, results: Results
) -> None:
    """Walk the five hops of one session as one phone; stop at its first error."""
    async with gate:
        session_id = f"ATUid_bench_{uuid.uuid4().hex}"
        started = time.perf_counter()
        for text in HOPS:
            form = {
                "sessionId": session_id,
                "serviceCode": "*123#",
                "phoneNumber": phone,
                "networkCode": "71610",
                "text": text,
            }
            t0 = time.perf_counter()
            try:
                response = await client.post(url, data=form)
            except httpx2.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                results.hop_ms.append((time.perf_counter() - t0) * 1000)
                body = response.text
                ok = response.status_code == 200 and body.startswith(("CON ", "END "))
                problem = "" if ok else f"HTTP {response.status_code}: {body[:80]!r}"
                results.ends += body.startswith("END ")
            results.hops += 1
            if problem:
                results.error(f"hop {text!r}: {problem}")
                results.failed_sessions += 1
                return
        results.session_ms.append((time.perf_counter() - started) * 1000)


async def run(base: str, sessions: int, concurrency: int, timeout: float) -> tuple[Results, float]:
    results = Results()
    numbers = random.sample(range(10**7), sessions)
    gate = asyncio.Semaphore(concurrency)
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    url = f"{base}/ussd/africastalking"
    async with httpx2.AsyncClient(trust_env=False, timeout=30, limits=limits) as client:
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(one_session(client, url, f"+5198{n:07d}", gate, results))
            for n in numbers
        ]
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*tasks)
        except TimeoutError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            print(f"stopped after the {timeout:g} s time limit; figures are partial")
        wall = time.perf_counter() - started
    return results, wall


def report(results: Results, wall: float, sessions: int) -> None:
    done = len(results.session_ms)
    h = results.hop_ms
    s = results.session_ms
    print(f"sessions           {sessions} ({done} complete, {results.failed_sessions} failed)")
    print(f"hops               {results.hops}")
    print(f"errors             {results.errors}")
    print(f"END replies        {results.ends} (every hop of this walk should be CON)")
    print(f"wall time          {wall:.2f} s")
    print(f"requests/s         {results.hops / wall:.1f}")
    print(f"sessions/s         {done / wall:.1f}")
    print(
        f"hop latency ms     p50 {percentile(h, 50):.1f}  p90 {percentile(h, 90):.1f}"
        f"  p99 {percentile(h, 99):.1f}"
    )
    print(f"session latency ms p50 {percentile(s, 50):.1f}  p99 {percentile(s, 99):.1f}")
    for message in results.first_errors:
        print(f"  error: {message}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (loopback only); default: start one")
    parser.add_argument("--sessions", type=int, default=200, help="sessions in all (200)")
    parser.add_argument("--concurrency", type=int, default=50, help="sessions at once (50)")
    parser.add_argument("--timeout", type=float, default=120, help="total seconds (120)")
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="Redis for the own server"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 100_000:
        parser.error("--sessions must be between 1 and 100000")
    if not 1 <= args.concurrency <= 1_000:
        parser.error("--concurrency must be between 1 and 1000")
    if not 0 < args.timeout <= 3_600:
        parser.error("--timeout must be between 0 and 3600 seconds")
    if args.url and urlsplit(args.url).hostname not in LOOPBACK:
        parser.error("--url must be a loopback address (127.0.0.1, localhost or ::1)")
    if urlsplit(args.redis_url).hostname not in LOOPBACK:
        parser.error("--redis-url must be a loopback address")

    def bench(base: str, where: str) -> None:
        print(
            f"Willay USSD load: {args.sessions} sessions x {len(HOPS)} hops, "
            f"concurrency {args.concurrency}, {where}"
        )
        results, wall = asyncio.run(run(base, args.sessions, args.concurrency, args.timeout))
        report(results, wall, args.sessions)

    if args.url:
        bench(args.url.rstrip("/"), f"server {args.url}")
    else:
        with own_server(args.redis_url) as base:
            bench(base, f"own server {base} on Redis {args.redis_url}")


if __name__ == "__main__":
    main()
