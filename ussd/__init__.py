"""The USSD channel: menu engine, journey definitions, GSM-7 paging, sessions, routes."""

from ussd.channel import UssdChannel
from ussd.engine import UssdEngine, UssdReply
from ussd.menus import Journey, load_journey
from ussd.paging import PageLayout, paginate
from ussd.store import SessionStore, UssdSession

__all__ = [
    "Journey",
    "PageLayout",
    "SessionStore",
    "UssdChannel",
    "UssdEngine",
    "UssdReply",
    "UssdSession",
    "load_journey",
    "paginate",
]
