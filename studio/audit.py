"""Who changed what: one JSON line per change in `<WILLAY_STUDIO_DIR>/audit.jsonl`.

Recordings, sign-offs and rebuilds each write a line: the time, the account, its role, the
action, the item and a short detail. Passwords and session tokens never appear here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import deque
from pathlib import Path

from pydantic import BaseModel

from studio.accounts import Account

__all__ = ["AuditEntry", "AuditLog"]

AUDIT_FILE = "audit.jsonl"

log = logging.getLogger(__name__)


class AuditEntry(BaseModel):
    """One change: when, by whom (and their role), what, on which target."""

    at: dt.datetime
    user: str
    role: str
    action: str
    target: str
    detail: dict[str, object] = {}


class AuditLog:
    """Appends changes to the audit file and reads the latest back."""

    def __init__(self, studio_dir: Path) -> None:
        self._path = studio_dir / AUDIT_FILE
        self._lock = threading.Lock()

    def record(self, account: Account, action: str, *, target: str, **detail: object) -> AuditEntry:
        """Append one change made by `account`."""
        entry = AuditEntry(
            at=dt.datetime.now(dt.UTC),
            user=account.name,
            role=account.role.value + (f":{account.lang}" if account.lang else ""),
            action=action,
            target=target,
            detail=detail,
        )
        line = json.dumps(entry.model_dump(mode="json"), ensure_ascii=False)
        with self._lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        log.info("studio: %s %s %s", account.name, action, target)
        return entry

    def latest(self, count: int = 50) -> list[AuditEntry]:
        """The last `count` changes, newest first."""
        try:
            with self._path.open(encoding="utf-8") as handle:
                lines = deque(handle, maxlen=count)
        except FileNotFoundError:
            return []
        return [AuditEntry.model_validate_json(line) for line in reversed(lines) if line.strip()]
