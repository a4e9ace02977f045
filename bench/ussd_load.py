"""USSD load, side by side: Willay and the ussd-menu-builder peer under the same wrk sessions.

Starts `willay serve --workers W` on real Redis (key prefix willay_bench) and, when `node` is
there, the Node peer from ../shared/peers/ussd-menu-builder (copied and `npm install`ed into a
cache folder, on Redis database 15, its keys under `peer:`). Then runs rounds of
`wrk -t32 -c32 --latency -s bench/ussd_session.lua` against each in turn (one thread per
connection, so each connection walks its own sessions, a hop after the previous answer, as a
gateway sends them), alternating which goes first, with every key of the previous round deleted
so each round plays new people. Prints each round,
the server CPU each request cost, Redis memory per live session and per profile, and last:

    willay N req/s p99 X ms, ussd-menu-builder M req/s p99 Y ms: ratio R

(medians over the rounds; R is the median of the per-round ratios). Asserts nothing.

    python bench/ussd_load.py --rounds 3 --seconds 8
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serving import ROOT, delete_keys, free_port, own_server  # noqa: E402

PREFIX = "willay_bench"
PEERS = ROOT.parent / "shared" / "peers"
PEER_CACHE = Path(tempfile.gettempdir()) / "willay-bench-peer"
PEER_DB = 15
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_KEYS = 200
SCRIPT = Path(__file__).resolve().parent / "ussd_session.lua"  # each connection its own sessions


@dataclass
class Round:
    requests_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float  # server CPU per request, all its processes


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> tuple[float, float, float, int, int]:
    """Requests/s, p50 and p99 (ms), errors (socket, non-2xx) and requests from wrk --latency."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(*re.search(r"\s50%\s+([\d.]+)(us|ms|s)", output).groups())
    p99 = _ms(*re.search(r"\s99%\s+([\d.]+)(us|ms|s)", output).groups())
    total = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return rate, p50, p99, errors + (int(non2xx.group(1)) if non2xx else 0), total


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children alive now (uvicorn's workers)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def run_wrk(url: str, *, pid: int, seconds: int, connections: int, script: Path = SCRIPT) -> Round:
    """One wrk run; one thread per connection unless the script is the shared one (`-t1`)."""
    threads = connections if script == SCRIPT else 1
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["-s", str(script)]
    cpu = tree_cpu_seconds(pid)
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    cpu = tree_cpu_seconds(pid) - cpu
    rate, p50, p99, errors, total = parse_wrk(done.stdout)
    return Round(rate, p50, p99, errors, cpu * 1000 / max(total, 1))


def server_pid(port: int) -> int:
    """The pid listening on the loopback port (the server's parent process)."""
    found = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True)
    pids = [int(p) for p in re.findall(r"pid=(\d+)", found.stdout)]
    return min(pids)


@contextmanager
def peer_server(redis_url: str) -> Iterator[tuple[str, int]]:
    """The Node peer on a free port, its sessions on Redis database 15; yields its URL and pid."""
    if not (PEER_CACHE / "node_modules").exists():
        shutil.copytree(PEERS / "ussd-menu-builder", PEER_CACHE, dirs_exist_ok=True)
        for path in PEER_CACHE.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund"],
            cwd=PEER_CACHE,
            check=True,
            capture_output=True,
        )
    port = free_port()
    parts = urlsplit(redis_url)
    env = os.environ | {"REDIS_URL": f"redis://{parts.netloc}/{PEER_DB}", "PORT": str(port)}
    proc = subprocess.Popen(
        ["node", "server.js"],
        cwd=PEER_CACHE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not subprocess.run(
            ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True
        ).stdout.strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("the peer did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        delete_keys(f"redis://{parts.netloc}/{PEER_DB}", "peer")


def memory_per_key(redis_url: str, pattern: str) -> tuple[float, int]:
    """Mean MEMORY USAGE in bytes over a sample of the keys matching `pattern`, and the sample."""
    client = redis.Redis.from_url(redis_url)
    try:
        sizes = []
        for key in client.scan_iter(pattern, count=1000):
            sizes.append(client.memory_usage(key, samples=0) or 0)
            if len(sizes) >= SAMPLE_KEYS:
                break
        return (statistics.mean(sizes) if sizes else float("nan")), len(sizes)
    finally:
        client.close()


def show(name: str, one: Round) -> None:
    print(
        f"  {name:18s} {one.requests_s:8.0f} req/s  p50 {one.p50_ms:6.1f} ms  "
        f"p99 {one.p99_ms:6.1f} ms  errors {one.errors}  server CPU {one.cpu_ms:.3f} ms/req"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (3)")
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per run (8)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--workers", type=int, default=2, help="willay serve --workers (2)")
    parser.add_argument(
        "--pin-workers",
        action="store_true",
        help="willay serve --pin-workers: each worker on a CPU of its own",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-peer", action="store_true", help="Willay alone")
    parser.add_argument(
        "--shared-script",
        action="store_true",
        help="the peers' ussd_session.lua with wrk -t1 (a session's hops on several connections "
        "at once), as measured before; default: bench/ussd_session.lua, one thread per connection",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 20 or not 1 <= args.seconds <= 120:
        parser.error("--rounds must be 1 to 20 and --seconds 1 to 120")
    if not 1 <= args.connections <= 1000 or not 1 <= args.workers <= 16:
        parser.error("--connections must be 1 to 1000 and --workers 1 to 16")
    if urlsplit(args.redis_url).hostname not in LOOPBACK:
        parser.error("--redis-url must be a loopback address")
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    with_peer = not args.no_peer and shutil.which("node") and shutil.which("npm")
    if not args.no_peer and not with_peer:
        print("node/npm not found: Willay alone (apt-get install -y nodejs npm for the peer)")
    results: dict[str, list[Round]] = {"willay": [], "ussd-menu-builder": []}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        base = stack.enter_context(
            own_server(
                args.redis_url,
                prefix=PREFIX,
                events_file=events,
                workers=args.workers,
                pin=args.pin_workers,
            )
        )
        servers = {"willay": (f"{base}/ussd/africastalking", server_pid(urlsplit(base).port))}
        if with_peer:
            peer, peer_pid = stack.enter_context(peer_server(args.redis_url))
            servers["ussd-menu-builder"] = (f"{peer}/ussd/africastalking", peer_pid)
        peer_db = f"redis://{urlsplit(args.redis_url).netloc}/{PEER_DB}"
        script = PEERS / "ussd_session.lua" if args.shared_script else SCRIPT
        threads = 1 if args.shared_script else args.connections
        print(
            f"wrk -t{threads} -c{args.connections} -d{args.seconds}s, whole sessions "
            f"({script.relative_to(ROOT.parent)}); willay --workers {args.workers}"
            f"{' --pin-workers' if args.pin_workers else ''} on {args.redis_url}"
        )
        for url, pid in servers.values():  # warm up: models, caches, connections
            run_wrk(url, pid=pid, seconds=2, connections=args.connections, script=script)
        for number in range(args.rounds):
            print(f"round {number + 1}")
            order = list(servers) if number % 2 == 0 else list(reversed(servers))
            for name in order:
                delete_keys(args.redis_url, PREFIX)
                delete_keys(peer_db, "peer")
                url, pid = servers[name]
                one = run_wrk(
                    url, pid=pid, seconds=args.seconds, connections=args.connections, script=script
                )
                results[name].append(one)
                show(name, one)
                if name == "willay":  # what this round left in Redis, before it is deleted
                    sessions = memory_per_key(args.redis_url, f"{PREFIX}:ussd:session:*")
                    profiles = memory_per_key(args.redis_url, f"{PREFIX}:sub:*")
    print(
        f"Redis MEMORY USAGE: {sessions[0]:.0f} bytes per live session ({sessions[1]} sampled), "
        f"{profiles[0]:.0f} bytes per profile ({profiles[1]} sampled)"
    )
    willay = results["willay"]
    rate, p99 = (statistics.median(getattr(r, f) for r in willay) for f in ("requests_s", "p99_ms"))
    line = f"willay {rate:.0f} req/s p99 {p99:.1f} ms"
    peer_rounds = results["ussd-menu-builder"]
    if peer_rounds:
        peer_rate = statistics.median(r.requests_s for r in peer_rounds)
        peer_p99 = statistics.median(r.p99_ms for r in peer_rounds)
        ratio = statistics.median(
            w.requests_s / p.requests_s for w, p in zip(willay, peer_rounds, strict=True)
        )
        line += (
            f", ussd-menu-builder {peer_rate:.0f} req/s p99 {peer_p99:.1f} ms: ratio {ratio:.2f}"
        )
    print(line)


if __name__ == "__main__":
    main()
