"""Willay Studio: content teams review, listen, record and rebuild audio in the browser.

The route (`studio.routes.router`) is imported by the app alone.
"""

from studio.accounts import Account, AccountBook, Role
from studio.audit import AuditLog
from studio.builds import Builder, RebuildStatus
from studio.recordings import Recorder, check_take
from studio.service import Studio

__all__ = [
    "Account",
    "AccountBook",
    "AuditLog",
    "Builder",
    "RebuildStatus",
    "Recorder",
    "Role",
    "Studio",
    "check_take",
]
