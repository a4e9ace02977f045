"""The call engine: walks the flow one notification at a time and says what the caller hears.

A reply is data (clips to play, the prompt to ask, or a rejection); `ivr.voicexml` turns it into
Africa's Talking XML. A notification without digits is "no key" (the `Redirect` after a
`GetDigits` that timed out, or the provider's own empty callback); no key or a wrong key replays
the prompt `max_replays` times, then the call ends politely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from audio_cache import MIXED, AudioFile, AudioLibrary
from dialogue import run_actions
from ivr.actions import ACTIONS
from ivr.flow import EndNode, Flow, MenuNode, Node, TipNode
from ivr.schemas import AtVoiceForm
from ivr.store import CallbackDecision, CallbackLedger, IvrCall
from ivr.turn import CHANNEL, CallTurn, IvrServices
from willay.alerts import Alert
from willay.errors import ConfigurationError
from willay.events import Event, EventKind
from willay.languages import REQUIRED_LANGUAGES
from willay.profiles import event_subject, pseudonym

__all__ = ["NOTICES", "Clip", "IvrEngine", "IvrReply"]

NOTICES = ("invalid", "thanks", "no_tip", "unavailable")  # prompts the engine plays by name


@dataclass(frozen=True)
class Clip:
    """Something to play; `text` is what the provider's voice says if no audio file exists."""

    kind: Literal["prompt", "tip", "alert"]
    id: str
    lang: str
    text: str

    @property
    def bound_text(self) -> str | None:
        """The text a tip's audio must have been made from (prompts: any audio of the prompt)."""
        return self.text if self.kind == "tip" else None

    def cached_in(self, audio: AudioLibrary) -> tuple[AudioFile, str] | None:
        """Its pre-rendered file in `audio` and its language; None for an alert (news, read by
        the provider's voice) or a clip not built yet."""
        kind = self.kind
        if kind == "alert":
            return None
        return audio.clip(kind, item_id=self.id, lang=self.lang, text=self.bound_text)


HeardNode = MenuNode | TipNode | EndNode
Heard = tuple[tuple[Clip, ...], Clip | None]  # what a heard node adds: clips, then the ask


@dataclass(frozen=True)
class IvrReply:
    """What to answer: clips, then a prompt waiting for a key (or nothing: the call ends)."""

    plays: tuple[Clip, ...] = ()
    ask: Clip | None = None
    reject: bool = False
    call_back: str | None = None  # the number to call back once this reply is sent
    subscriber: str | None = None


class IvrEngine:
    """Answers the voice notifications of one flow."""

    def __init__(
        self,
        *,
        flow: Flow,
        services: IvrServices,
        pseudonym_key: str,
        service_number: str | None,
        callbacks: CallbackLedger | None,
        audio: AudioLibrary | None = None,
    ) -> None:
        self.flow = flow
        self.services = services
        self._key = pseudonym_key
        self._service_number = service_number
        self._callbacks = callbacks
        self._audio = audio
        self._heard = {"menu": self._ask, "tip": self._play_tip, "end": self._end}

    # -- notifications ------------------------------------------------------------------------

    async def handle(self, form: AtVoiceForm) -> IvrReply:
        """Apply one notification and say what the caller hears next."""
        if not form.active:
            await self.call_ended(form)
            return IvrReply()
        services = self.services
        number = form.person(self._service_number)
        subscriber_id = pseudonym(number, self._key) if number else None
        subscriber = await services.subscribers.get(subscriber_id) if subscriber_id else None
        call = await services.calls.get(form.sessionId)
        if call is None:
            call = IvrCall(
                id=form.sessionId,
                subscriber=subscriber_id,
                direction=form.direction,
                node=self.flow.initial,
                lang=subscriber.language if subscriber else None,
                consent=True if subscriber else None,
            )
            turn = CallTurn(services=services, call=call, subscriber=subscriber)
            decision = await self._callback_decision(turn, form)
            turn.emit(
                EventKind.session_start,
                direction=form.direction,
                **({"callback": decision.value} if decision else {}),
            )
            if decision in (CallbackDecision.queued, CallbackDecision.duplicate):
                call.rejected = True
                await self._save(turn)
                return IvrReply(
                    reject=True,
                    call_back=number if decision is CallbackDecision.queued else None,
                    subscriber=call.subscriber,
                )
            self._enter(turn, self.flow.initial)
            alert = turn.alert_due()
        elif call.rejected:
            return IvrReply(reject=True)  # the provider retried a rejected call's notification
        else:
            turn = CallTurn(services=services, call=call, subscriber=subscriber)
            alert = None
            turn.alert_seen()
            await self._press(turn, (form.dtmfDigits or "").rstrip("#"))  # "#" ends input
        reply = self._render(turn, alert)
        call.audio_bytes += self._bytes(reply)
        call.steps += 1
        await self._save(turn)
        return reply

    async def _save(self, turn: CallTurn) -> None:
        """Store the call and the profile (if changed), then publish the events recorded."""
        await self.services.calls.save(turn.call)
        if turn.profile_changed and turn.subscriber is not None:
            await self.services.subscribers.save(turn.subscriber)
        turn.publish()

    async def _callback_decision(
        self, turn: CallTurn, form: AtVoiceForm
    ) -> CallbackDecision | None:
        """For a subscriber's inbound call when call-backs are on: reject and call back?"""
        if self._callbacks is None or form.direction != "Inbound" or turn.subscriber is None:
            return None
        return await self._callbacks.claim(turn.subscriber.id, self.services.clock())

    async def _press(self, turn: CallTurn, key: str) -> None:
        call, flow = turn.call, self.flow
        node = flow.heard(call.node)
        if node.type == "tip" and call.tip_id and not call.tip_done:
            call.tip_done = True  # a notification after the tip: it was heard to the end
            turn.emit(EventKind.tip_completed, tip_id=call.tip_id)
        options = getattr(node, "options", None)
        if options is None or key == flow.repeat_key:  # an end node only repeats
            turn.emit(EventKind.menu_step, node=call.node, to=call.node, key="repeat")
            return
        option = options.get(key)
        if option is not None:
            before = call.node
            call.value = option.value
            self._enter(turn, option.next)
            turn.emit(EventKind.menu_step, node=before, to=call.node, key=key)
            return
        call.misses += 1
        missed = "invalid" if key else "no_key"
        if call.misses > flow.max_replays:
            before = call.node
            self._enter(turn, flow.goodbye)
            turn.emit(EventKind.menu_step, node=before, to=call.node, key=missed)
            return
        if key:
            turn.note("invalid")
        turn.emit(EventKind.menu_step, node=call.node, to=call.node, key=missed)

    def _enter(self, turn: CallTurn, name: str) -> None:
        """Go to node `name`, running actions and plays until a node is to be heard."""

        def passes(node: Node) -> str | None:
            if node.type != "play":
                return None
            turn.note(node.prompt)  # a play is heard on the way
            return node.next

        rest = run_actions(turn, name, steps=self.flow.nodes, actions=ACTIONS, passes=passes)
        if not isinstance(rest, str):
            raise ConfigurationError(f"an action jumped from node {name!r}: calls have no pages")
        turn.call.node, turn.call.misses = rest, 0

    # -- what the caller hears ----------------------------------------------------------------

    def prompt(self, name: str, lang: str) -> Clip:
        """A prompt of the flow in `lang` (or `mul` for a mixed prompt)."""
        prompt = self.flow.prompts[name]
        return Clip("prompt", name, MIXED if prompt.mixed else lang, prompt.text(lang))

    def _render(self, turn: CallTurn, alert: Alert | None = None) -> IvrReply:
        call, lang = turn.call, turn.lang
        node = self.flow.heard(call.node)
        plays = tuple(self.prompt(name, lang) for name in call.notices)
        call.notices = []
        if alert is not None:
            plays = (Clip("alert", alert.id, lang, alert.text_for(lang)[0]), *plays)
            turn.alert_delivered(alert)
        more, ask = self._heard[node.type](turn, node)
        return IvrReply(plays=plays + more, ask=ask)

    def _end(self, turn: CallTurn, node: HeardNode) -> Heard:
        """A last node: its prompt, and nothing asked; the call ends."""
        return (self.prompt(node.prompt, turn.lang),), None

    def _ask(self, turn: CallTurn, node: HeardNode) -> Heard:
        """The node's prompt, waiting for a key."""
        return (), self.prompt(node.prompt, turn.lang)

    def _play_tip(self, turn: CallTurn, node: HeardNode) -> Heard:
        """The tip just served (or asked again), then the node's prompt like a menu."""
        call, ask = turn.call, self.prompt(node.prompt, turn.lang)
        if not (call.play_tip and call.tip_id):
            return (), ask
        tip = self.services.catalog.by_id[call.tip_id]
        text, spoken = tip.text_for(turn.lang)  # the served text: signed-off in production
        call.play_tip = False
        return (Clip("tip", tip.id, spoken, text),), ask

    def _bytes(self, reply: IvrReply) -> int:
        """Bytes of the cached call audio a reply plays (what the caller's line carries)."""
        if self._audio is None:
            return 0
        clips = (*reply.plays, *([reply.ask] if reply.ask else []))
        found = (c.cached_in(self._audio) for c in clips)
        return sum(f[0].bytes for f in found if f is not None)

    def unavailable(self) -> IvrReply:
        """The apology when a call step fails, in each written language (Spanish, then Quechua)."""
        return IvrReply(plays=tuple(self.prompt("unavailable", c) for c in REQUIRED_LANGUAGES))

    # -- end of call ----------------------------------------------------------------------------

    async def call_ended(self, form: AtVoiceForm) -> None:
        """Record the final notification's duration and cost as a `call_end` event."""
        services = self.services
        call = await services.calls.get(form.sessionId)
        if call is not None:
            subscriber_id = call.subscriber
        else:
            number = form.person(self._service_number)
            subscriber_id = pseudonym(number, self._key) if number else None
        subscriber = await services.subscribers.get(subscriber_id) if subscriber_id else None
        services.events.publish(
            Event(
                channel=CHANNEL,
                kind=EventKind.call_end,
                subscriber=event_subject(subscriber, form.sessionId),
                session=form.sessionId,
                lang=call.lang if call else None,
                data={
                    "duration_s": form.durationInSeconds,
                    "amount": form.amount,
                    "currency": form.currencyCode,
                    "hangup_cause": form.hangupCause,
                    "state": form.callSessionState,
                    "direction": form.direction,
                    "node": call.node if call else None,
                    "steps": call.steps if call else 0,
                    "bytes": call.audio_bytes if call else None,
                },
            )
        )
        await services.calls.delete(form.sessionId)
