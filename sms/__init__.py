"""The SMS channel: weekly tips, "text me this", opt-out by SMS and delivery reports."""

from sms.alerts import AlertSendReport, AlertTexter
from sms.channel import SmsChannel
from sms.gateway import Receipt, SmsGateway
from sms.inbox import SmsInbox, stop_word
from sms.message import SmsText, compose_stopped, compose_tip, split_parts
from sms.routes import router
from sms.schedule import Schedule, Verdict
from sms.sender import Batch, SendReport, WeeklySender
from sms.services import Recipient, SmsServices
from sms.store import MessageRecord, SmsStore, WeekRecord
from sms.texter import SmsTipTexter

__all__ = [
    "AlertSendReport",
    "AlertTexter",
    "Batch",
    "MessageRecord",
    "Receipt",
    "Recipient",
    "Schedule",
    "SendReport",
    "SmsChannel",
    "SmsGateway",
    "SmsInbox",
    "SmsServices",
    "SmsStore",
    "SmsText",
    "SmsTipTexter",
    "Verdict",
    "WeekRecord",
    "WeeklySender",
    "compose_stopped",
    "compose_tip",
    "router",
    "split_parts",
    "stop_word",
]
