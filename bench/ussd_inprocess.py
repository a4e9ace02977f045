"""The app's own CPU per USSD hop, in process: no HTTP server, no load generator beside it.

`create_app` on real Redis (key prefix willay_inproc, deleted before and after); its hop lane
(`HopLane.form` and `answer`, what `willay serve`'s protocol calls from the parser) is given
the provider's url-encoded hops by W concurrent walkers, each walking whole sessions of new
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

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serving import PSEUDONYM_KEY, delete_keys  # noqa: E402
from ussd.lane import LANE_STATE, HopLane  # noqa: E402

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


async def walk(lane: HopLane, *, walker: int, hops: int) -> None:
    """`hops` hops of `walker`'s sessions, each through the lane as `willay serve` answers it."""
    for n in range(hops):
        form = lane.form(hop_body(walker, n))
        status, _, content = await lane.answer(form) if form else (400, [], b"")
        if status != 200:
            sys.exit(f"hop answered {status}: {content!r}")


async def measure(*, hops: int, walkers: int, redis_url: str) -> None:
    from shell.app import create_app, freeze_startup  # after the environment is set
    from willay.config import Settings

    app = create_app(Settings())
    freeze_startup()  # as `willay serve` does
    async with app.router.lifespan_context(app) as state:
        lane = state[LANE_STATE]
        await asyncio.gather(*(walk(lane, walker=w, hops=40) for w in range(walkers)))
        delete_keys(redis_url, PREFIX)
        per_walker = hops // walkers
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(
            *(walk(lane, walker=w + walkers, hops=per_walker) for w in range(walkers))
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
