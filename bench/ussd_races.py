"""Retried and racing USSD hops: counts what a multi-worker server applied twice or out of order.

For each of N sessions it walks a new phone to a tip and fires the same "Useful" hop twice at
once (a gateway retry while the first is in flight), then walks another phone to the main menu and
fires "Delete my data" and its confirmation at once (two different hops racing). It then reads
the events file and Redis and prints how many sessions logged two feedback events, stored two
feedback entries, answered a retry with a different screen, or left stored state that does not
follow from the hops applied one after the other. Without --url it starts its own
`willay serve --workers W` on real Redis (key prefix willay_races).

    python bench/ussd_races.py --sessions 100 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx2
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serving import PSEUDONYM_KEY, own_server  # noqa: E402
from willay.profiles import pseudonym  # noqa: E402

PREFIX = "willay_races"
DELETED = "Tus datos fueron borrados"


async def hop(client: httpx2.AsyncClient, url: str, sid: str, phone: str, text: str) -> str:
    form = {"sessionId": sid, "serviceCode": "*123#", "phoneNumber": phone, "text": text}
    response = await client.post(url, data=form)
    return f"{response.status_code} {response.text}"


async def walk(client, url, sid, phone, texts) -> None:
    for text in texts:
        await hop(client, url, sid, phone, text)


async def duplicate(client, url, n: int) -> tuple[str, str, tuple[str, str]]:
    sid, phone = f"dup-{uuid.uuid4().hex[:12]}", f"+5190{n:07d}"
    await walk(client, url, sid, phone, ["", "1", "1*1", "1*1*1"])
    replies = await asyncio.gather(*(hop(client, url, sid, phone, "1*1*1*1") for _ in range(2)))
    return sid, phone, (replies[0], replies[1])


async def diverge(client, url, n: int) -> tuple[str, str, tuple[str, str]]:
    sid, phone = f"div-{uuid.uuid4().hex[:12]}", f"+5191{n:07d}"
    await walk(client, url, sid, phone, ["", "1", "1*1"])
    texts = ["1*1*5", "1*1*5*1"]
    replies = await asyncio.gather(*(hop(client, url, sid, phone, t) for t in texts))
    return sid, phone, (replies[0], replies[1])


def read_events(path: Path) -> dict[str, list[dict]]:
    by_session: dict[str, list[dict]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        by_session[event.get("session") or ""].append(event)
    return by_session


def chain_breaks(steps: list[dict]) -> int:
    """Menu steps whose starting screen is not where the previous step left the session."""
    steps = sorted(steps, key=lambda e: e["ts"])
    return sum(a["data"]["to"] != b["data"]["screen"] for a, b in itertools.pairwise(steps))


async def run(base: str, sessions: int) -> tuple[list, list]:
    url = f"{base}/ussd/africastalking"
    limits = httpx2.Limits(max_connections=64)
    async with httpx2.AsyncClient(trust_env=False, timeout=30, limits=limits) as client:
        dups = await asyncio.gather(*(duplicate(client, url, n) for n in range(sessions)))
        divs = await asyncio.gather(*(diverge(client, url, n) for n in range(sessions)))
    return dups, divs


def check(dups, divs, *, events_file: Path, redis_url: str, prefix: str) -> Counter:
    events = read_events(events_file)
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    found: Counter = Counter()
    for sid, phone, (a, b) in dups:
        kinds = Counter(e["kind"] for e in events[sid])
        found["two feedback events"] += kinds["feedback"] > 1
        raw = store.get(f"{prefix}:sub:{pseudonym(phone, PSEUDONYM_KEY)}")
        found["two stored feedbacks"] += raw is not None and len(json.loads(raw)["feedback"]) > 1
        found["retry answered differently"] += a != b
    for sid, phone, replies in divs:
        steps = [e for e in events[sid] if e["kind"] == "menu_step"]
        profile = store.get(f"{prefix}:sub:{pseudonym(phone, PSEUDONYM_KEY)}")
        deleted_shown = any(DELETED in r for r in replies)
        found["delete shown but profile kept"] += deleted_shown and profile is not None
        found["steps not chained"] += chain_breaks(steps) > 0
        raw = store.get(f"{prefix}:ussd:session:{sid}")
        stored = json.loads(raw)["screen"] if raw else None
        last = max(steps, key=lambda e: e["ts"])["data"]["to"] if steps else None
        found["stored screen is not the last step's"] += stored != last
    store.close()
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100, help="sessions per scenario (100)")
    parser.add_argument("--workers", type=int, default=2, help="server processes (2)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--url", help="a running server (with --prefix and --events-file)")
    parser.add_argument("--prefix", default=PREFIX)
    parser.add_argument("--events-file", type=Path)
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 10_000:
        parser.error("--sessions must be between 1 and 10000")
    if args.url:
        if args.events_file is None:
            parser.error("--url needs --events-file")
        dups, divs = asyncio.run(run(args.url.rstrip("/"), args.sessions))
        found = check(
            dups, divs, events_file=args.events_file, redis_url=args.redis_url, prefix=args.prefix
        )
    else:
        with tempfile.TemporaryDirectory() as tmp:
            events_file = Path(tmp) / "events.jsonl"
            with own_server(
                args.redis_url, prefix=args.prefix, events_file=events_file, workers=args.workers
            ) as base:
                dups, divs = asyncio.run(run(base, args.sessions))
                found = check(
                    dups,
                    divs,
                    events_file=events_file,
                    redis_url=args.redis_url,
                    prefix=args.prefix,
                )
    print(f"{args.sessions} sessions with a retried hop, {args.sessions} with two racing hops")
    for what in (
        "two feedback events",
        "two stored feedbacks",
        "retry answered differently",
        "delete shown but profile kept",
        "steps not chained",
        "stored screen is not the last step's",
    ):
        print(f"  {what:40s} {found[what]}")


if __name__ == "__main__":
    main()
