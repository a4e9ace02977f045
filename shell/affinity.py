"""Each `willay serve` worker on a CPU of its own (`--pin-workers`), as nginx's
`worker_cpu_affinity auto` does.

A worker moved between CPUs by the scheduler loses its caches, and on a small host two workers
sharing a CPU while another idles serve fewer hops. Pinned, each worker claims the first CPU no
live sibling holds: a lock file per CPU in a folder of this server's own, held open for the
worker's life, so the kernel frees it when the worker dies and its replacement takes that CPU.
A replacement started before the worker it replaces has stopped (uvicorn's restart on SIGHUP)
finds every CPU taken: a thread of its own then claims the first one freed, for its event loop.
Only the CPUs the server may run on count (a container's cpuset); a host that refuses leaves
the worker unpinned, with a log line.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path

__all__ = ["PIN_FOLDER", "pin_worker"]

log = logging.getLogger(__name__)

PIN_FOLDER = "WILLAY_PIN_FOLDER"  # set by `willay serve --pin-workers` for its workers
RETRY_SECONDS = 1.0  # how often a worker without a CPU looks for one freed


def pin_worker(folder: Path) -> int | None:
    """Pin this process to the first CPU it may run on that no other worker of `folder`'s
    server holds, and answer it; None if none is free yet (a thread then waits for one to be
    freed and pins the main thread to it) or the host refuses (the worker runs unpinned)."""
    main = threading.main_thread().native_id or os.getpid()  # the main thread's id is the pid
    try:
        cpu = _claim(folder, main)
    except OSError as exc:
        log.warning("worker %d not pinned: %s", os.getpid(), exc)
        return None
    if cpu is None:
        log.info("worker %d: every CPU has a worker; waiting for one to be freed", os.getpid())
        threading.Thread(
            target=_claim_when_freed, args=(folder, main), name="willay-pin", daemon=True
        ).start()
    return cpu


def _claim(folder: Path, thread: int) -> int | None:
    """Lock the first free CPU of `folder` and pin `thread` to it; None if all are held."""
    for cpu in sorted(os.sched_getaffinity(0)):
        lock = os.open(folder / f"cpu{cpu}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            continue
        try:
            os.sched_setaffinity(thread, {cpu})
        except OSError:
            os.close(lock)
            raise
        # the lock's descriptor stays open (and the CPU claimed) until the process ends
        log.info("worker %d pinned to CPU %d", os.getpid(), cpu)
        return cpu
    return None


def _claim_when_freed(folder: Path, thread: int) -> None:
    """Look for a freed CPU every `RETRY_SECONDS` until one is claimed (or the host refuses)."""
    while True:
        time.sleep(RETRY_SECONDS)
        try:
            if _claim(folder, thread) is not None:
                return
        except OSError as exc:
            log.warning("worker %d not pinned: %s", os.getpid(), exc)
            return
