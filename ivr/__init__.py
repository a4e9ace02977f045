"""The IVR channel: call flow as data, engine, voice XML, call state, call-backs, the route."""

from ivr.channel import IvrChannel, callback_url, load_call_flow
from ivr.engine import Clip, IvrEngine, IvrReply
from ivr.flow import FLOW_FILE, Flow, load_flow
from ivr.routes import router
from ivr.store import CallStore, IvrCall

__all__ = [
    "CallStore",
    "Clip",
    "FLOW_FILE",
    "Flow",
    "IvrCall",
    "IvrChannel",
    "IvrEngine",
    "IvrReply",
    "callback_url",
    "load_call_flow",
    "load_flow",
    "router",
]
