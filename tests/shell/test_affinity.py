"""`willay serve --workers N --pin-workers`: each worker on a CPU of its own, really pinned."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shell.affinity import pin_worker
from shell.cli import app
from tests.fixtures.services import ROOT, serving_workers

CPUS = sorted(os.sched_getaffinity(0))
WAIT = 60
# a worker of a server whose CPU locks are in argv[1]: says the CPU it claimed, then waits
WORKER = (
    "import sys; from pathlib import Path; from shell.affinity import pin_worker; "
    "print(pin_worker(Path(sys.argv[1])), flush=True); sys.stdin.read()"
)


def allowed_cpus(pid: int) -> str:
    """The CPUs the kernel lets `pid` run on, as /proc lists them ("0", "0-1")."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(
        line.split()[1] for line in status.splitlines() if line.startswith("Cpus_allowed_list")
    )


class Worker:
    def __init__(self, folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(folder)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.cpu = self.proc.stdout.readline().strip()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.communicate()  # waits, and closes its pipes


def test_each_worker_claims_a_free_cpu_and_one_started_early_the_first_freed(tmp_path) -> None:
    workers = [Worker(tmp_path) for _ in CPUS]
    early = Worker(tmp_path)  # as uvicorn's restart starts a worker before it stops the old
    try:
        assert [w.cpu for w in workers] == [str(c) for c in CPUS]
        assert [allowed_cpus(w.proc.pid) for w in workers] == [str(c) for c in CPUS]
        assert early.cpu == "None"  # every CPU has a worker: unpinned, for now
        assert allowed_cpus(early.proc.pid) == allowed_cpus(os.getpid())
        workers[0].stop()  # the old worker goes: the kernel frees its lock
        deadline = time.monotonic() + WAIT
        while allowed_cpus(early.proc.pid) != str(CPUS[0]):
            assert time.monotonic() < deadline, "the freed CPU was not claimed"
            time.sleep(0.1)
        late = Worker(tmp_path)
        workers.append(late)
        assert late.cpu == "None"  # taken again: nothing freed, nothing shared
    finally:
        for w in [*workers, early]:
            w.stop()


def test_pinning_needs_several_workers(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kw: calls.append(kw))
    result = CliRunner().invoke(app, ["serve", "--pin-workers"], terminal_width=200)
    assert result.exit_code != 0 and "--workers N (N > 1)" in result.output
    assert calls == []


@pytest.mark.redis
def test_serve_pins_its_workers_to_cpus_of_their_own(redis_url: str, tmp_path) -> None:
    with serving_workers(redis_url, tmp_path, options=("--pin-workers",)) as served:
        pid = served.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        workers = [
            int(child)
            for child in children
            if "spawn_main" in Path(f"/proc/{child}/cmdline").read_text()
            and "resource_tracker" not in Path(f"/proc/{child}/cmdline").read_text()
        ]
        assert len(workers) == 2
        pinned = sorted(allowed_cpus(worker) for worker in workers)
        expected = [str(c) for c in CPUS[:2]]
        if len(CPUS) == 1:  # one CPU: the first worker has it, the other runs as before
            expected = sorted([str(CPUS[0]), allowed_cpus(os.getpid())])
        assert pinned == sorted(expected)
        assert served.log.read_text().count("pinned to CPU") == min(2, len(CPUS))


def test_a_worker_that_cannot_claim_a_cpu_runs_unpinned(tmp_path, caplog) -> None:
    """A pin folder gone (or a host that refuses): logged, and the worker keeps every CPU."""
    before = os.sched_getaffinity(0)
    assert pin_worker(tmp_path / "gone") is None
    assert os.sched_getaffinity(0) == before
    assert "not pinned" in caplog.text
