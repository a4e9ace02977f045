"""The app's own CPU per USSD hop, in process: no HTTP server, no load generator beside it.

`create_app` on real Redis (key prefix willay_inproc, deleted before and after), called as ASGI
with the provider's url-encoded hops by W concurrent walkers, each walking whole sessions of new
people (dial, language, consent, a tip) one hop after the answer to the previous one, as
`bench/ussd_session.lua` does over HTTP. A warm-up round first, then N hops timed; prints the
process's CPU per hop (`time.process_time`) and the wall time per hop. Run it from two trees in
turn to compare commits: the CPU per hop moves less with the machine's load than req/s does.

    PYTHONPATH=$PWD python bench/ussd_inprocess.py [--hops 6000] [--walkers 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serving import PSEUDONYM_KEY, delete_keys  # noqa: E402

PREFIX = "willay_inproc"
STEPS = ["", "1", "1*1", "1*1*1"]  # dial, language, consent, a tip


def hop_body(walker: int, hop: int) -> bytes:
    """The provider's form for `walker`'s `hop`-th hop: four hops a session, a new person each."""
    session, step = divmod(hop, len(STEPS))
    return (
        f"sessionId=inproc-{walker}-{session}&serviceCode=%2A123%23"
        f"&phoneNumber=%2B519{walker:02d}{session:06d}&networkCode=71610"
        f"&text={STEPS[step].replace('*', '%2A')}"
    ).encode()


async def post_hop(app: Any, state: dict[str, Any], body: bytes) -> None:
    """One hop through the whole ASGI app, as uvicorn would call it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ussd/africastalking",
        "raw_path": b"/ussd/africastalking",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"%d" % len(body)),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "state": state,
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        sys.exit(f"hop answered {sent[0]['status']}: {sent[-1].get('body')!r}")


async def walk(app: Any, state: dict[str, Any], *, walker: int, hops: int) -> None:
    for n in range(hops):
        await post_hop(app, state, hop_body(walker, n))


async def measure(*, hops: int, walkers: int, redis_url: str) -> None:
    from shell.app import create_app, freeze_startup  # after the environment is set
    from willay.config import Settings

    app = create_app(Settings())
    freeze_startup()  # as `willay serve` does
    async with app.router.lifespan_context(app) as lifespan_state:
        state = dict(lifespan_state)
        await asyncio.gather(*(walk(app, state, walker=w, hops=40) for w in range(walkers)))
        delete_keys(redis_url, PREFIX)
        per_walker = hops // walkers
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(
            *(walk(app, state, walker=w + walkers, hops=per_walker) for w in range(walkers))
        )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = per_walker * walkers
    print(
        f"{done} hops, {walkers} walkers: CPU {1000 * cpu / done:.3f} ms/hop, "
        f"wall {1000 * wall / done:.3f} ms/hop"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=6000, help="hops timed (6000)")
    parser.add_argument("--walkers", type=int, default=32, help="concurrent walkers (32)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    os.environ.update(
        {
            "WILLAY_REDIS_URL": args.redis_url,
            "WILLAY_REDIS_PREFIX": PREFIX,
            "WILLAY_ENVIRONMENT": "testing",
            "WILLAY_PSEUDONYM_KEY": PSEUDONYM_KEY,
            "WILLAY_MODEL_POLL_SECONDS": "0",
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WILLAY_EVENTS_FILE"] = str(Path(tmp) / "events.jsonl")
        delete_keys(args.redis_url, PREFIX)
        try:
            uvloop.run(measure(hops=args.hops, walkers=args.walkers, redis_url=args.redis_url))
        finally:
            delete_keys(args.redis_url, PREFIX)


if __name__ == "__main__":
    main()
