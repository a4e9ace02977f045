"""Chaos bench: the hostile-caller findings of issue 11 that need figures, reproduced.

Prints, asserting nothing:

1. upload: peak RSS of a `willay serve` process while an unauthenticated client streams a large
   form body at the USSD callback (900 fields of 1 MiB by default: the most the form parser
   takes), the answer and how long it took; then the same with the token;
2. redis: on the bench's own `redis-server` (a free port; killed and started again), how many
   callers got the apology *after* Redis answered again, round by round;
3. memory: RSS per 10k expired sessions in the embedded in-process store (the app in this
   process on `MemoryStore`, its clock moved past the session TTL between rounds).

    .venv/bin/python -m bench.chaos [--upload-mb 900] [--callers 10] [--sessions 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx2
import redis

from bench.serving import free_port, willay_serve

TOKEN = "chaos-bench-token-0123456789abcdef"
KEY = "chaos-bench-pseudonym-key-0123456789abcdef"
APOLOGY = "END Lo sentimos"


def proc_status(pid: int | str, field: str) -> int:
    """A `/proc/<pid>/status` figure in kB (VmRSS now, VmHWM peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@contextmanager
def willay_server(**env_overrides: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`willay serve` (bench.serving's) with these settings; yields its URL and process."""
    env = {
        "WILLAY_PSEUDONYM_KEY": KEY,
        "WILLAY_RECOMMENDER": "rules",
        "WILLAY_EVENTS_FILE": "/dev/null",
        **env_overrides,
    }
    with willay_serve(env) as served:
        yield served


# -- 1. memory exhaustion before authentication ------------------------------------------------


def form_chunks(total: int, *, fields: int = 900, chunk: int = 1 << 20) -> Iterator[bytes]:
    """`total` bytes of urlencoded form in `fields` equal fields (under the parser's 1000)."""
    size = total // fields  # each field: "f=" + value + "&"
    for _ in range(fields):
        yield b"f="
        for start in range(0, size - 3, chunk):
            yield b"a" * min(chunk, size - 3 - start)
        yield b"&"


def upload(megabytes: int, *, declared: bool, token: bool = False) -> None:
    """Stream a large form at the USSD callback; print the answer, its time and the peak RSS."""
    total = (megabytes << 20) // 900 * 900
    with willay_server(WILLAY_CALLBACK_TOKEN=TOKEN) as (base, proc):
        before = proc_status(proc.pid, "VmHWM")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if declared:
            headers["Content-Length"] = str(total)
        started = time.perf_counter()
        try:
            with httpx2.Client(trust_env=False, timeout=60) as client:
                response = client.post(
                    f"{base}/ussd/africastalking",
                    params={"token": TOKEN} if token else {},
                    content=form_chunks(total),
                    headers=headers,
                )
                answer = f"{response.status_code} {response.text[:80]}"
        except httpx2.HTTPError as exc:
            answer = f"connection ended: {type(exc).__name__}"
        elapsed = time.perf_counter() - started
        time.sleep(0.2)
        peak = proc_status(proc.pid, "VmHWM")
    kind = ("with the token, " if token else "") + (
        "with Content-Length" if declared else "chunked, no length"
    )
    print(
        f"  {megabytes} MB {kind}: {answer!r} after {elapsed:.2f} s; server peak RSS "
        f"{before / 1024:.0f} MB -> {peak / 1024:.0f} MB (+{(peak - before) / 1024:.0f} MB)"
    )


# -- 3. stale Redis connections -----------------------------------------------------------------


class OwnRedis:
    """A `redis-server` of the bench alone, on a free port, that can be killed and restarted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("redis-server is not installed")
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        sys.exit("own redis-server did not start")

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


async def hop(client: httpx2.AsyncClient, base: str, session: str, text: str) -> str:
    form = {
        "sessionId": session,
        "serviceCode": "*123#",
        "phoneNumber": f"+5198{abs(hash(session)) % 10**7:07d}",
        "networkCode": "71610",
        "text": text,
    }
    response = await client.post(f"{base}/ussd/africastalking", data=form)
    return response.text


async def redis_restarts(callers: int, restarts: int) -> None:
    """Fill the app's pool, restart Redis, and count apologies once Redis answers again."""
    own = OwnRedis()
    own.start()
    try:
        with willay_server(WILLAY_REDIS_URL=own.url) as (base, _):
            limits = httpx2.Limits(max_connections=callers, max_keepalive_connections=callers)
            async with httpx2.AsyncClient(trust_env=False, timeout=10, limits=limits) as client:
                for restart in range(1, restarts + 1):
                    sessions = [f"ATUid_chaos_{restart}_{i}" for i in range(callers)]
                    await asyncio.gather(*(hop(client, base, s, "") for s in sessions))
                    own.kill()
                    own.start()  # returns once Redis answers PING
                    rounds = []
                    for texts in ("1", "1*1", "1*1*1"):
                        bodies = await asyncio.gather(
                            *(hop(client, base, s, texts) for s in sessions)
                        )
                        rounds.append(sum(b.startswith(APOLOGY) for b in bodies))
                    figures = ", ".join(f"{n}/{callers}" for n in rounds)
                    print(f"  restart {restart}: apologies with Redis back, per round: {figures}")
    finally:
        own.kill()


# -- 4. unbounded embedded store ------------------------------------------------------------------


class ShiftedTime:
    """`time` with a monotonic clock the bench can move forward (for the store's expiry)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


@asynccontextmanager
async def in_process_app() -> AsyncIterator[tuple[httpx2.AsyncClient, object]]:
    """The app on `MemoryStore` in this process, its lifespan running; yields a client, store."""
    from shell.app import create_app
    from willay.config import Environment, Settings
    from willay.events import FileEventSink
    from willay.kv import MemoryStore

    settings = Settings(
        environment=Environment.testing,
        pseudonym_key=KEY,
        recommender="rules",
        events_file=Path("/dev/null"),
    )
    store = MemoryStore()
    app = create_app(settings, store=store, events=FileEventSink(Path("/dev/null")))
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope, receive, send):  # the server's job: lifespan state per request
            scope["state"] = dict(state)
            await app(scope, receive, send)

        transport = httpx2.ASGITransport(app=with_state)
        async with httpx2.AsyncClient(transport=transport, base_url="http://chaos") as client:
            yield client, store


async def embedded_memory(sessions: int, rounds: int) -> None:
    """RSS after each round of `sessions` new sessions, the clock moved past the TTL between."""
    import willay.kv

    shifted = ShiftedTime()
    willay.kv.time = shifted  # type: ignore[assignment]
    async with in_process_app() as (client, store):
        gc.collect()
        previous = proc_status("self", "VmRSS")
        growth = []
        for r in range(1, rounds + 1):
            for i in range(sessions):
                await hop(client, "http://chaos", f"ATUid_mem_{r}_{i}", "")
            shifted.offset += 3600  # every session of this round is now expired
            gc.collect()
            rss = proc_status("self", "VmRSS")
            keys = len(store._data)  # noqa: SLF001 - the bench looks inside on purpose
            print(
                f"  round {r}: {sessions} sessions, then past their TTL: RSS {rss / 1024:.1f} MB "
                f"(+{(rss - previous) / 1024:.1f} MB this round), {keys} keys held"
            )
            growth.append(rss - previous)
            previous = rss
        later = growth[1:] or growth  # the first round is the live sessions within their TTL
        per_10k = sum(later) / len(later) / 1024 * 10_000 / sessions
        print(f"  RSS per 10k expired sessions (rounds after the first): {per_10k:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upload-mb", type=int, default=900)
    parser.add_argument("--callers", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["upload", "redis", "memory"], action="append")
    args = parser.parse_args()
    only = set(args.only or ["upload", "redis", "memory"])
    if "upload" in only:
        print("1. unauthenticated upload to /ussd/africastalking (token required)")
        upload(args.upload_mb, declared=True)
        upload(args.upload_mb, declared=False)
        upload(args.upload_mb, declared=False, token=True)
    if "redis" in only:
        print(f"3. Redis killed and restarted under the app, {args.callers} callers")
        asyncio.run(redis_restarts(args.callers, args.restarts))
    if "memory" in only:
        print("4. embedded store (no WILLAY_REDIS_URL)")
        asyncio.run(embedded_memory(args.sessions, args.rounds))


if __name__ == "__main__":
    main()
