"""The menu engine: walks the journey one hop at a time and renders the screen to show.

Africa's Talking sends every input of the session joined by `*`; the engine keeps the text it
has already seen in the session and applies only what is new. Each hop is applied exactly once,
across processes: see `UssdEngine.handle` and `ussd.store`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import time
from collections.abc import Sequence
from typing import NamedTuple

from dialogue import Jump, run_actions
from ussd.actions import ACTIONS
from ussd.menus import Journey, Option, Screen, option_lines, tip_pages, tip_text
from ussd.paging import Page, paginate
from ussd.schemas import AtUssdForm, AtUssdNotice
from ussd.store import HopRead, SessionLocks, UssdSession
from ussd.turn import UssdServices, UssdTurn
from willay.alerts import Alert
from willay.catalog import Tip
from willay.errors import ServiceUnavailable, StoreUnavailable
from willay.events import Event, EventKind
from willay.gsm7 import septets, to_gsm7
from willay.languages import LANGUAGES, pick_text
from willay.profiles import Subscriber, event_subject, pseudonym

__all__ = ["UssdEngine", "UssdReply"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # a hop computed again this many times because others won the race gives up
RESUMABLE_FROM = 2  # hops: a session cut before its second screen is not worth resuming
OPTION_KEY = re.compile(r"[0-9]{1,3}")  # only ASCII digits choose an option: not "²", "١", "１"


class UssdReply(NamedTuple):
    text: str
    end: bool
    draft: bool = False  # a tip text without valid sign-offs (development and testing only)

    @property
    def body(self) -> str:
        """The response body: `CON ...` or `END ...`."""
        return ("END " if self.end else "CON ") + self.text

    @property
    def septets(self) -> int:
        """The septets of the text in GSM-7 (the cost event and the route's header both ask)."""
        return _screen_septets(self.text)


# replies are mostly the same few hundred screens: their septets are counted once each
_screen_septets = functools.lru_cache(maxsize=4096)(septets)


def new_inputs(seen: str, text: str) -> list[str]:
    """The inputs in `text` that were not in `seen`, the text of the previous hop."""
    if text == seen:
        return []
    if seen and text.startswith(seen + "*"):
        return text[len(seen) + 1 :].split("*")
    if not seen:
        return text.split("*")
    return [text.rsplit("*", 1)[-1]]


class UssdEngine:
    """Answers hops and end-of-session notices for one journey."""

    def __init__(
        self, *, journey: Journey, services: UssdServices, page_chars: int, pseudonym_key: str
    ) -> None:
        self.journey = journey
        self.services = services
        self._key = pseudonym_key
        self._budget = page_chars
        nav = journey.navigation
        self._nav = {nav.back.key: "back", nav.more.key: "more", nav.home.key: "home"}
        self._nav[nav.danger.key] = "danger"
        self._layouts = {code: journey.layout(code, budget=page_chars) for code in LANGUAGES}
        self._sourced = {"topics": self._topics, "regions": self._regions}
        self._sourced["languages"] = self._languages
        self._sourced_options: dict[tuple[str, str], list[Option]] = {}
        self._replies = {"menu": self._menu_reply, "tip": self._tip_reply, "end": self._end_reply}
        # rendering depends only on these keys, and the catalog and journey never change here
        self._page_cache: dict[tuple[str, str, str | None, bool, bool], list[Page]] = {}
        self._end_texts: dict[tuple[str, str], str] = {}
        self._signed: dict[tuple[str, str], bool] = {}  # (tip, language) on `_signed_on`
        self._signed_on: dt.date | None = None
        self._queue = SessionLocks()

    # -- hops ---------------------------------------------------------------------------------

    async def handle(self, form: AtUssdForm) -> UssdReply:
        """Apply the new inputs of one hop, exactly once, and render the screen to show.

        A hop reads its state, works on it in memory and commits in one compare-and-set; if
        another hop of the session (or of the person) committed in between, it starts over on
        what that one left. A text already answered is answered again the same way.
        """
        started = time.perf_counter()
        subscriber_id = pseudonym(form.phoneNumber, self._key)
        async with self._queue.hold(form.sessionId):
            return await self._handle(form, subscriber_id=subscriber_id, started=started)

    async def _handle(self, form: AtUssdForm, *, subscriber_id: str, started: float) -> UssdReply:
        sessions = self.services.sessions
        read = await sessions.read_hop(form.sessionId, subscriber_id)
        for _ in range(MAX_ATTEMPTS):
            known = read.session_model or (
                UssdSession.model_validate_json(read.session) if read.session else None
            )
            fresh = known is None or known.subscriber != subscriber_id
            if known is not None and not fresh and form.text in known.replies:
                if read.local:  # a retry: answered as the store has it (it may know a later hop)
                    read = await sessions.read_hop(form.sessionId, subscriber_id, stored=True)
                    continue
                body = known.replies[form.text]
                draft = form.text in known.drafts
                return UssdReply(body[4:], end=body.startswith("END "), draft=draft)
            turn = self._turn(form, read=read, known=known if not fresh else None)
            reply = self._step(turn, form=form, fresh=fresh)
            turn.session.hops += 1
            turn.session.remember(form.text, reply.body, draft=reply.draft)
            refused = await sessions.commit_hop(read, turn.write(), last=reply.end)
            if refused is None:
                self._emit_cost(turn, form=form, reply=reply, fresh=fresh, started=started)
                turn.publish()
                if turn.profile_deleted:
                    await self._erase_the_rest(read.subscriber)
                return reply
            read = refused  # what the winner left: start over from it
        raise StoreUnavailable(f"session {form.sessionId}: {MAX_ATTEMPTS} hops raced, none won")

    async def _erase_the_rest(self, subscriber_id: str) -> None:
        """After an erasure is stored (the profile went in the commit), whatever else the kernel
        keeps about the person goes too; idempotent, so a retried hop can do it again."""
        try:
            await self.services.subscribers.delete(subscriber_id)
        except ServiceUnavailable as exc:
            log.error("erasure stored, but the rest not erased yet: %s", exc)

    def _turn(self, form: AtUssdForm, *, read: HopRead, known: UssdSession | None) -> UssdTurn:
        subscriber = read.profile_model or (
            Subscriber.model_validate_json(read.profile) if read.profile else None
        )
        session = known or UssdSession(
            id=form.sessionId,
            subscriber=read.subscriber,
            text=form.text,
            screen=self.journey.initial_screen,
            lang=subscriber.language if subscriber else None,
            consent=True if subscriber else None,
        )
        return UssdTurn(
            services=self.services,
            session=session,
            subscriber=subscriber,
            phone=form.phoneNumber,
            resume=UssdSession.model_validate_json(read.resume) if read.resume else None,
        )

    def _step(self, turn: UssdTurn, *, form: AtUssdForm, fresh: bool) -> UssdReply:
        alert = None
        if fresh:
            self._enter(turn, self.journey.initial_screen)
            alert = turn.alert_due()
        else:
            turn.alert_seen()
            keys = new_inputs(turn.session.text, form.text)
            turn.session.text = form.text  # before the keys: erasing data forgets it too
            for key in keys:
                self._apply(turn, key.strip())
        return self._render(turn, alert)

    def _emit_cost(
        self, turn: UssdTurn, *, form: AtUssdForm, reply: UssdReply, fresh: bool, started: float
    ) -> None:
        """One event per request, with what it cost: the first hop's is session_start."""
        cost = {
            "screen": turn.session.screen,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
            "bytes": (reply.septets * 7 + 7) // 8,  # septets packed in whole octets
        }
        if fresh:
            turn.emit(EventKind.session_start, network=form.networkCode, region=turn.region, **cost)
        else:
            turn.emit(EventKind.hop, **cost)

    def _apply(self, turn: UssdTurn, key: str) -> None:
        session = turn.session
        before = session.screen
        nav = self._nav.get(key)
        if nav == "home":
            session.history.clear()
            self._enter(
                turn, self.journey.home_screen if session.lang else self.journey.initial_screen
            )
        elif nav == "danger":
            if before != self.journey.danger_screen:
                session.history.append((before, session.page))
                self._enter(turn, self.journey.danger_screen)
        elif nav == "back":
            if session.page > 0:
                session.page -= 1
            elif session.history:
                session.screen, session.page = session.history.pop()
            else:
                session.notice = "no_back"
        elif nav == "more":
            if session.page + 1 < len(self._pages(turn)):
                session.page += 1
            else:
                session.notice = "no_more"
        else:
            self._choose(turn, key)
        turn.emit(EventKind.menu_step, screen=before, to=session.screen, key=nav or "option")

    def _choose(self, turn: UssdTurn, key: str) -> None:
        session = turn.session
        screen = self.journey.screens[session.screen]
        options = self._options(screen)
        index = int(key) - 1 if OPTION_KEY.fullmatch(key) else -1
        if not 0 <= index < len(options):
            session.notice = "invalid"
            return
        option = options[index]
        session.value = option.value
        field = getattr(screen, "field", None)
        if field is not None and option.value is not None:
            session.pending[field] = option.value
        session.history.append((session.screen, session.page))
        self._enter(turn, option.next)

    def _enter(self, turn: UssdTurn, name: str) -> None:
        """Go to screen `name`, running action screens until one is to be shown."""
        session = turn.session
        rest = run_actions(turn, name, steps=self.journey.screens, actions=ACTIONS)
        if isinstance(rest, Jump):
            session.screen, session.page = rest.step, rest.page
            return
        session.screen, session.page = rest, 0
        if rest == self.journey.home_screen:
            session.history.clear()

    # -- rendering ----------------------------------------------------------------------------

    def _options(self, screen: Screen) -> Sequence[Option]:
        """The screen's options: its own, or those its source lists (built once per target)."""
        source = getattr(screen, "source", None)
        if source is None:
            return getattr(screen, "options", ())
        key = (source, getattr(screen, "next", None) or "")
        options = self._sourced_options.get(key)
        if options is None:
            options = self._sourced_options[key] = self._sourced[source](key[1])
        return options

    def _topics(self, target: str) -> list[Option]:
        return [Option(label=t.name, next=target, value=t.id) for t in self.services.catalog.topics]

    def _regions(self, target: str) -> list[Option]:
        regions = sorted(self.services.catalog.regions, key=lambda r: r.name)
        return [Option(label={"es": r.name}, next=target, value=r.id) for r in regions]

    @staticmethod
    def _languages(target: str) -> list[Option]:
        return [
            Option(label={"es": name}, next=target, value=code)
            for code, (name, _) in LANGUAGES.items()
        ]

    def _nav_choices(self, turn: UssdTurn) -> list[list[str]]:
        """Navigation footers for this screen, fullest first."""
        session, journey = turn.session, self.journey
        return journey.footers(
            turn.lang,
            back=bool(session.history),
            home=session.screen != journey.home_screen and bool(session.lang),
            danger=session.screen != journey.danger_screen,
        )

    def tip_pages(self, tip: Tip, lang: str) -> list[Page]:
        """A tip's screen page by page, as a phone shows it when the tip is picked from a menu."""
        return tip_pages(self.journey, tip, lang=lang, budget=self._budget)

    def _body(self, turn: UssdTurn) -> str:
        screen = self.journey.screens[turn.session.screen]
        if screen.type == "tip":
            tip = self.services.catalog.by_id[turn.session.tip_id or ""]
            return tip_text(self.journey, tip, lang=turn.lang)
        return pick_text(getattr(screen, "text", {}), turn.lang)[0]

    def _pages(self, turn: UssdTurn) -> list[Page]:
        """The screen's pages, computed once per screen, language, tip and footer variant."""
        session = turn.session
        showing_tip = self.journey.screens[session.screen].type == "tip"
        tip = session.tip_id if showing_tip else None
        key = (session.screen, turn.lang, tip, bool(session.history), bool(session.lang))
        pages = self._page_cache.get(key)
        if pages is None:
            pages = self._page_cache[key] = self._paginate(turn)
        return pages

    def _paginate(self, turn: UssdTurn) -> list[Page]:
        screen = self.journey.screens[turn.session.screen]
        options = option_lines(self._options(screen), turn.lang)
        layout = self._layouts.get(turn.lang, self._layouts["es"])
        return paginate(
            self._body(turn), options=options, nav_choices=self._nav_choices(turn), layout=layout
        )

    def _render(self, turn: UssdTurn, alert: Alert | None = None) -> UssdReply:
        """The reply for the screen the session rests on, by its type (one handler each)."""
        session = turn.session
        screen = self.journey.screens[session.screen]
        notice = session.notice
        if notice is not None:  # (a pydantic field set costs a call or two: only when needed)
            session.notice = None
        if alert is not None and screen.type != "end":
            page = self._pages(turn)[0]
            shown = page.with_notice(alert.phone_text(turn.lang), self._budget)
            if shown != str(page):
                turn.alert_delivered(alert)
                return UssdReply(shown, end=False)
        return self._replies[screen.type](turn, notice)

    def _end_reply(self, turn: UssdTurn, notice: str | None) -> UssdReply:
        """A last screen: its text alone (a notice has no room), and the session ends."""
        key = (turn.session.screen, turn.lang)
        if key not in self._end_texts:
            self._end_texts[key] = to_gsm7(self._body(turn))
        return UssdReply(self._end_texts[key], end=True)

    def _menu_reply(self, turn: UssdTurn, notice: str | None, *, draft: bool = False) -> UssdReply:
        """The page the session is on, under the notice, if any."""
        session = turn.session
        pages = self._pages(turn)
        if session.page >= len(pages):
            session.page = len(pages) - 1
        page = pages[session.page]
        if notice is None:
            return UssdReply(str(page), end=False, draft=draft)
        line = pick_text(self.journey.notices[notice], turn.lang)[0]
        return UssdReply(page.with_notice(line, self._budget), end=False, draft=draft)

    def _tip_reply(self, turn: UssdTurn, notice: str | None) -> UssdReply:
        """A tip's page, like a menu's; its last page shown means the tip was read to the end."""
        session = turn.session
        reply = self._menu_reply(turn, notice, draft=self._is_draft(turn))
        pages = len(self._pages(turn))
        if session.page == pages - 1 and not session.tip_done:
            session.tip_done = True
            turn.emit(EventKind.tip_completed, tip_id=session.tip_id, pages=pages)
        return reply

    def _is_draft(self, turn: UssdTurn) -> bool:
        """True when the tip on screen is shown in a text nobody has signed off."""
        catalog = self.services.catalog
        tip = catalog.by_id[turn.session.tip_id or ""]
        today, key = self.services.clock().date(), (tip.id, tip.text_for(turn.lang)[1])
        if today != self._signed_on:  # sign-offs expire: what held yesterday is asked again
            self._signed_on, self._signed = today, {}
        if key not in self._signed:  # a sign-off is checked by hashing the tip's texts
            self._signed[key] = catalog.is_signed(key[0], lang=key[1], today=today)
        return not self._signed[key]

    # -- end of session -------------------------------------------------------------------------

    async def session_ended(self, notice: AtUssdNotice) -> None:
        """Record the end-of-session notice; if cut short, keep a resume point and text the tip.

        The session's state is dropped then, not at its TTL; a person who declined consent gets
        no resume point.
        """
        services = self.services
        session = await services.sessions.get(notice.sessionId)
        data = {
            "status": notice.status,
            "hops": notice.hopsCount,
            "duration_ms": notice.durationInMillis,
            "network": notice.networkCode,
            "error": notice.errorMessage,
        }
        if session is None:
            services.events.publish(
                Event(
                    channel="ussd",
                    kind=EventKind.session_end,
                    subscriber=event_subject(None, notice.sessionId),
                    session=notice.sessionId,
                    data=data,
                )
            )
            return
        subscriber = await services.subscribers.get(session.subscriber)
        turn = UssdTurn(
            services=services, session=session, subscriber=subscriber, phone=notice.phoneNumber
        )
        turn.emit(EventKind.session_end, screen=session.screen, **data)
        turn.publish()
        screen = self.journey.screens[session.screen]
        if (
            session.consent is not False  # declined: nothing about them outlives the session
            and notice.status == "Incomplete"
            and session.hops >= RESUMABLE_FROM
            and session.screen != self.journey.home_screen
            and screen.type != "end"
        ):  # the resume point needs no input history
            await services.sessions.save_resume(
                session.model_copy(update={"text": "", "replies": {}, "drafts": []})
            )
        if (
            notice.status == "Incomplete"
            and services.texter is not None
            and screen.type == "tip"
            and session.tip_id is not None
            and session.consent
            and subscriber is not None
        ):
            await services.texter.text_tip(
                subscriber=subscriber,
                phone=notice.phoneNumber,
                tip_id=session.tip_id,
                lang=turn.lang,
                session_id=session.id,
            )
        await services.sessions.drop(session.id)  # the session is over: its state goes now
