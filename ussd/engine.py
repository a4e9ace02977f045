"""The menu engine: walks the journey one hop at a time and renders the screen to show.

Africa's Talking sends every input of the session joined by `*`; the engine keeps the text it
has already seen in the session and applies only what is new. Each hop is applied exactly once,
across processes: see `UssdEngine.handle` and `ussd.store`.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass

from ussd.actions import ACTIONS
from ussd.menus import ActionScreen, EndScreen, Journey, MenuScreen, Option, TipScreen
from ussd.paging import Page, PageLayout, paginate
from ussd.schemas import AtUssdForm, AtUssdNotice
from ussd.store import HopRead, SessionLocks, UssdSession
from ussd.turn import Jump, Services, Turn
from willay.alerts import Alert, alert_data
from willay.catalog import Catalog, Tip
from willay.errors import ConfigurationError, ServiceUnavailable, StoreUnavailable
from willay.events import Event, EventKind
from willay.gsm7 import septets, to_gsm7
from willay.languages import LANGUAGES, pick_text
from willay.profiles import Subscriber, event_subject, pseudonym

__all__ = ["UssdEngine", "UssdReply", "alert_room", "tip_fit_problems", "tip_text"]

log = logging.getLogger(__name__)

MAX_ACTION_CHAIN = 8
MAX_ATTEMPTS = 8  # a hop computed again this many times because others won the race gives up
MAX_TIP_PAGES = 3
RESUMABLE_FROM = 2  # hops: a session cut before its second screen is not worth resuming
OPTION_KEY = re.compile(r"[0-9]{1,3}")  # only ASCII digits choose an option: not "²", "١", "１"


@dataclass(frozen=True)
class UssdReply:
    text: str
    end: bool
    draft: bool = False  # a tip text without valid sign-offs (development and testing only)

    @property
    def body(self) -> str:
        """The response body: `CON ...` or `END ...`."""
        return ("END " if self.end else "CON ") + self.text


def new_inputs(seen: str, text: str) -> list[str]:
    """The inputs in `text` that were not in `seen`, the text of the previous hop."""
    if text == seen:
        return []
    if seen and text.startswith(seen + "*"):
        return text[len(seen) + 1 :].split("*")
    if not seen:
        return text.split("*")
    return [text.rsplit("*", 1)[-1]]


def tip_text(journey: Journey, tip: Tip, lang: str) -> str:
    """What a tip screen says: the tip in `lang` (or its fallback) and its source."""
    source = pick_text(journey.notices["source"], lang)[0]
    return f"{tip.text_for(lang)[0]} {source} {tip.source.short}"


def alert_room(journey: Journey, *, page_chars: int, lang: str) -> int:
    """Septets an alert line may take above a known caller's first screen (home) in `lang`.

    The screen's options and navigation always stay; its title gives way to a longer alert.
    """
    screen = journey.screens[journey.home_screen]
    assert isinstance(screen, MenuScreen)
    nav = journey.navigation
    options = [f"{i} {pick_text(o.label, lang)[0]}" for i, o in enumerate(screen.options, start=1)]
    danger = [f"{nav.danger.key} {pick_text(nav.danger.label, lang)[0]}"]
    layout = PageLayout(
        budget=page_chars, more_line=f"{nav.more.key} {pick_text(nav.more.label, lang)[0]}"
    )
    page = paginate(pick_text(screen.text, lang)[0], options, [danger], layout)[0]
    return page_chars - septets("\n".join(page.tail)) - 1


def tip_fit_problems(journey: Journey, catalog: Catalog, *, page_chars: int) -> list[str]:
    """Tips whose text cannot be shown well on a phone: odd characters or too many pages."""
    nav = journey.navigation
    problems = []
    for tip in catalog.tips:
        for lang, raw in tip.text.items():
            if to_gsm7(raw).count("?") > raw.count("?"):
                problems.append(f"tip {tip.id}: {lang} text has characters a phone cannot show")
            tip_screen = journey.screens[journey.tip_screen]
            options = [
                f"{i} {pick_text(o.label, lang)[0]}"
                for i, o in enumerate(getattr(tip_screen, "options", []), start=1)
            ]
            lines = [
                [f"{k.key} {pick_text(k.label, lang)[0]}" for k in (nav.back, nav.home, nav.danger)]
            ]
            layout = PageLayout(
                budget=page_chars, more_line=f"{nav.more.key} {pick_text(nav.more.label, lang)[0]}"
            )
            pages = paginate(tip_text(journey, tip, lang), options, lines, layout)
            if len(pages) > MAX_TIP_PAGES:
                problems.append(
                    f"tip {tip.id}: {lang} text takes {len(pages)} pages of {page_chars} "
                    f"septets (at most {MAX_TIP_PAGES})"
                )
    return problems


class UssdEngine:
    """Answers hops and end-of-session notices for one journey."""

    def __init__(
        self, *, journey: Journey, services: Services, page_chars: int, pseudonym_key: str
    ) -> None:
        self.journey = journey
        self.services = services
        self._key = pseudonym_key
        self._budget = page_chars
        nav = journey.navigation
        self._nav = {nav.back.key: "back", nav.more.key: "more", nav.home.key: "home"}
        self._nav[nav.danger.key] = "danger"
        self._layouts = {
            code: PageLayout(
                budget=page_chars, more_line=f"{nav.more.key} {pick_text(nav.more.label, code)[0]}"
            )
            for code in LANGUAGES
        }
        # rendering depends only on these keys, and the catalog and journey never change here
        self._page_cache: dict[tuple[str, str, str | None, bool, bool], list[Page]] = {}
        self._end_texts: dict[tuple[str, str], str] = {}
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
            return await self._handle(form, subscriber_id, started)

    async def _handle(self, form: AtUssdForm, subscriber_id: str, started: float) -> UssdReply:
        for _ in range(MAX_ATTEMPTS):
            read = await self.services.sessions.read_hop(form.sessionId, subscriber_id)
            known = UssdSession.model_validate_json(read.session) if read.session else None
            fresh = known is None or known.subscriber != subscriber_id
            if known is not None and not fresh and form.text in known.replies:
                body = known.replies[form.text]
                draft = form.text in known.drafts
                return UssdReply(body[4:], end=body.startswith("END "), draft=draft)
            turn = self._turn(form, read, known if not fresh else None)
            reply = await self._step(turn, form, fresh=fresh)
            turn.session.hops += 1
            turn.session.remember(form.text, reply.body, draft=reply.draft)
            if await self.services.sessions.commit_hop(read, turn.write()):
                self._emit_cost(turn, form, reply, fresh=fresh, started=started)
                turn.publish()
                if turn.profile_deleted:
                    await self._erase_the_rest(read.subscriber)
                return reply
        raise StoreUnavailable(f"session {form.sessionId}: {MAX_ATTEMPTS} hops raced, none won")

    async def _erase_the_rest(self, subscriber_id: str) -> None:
        """After an erasure is stored (the profile went in the commit), whatever else the kernel
        keeps about the person goes too; idempotent, so a retried hop can do it again."""
        try:
            await self.services.subscribers.delete(subscriber_id)
        except ServiceUnavailable as exc:
            log.error("erasure stored, but the rest not erased yet: %s", exc)

    def _turn(self, form: AtUssdForm, read: HopRead, known: UssdSession | None) -> Turn:
        subscriber = Subscriber.model_validate_json(read.profile) if read.profile else None
        session = known or UssdSession(
            id=form.sessionId,
            subscriber=read.subscriber,
            text=form.text,
            screen=self.journey.initial_screen,
            lang=subscriber.language if subscriber else None,
            consent=True if subscriber else None,
        )
        return Turn(
            services=self.services,
            session=session,
            subscriber=subscriber,
            phone=form.phoneNumber,
            resume=UssdSession.model_validate_json(read.resume) if read.resume else None,
        )

    async def _step(self, turn: Turn, form: AtUssdForm, *, fresh: bool) -> UssdReply:
        alert = None
        if fresh:
            await self._enter(turn, self.journey.initial_screen)
            alert = self._alert(turn)
        else:
            self._alert_seen(turn)
            keys = new_inputs(turn.session.text, form.text)
            turn.session.text = form.text  # before the keys: erasing data forgets it too
            for key in keys:
                await self._apply(turn, key.strip())
        return self._render(turn, alert)

    def _emit_cost(
        self, turn: Turn, form: AtUssdForm, reply: UssdReply, *, fresh: bool, started: float
    ) -> None:
        """One event per request, with what it cost: the first hop's is session_start."""
        cost = {
            "screen": turn.session.screen,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
            "bytes": math.ceil(septets(reply.text) * 7 / 8),
        }
        if fresh:
            region = turn.subscriber.region if turn.subscriber else None
            turn.emit(EventKind.session_start, network=form.networkCode, region=region, **cost)
        else:
            turn.emit(EventKind.hop, **cost)

    async def _apply(self, turn: Turn, key: str) -> None:
        session = turn.session
        before = session.screen
        nav = self._nav.get(key)
        if nav == "home":
            session.history.clear()
            await self._enter(
                turn, self.journey.home_screen if session.lang else self.journey.initial_screen
            )
        elif nav == "danger":
            if before != self.journey.danger_screen:
                session.history.append((before, session.page))
                await self._enter(turn, self.journey.danger_screen)
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
            await self._choose(turn, key)
        turn.emit(EventKind.menu_step, screen=before, to=session.screen, key=nav or "option")

    async def _choose(self, turn: Turn, key: str) -> None:
        session = turn.session
        screen = self.journey.screens[session.screen]
        options = self._options(turn, screen)
        index = int(key) - 1 if OPTION_KEY.fullmatch(key) else -1
        if not 0 <= index < len(options):
            session.notice = "invalid"
            return
        option = options[index]
        session.value = option.value
        if isinstance(screen, MenuScreen) and screen.field and option.value is not None:
            session.pending[screen.field] = option.value
        session.history.append((session.screen, session.page))
        await self._enter(turn, option.next)

    async def _enter(self, turn: Turn, name: str) -> None:
        """Go to screen `name`, running action screens until one is to be shown."""
        session = turn.session
        for _ in range(MAX_ACTION_CHAIN):
            screen = self.journey.screens[name]
            if not isinstance(screen, ActionScreen):
                session.screen, session.page = name, 0
                if name == self.journey.home_screen:
                    session.history.clear()
                return
            outcome = await ACTIONS[screen.run](turn)
            if isinstance(outcome, Jump):
                session.screen, session.page = outcome.screen, outcome.page
                return
            name = screen.next[outcome]
        raise ConfigurationError(f"more than {MAX_ACTION_CHAIN} actions in a row from {name!r}")

    # -- rendering ----------------------------------------------------------------------------

    def _options(self, turn: Turn, screen: object) -> list[Option]:
        if not isinstance(screen, MenuScreen) or screen.source is None:
            return list(getattr(screen, "options", []))
        catalog, target = self.services.catalog, screen.next or ""
        if screen.source == "topics":
            return [Option(label=t.name, next=target, value=t.id) for t in catalog.topics]
        if screen.source == "regions":
            regions = sorted(catalog.regions, key=lambda r: r.name)
            return [Option(label={"es": r.name}, next=target, value=r.id) for r in regions]
        return [
            Option(label={"es": name}, next=target, value=code)
            for code, (name, _) in LANGUAGES.items()
        ]

    def _nav_choices(self, turn: Turn) -> list[list[str]]:
        """Navigation footers for this screen, fullest first: home goes first, then back."""
        session, journey = turn.session, self.journey
        return self._footers(
            turn.lang,
            back=bool(session.history),
            home=session.screen != journey.home_screen and bool(session.lang),
            danger=session.screen != journey.danger_screen,
        )

    def _footers(self, lang: str, *, back: bool, home: bool, danger: bool) -> list[list[str]]:
        nav = self.journey.navigation
        back_keys = [nav.back] if back else []
        home_keys = [nav.home] if home else []
        danger_keys = [nav.danger] if danger else []
        choices = [back_keys + home_keys + danger_keys, back_keys + danger_keys, danger_keys]
        return [[f"{k.key} {pick_text(k.label, lang)[0]}" for k in keys] for keys in choices]

    def tip_pages(self, tip: Tip, lang: str) -> list[Page]:
        """A tip's screen page by page, as a phone shows it when the tip is picked from a menu."""
        screen = self.journey.screens[self.journey.tip_screen]
        options = [
            f"{i} {pick_text(o.label, lang)[0]}"
            for i, o in enumerate(getattr(screen, "options", []), start=1)
        ]
        footers = self._footers(lang, back=True, home=True, danger=True)
        layout = self._layouts.get(lang, self._layouts["es"])
        return paginate(tip_text(self.journey, tip, lang), options, footers, layout)

    def _body(self, turn: Turn) -> str:
        screen = self.journey.screens[turn.session.screen]
        if isinstance(screen, TipScreen):
            tip = self.services.catalog.by_id[turn.session.tip_id or ""]
            return tip_text(self.journey, tip, turn.lang)
        assert isinstance(screen, MenuScreen | EndScreen)
        return pick_text(screen.text, turn.lang)[0]

    def _pages(self, turn: Turn) -> list[Page]:
        """The screen's pages, computed once per screen, language, tip and footer variant."""
        session = turn.session
        showing_tip = isinstance(self.journey.screens[session.screen], TipScreen)
        tip = session.tip_id if showing_tip else None
        key = (session.screen, turn.lang, tip, bool(session.history), bool(session.lang))
        pages = self._page_cache.get(key)
        if pages is None:
            pages = self._page_cache[key] = self._paginate(turn)
        return pages

    def _paginate(self, turn: Turn) -> list[Page]:
        screen = self.journey.screens[turn.session.screen]
        options = [
            f"{i} {pick_text(o.label, turn.lang)[0]}"
            for i, o in enumerate(self._options(turn, screen), start=1)
        ]
        layout = self._layouts.get(turn.lang, self._layouts["es"])
        return paginate(self._body(turn), options, self._nav_choices(turn), layout)

    def _render(self, turn: Turn, alert: Alert | None = None) -> UssdReply:
        session = turn.session
        screen = self.journey.screens[session.screen]
        notice, session.notice = session.notice, None
        if alert is not None and not isinstance(screen, EndScreen):
            page = self._pages(turn)[0]
            shown = page.with_notice(alert.phone_text(turn.lang), self._budget)
            if shown != str(page):
                session.alert = alert.id
                turn.emit(EventKind.alert_delivered, **alert_data(alert, region=self._region(turn)))
                return UssdReply(shown, end=False)
        if isinstance(screen, EndScreen):
            key = (session.screen, turn.lang)
            if key not in self._end_texts:
                self._end_texts[key] = to_gsm7(self._body(turn))
            return UssdReply(self._end_texts[key], end=True)
        pages = self._pages(turn)
        session.page = min(session.page, len(pages) - 1)
        page = pages[session.page]
        if (
            isinstance(screen, TipScreen)
            and session.page == len(pages) - 1
            and not session.tip_done
        ):
            session.tip_done = True
            turn.emit(EventKind.tip_completed, tip_id=session.tip_id, pages=len(pages))
        draft = isinstance(screen, TipScreen) and self._is_draft(turn)
        if notice is None:
            return UssdReply(str(page), end=False, draft=draft)
        line = pick_text(self.journey.notices[notice], turn.lang)[0]
        return UssdReply(page.with_notice(line, self._budget), end=False, draft=draft)

    def _is_draft(self, turn: Turn) -> bool:
        """True when the tip on screen is shown in a text nobody has signed off."""
        catalog = self.services.catalog
        tip = catalog.by_id[turn.session.tip_id or ""]
        lang = tip.text_for(turn.lang)[1]
        return not catalog.is_signed(tip.id, lang=lang, today=self.services.clock().date())

    # -- alerts -------------------------------------------------------------------------------

    @staticmethod
    def _region(turn: Turn) -> str | None:
        return turn.subscriber.region if turn.subscriber else None

    def _alert(self, turn: Turn) -> Alert | None:
        """The alert for a caller whose profile region matches (an `all` alert: any known one)."""
        feed = self.services.alerts
        if feed is None or turn.subscriber is None:
            return None
        return feed.for_region(self._region(turn), self.services.clock())

    def _alert_seen(self, turn: Turn) -> None:
        """The caller answered the screen the alert was on: they saw it."""
        alert_id, turn.session.alert = turn.session.alert, None
        if alert_id is not None:
            region = self._region(turn)
            turn.emit(EventKind.alert_seen, alert_id=alert_id, region=region)

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
        turn = Turn(
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
            and not isinstance(screen, EndScreen)
        ):  # the resume point needs no input history
            await services.sessions.save_resume(
                session.model_copy(update={"text": "", "replies": {}, "drafts": []})
            )
        if (
            notice.status == "Incomplete"
            and services.texter is not None
            and isinstance(screen, TipScreen)
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
