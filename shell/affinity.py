"""Each `willay serve` worker on a CPU of its own (`--pin-workers`), as nginx's
`worker_cpu_affinity auto` does.

A worker moved between CPUs by the scheduler loses its caches, and on a small host two workers
sharing a CPU while another idles serve fewer hops. Pinned, each worker claims the first CPU no
live sibling holds: a lock file per CPU in a folder of this server's own, held open for the
worker's life, so the kernel frees it when the worker dies and its replacement takes that CPU.
Only the CPUs the server may run on count (a container's cpuset); workers beyond them, or a
host that refuses, run unpinned, with a log line.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

__all__ = ["PIN_FOLDER", "pin_worker"]

log = logging.getLogger(__name__)

PIN_FOLDER = "WILLAY_PIN_FOLDER"  # set by `willay serve --pin-workers` for its workers
_held: list[int] = []  # the claimed CPU's lock, open until the process ends


def pin_worker(folder: Path) -> int | None:
    """Pin this process to the first CPU it may run on that no other worker of `folder`'s
    server holds; the CPU, or None if every one is taken or the host refuses."""
    for cpu in sorted(os.sched_getaffinity(0)):
        lock = os.open(folder / f"cpu{cpu}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            continue
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError as exc:
            os.close(lock)
            log.warning("worker %d not pinned to CPU %d: %s", os.getpid(), cpu, exc)
            return None
        _held.append(lock)
        log.info("worker %d pinned to CPU %d", os.getpid(), cpu)
        return cpu
    log.warning("worker %d not pinned: every CPU has a worker", os.getpid())
    return None
