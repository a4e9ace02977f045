"""The menu engine: walks the journey one hop at a time and renders the screen to show.

Africa's Talking sends every input of the session joined by `*`; the engine keeps the text it
has already seen in the session and applies only what is new, so a retried hop is answered
again without being applied twice.
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
from ussd.store import UssdSession
from ussd.turn import Jump, Services, Turn
from willay.catalog import Catalog, Tip
from willay.errors import ConfigurationError
from willay.events import Event, EventKind
from willay.gsm7 import septets, to_gsm7
from willay.languages import LANGUAGES, pick_text
from willay.profiles import pseudonym

__all__ = ["UssdEngine", "UssdReply", "tip_fit_problems", "tip_text"]

log = logging.getLogger(__name__)

MAX_ACTION_CHAIN = 8
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

    # -- hops ---------------------------------------------------------------------------------

    async def handle(self, form: AtUssdForm) -> UssdReply:
        """Apply the new inputs of one hop and render the screen to show."""
        started = time.perf_counter()
        services = self.services
        subscriber_id = pseudonym(form.phoneNumber, self._key)
        known = await services.sessions.get(form.sessionId)
        subscriber = await services.subscribers.get(subscriber_id)
        fresh = known is None or known.subscriber != subscriber_id
        session = (
            known
            if known is not None and not fresh
            else UssdSession(
                id=form.sessionId,
                subscriber=subscriber_id,
                text=form.text,
                screen=self.journey.initial_screen,
                lang=subscriber.language if subscriber else None,
                consent=True if subscriber else None,
            )
        )
        turn = Turn(
            services=services, session=session, subscriber=subscriber, phone=form.phoneNumber
        )
        if fresh:
            await self._enter(turn, self.journey.initial_screen)
        else:
            keys = new_inputs(session.text, form.text)
            session.text = form.text  # before the keys: erasing data forgets it too
            for key in keys:
                await self._apply(turn, key.strip())
        reply = self._render(turn)
        session.hops += 1
        await services.sessions.save(session)
        # one event per request, with what it cost: the first hop's is session_start
        cost = {
            "screen": session.screen,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
            "bytes": math.ceil(septets(reply.text) * 7 / 8),
        }
        if fresh:
            region = turn.subscriber.region if turn.subscriber else None
            turn.emit(EventKind.session_start, network=form.networkCode, region=region, **cost)
        else:
            turn.emit(EventKind.hop, **cost)
        return reply

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
        session, nav, journey = turn.session, self.journey.navigation, self.journey
        back = [nav.back] if session.history else []
        home = [nav.home] if session.screen != journey.home_screen and session.lang else []
        danger = [nav.danger] if session.screen != journey.danger_screen else []
        choices = [back + home + danger, back + danger, danger]
        return [[f"{k.key} {pick_text(k.label, turn.lang)[0]}" for k in keys] for keys in choices]

    def _body(self, turn: Turn) -> str:
        screen = self.journey.screens[turn.session.screen]
        if isinstance(screen, TipScreen):
            tip = self.services.catalog.by_id[turn.session.tip_id or ""]
            return tip_text(self.journey, tip, turn.lang)
        assert isinstance(screen, MenuScreen | EndScreen)
        return pick_text(screen.text, turn.lang)[0]

    def _pages(self, turn: Turn) -> list[Page]:
        screen = self.journey.screens[turn.session.screen]
        options = [
            f"{i} {pick_text(o.label, turn.lang)[0]}"
            for i, o in enumerate(self._options(turn, screen), start=1)
        ]
        layout = self._layouts.get(turn.lang, self._layouts["es"])
        return paginate(self._body(turn), options, self._nav_choices(turn), layout)

    def _render(self, turn: Turn) -> UssdReply:
        session = turn.session
        screen = self.journey.screens[session.screen]
        notice, session.notice = session.notice, None
        if isinstance(screen, EndScreen):
            return UssdReply(to_gsm7(self._body(turn)), end=True)
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
        return not catalog.is_signed(tip.id, lang, self.services.clock().date())

    # -- end of session -------------------------------------------------------------------------

    async def session_ended(self, notice: AtUssdNotice) -> None:
        """Record the end-of-session notice; if cut short, keep a resume point and text the tip.

        The session's state is dropped then, not at its TTL; a person who declined consent gets
        no resume point.
        """
        services = self.services
        session = await services.sessions.get(notice.sessionId)
        anonymous = Event(
            channel="ussd",
            kind=EventKind.session_end,
            subscriber="unknown",
            session=notice.sessionId,
        )
        data = {
            "status": notice.status,
            "hops": notice.hopsCount,
            "duration_ms": notice.durationInMillis,
            "network": notice.networkCode,
            "error": notice.errorMessage,
        }
        if session is None:
            services.events.publish(anonymous.model_copy(update={"data": data}))
            return
        subscriber = await services.subscribers.get(session.subscriber)
        turn = Turn(
            services=services, session=session, subscriber=subscriber, phone=notice.phoneNumber
        )
        turn.emit(EventKind.session_end, screen=session.screen, **data)
        screen = self.journey.screens[session.screen]
        if (
            session.consent is not False  # declined: nothing about them outlives the session
            and notice.status == "Incomplete"
            and session.hops >= RESUMABLE_FROM
            and session.screen != self.journey.home_screen
            and not isinstance(screen, EndScreen)
        ):  # the resume point needs no input history
            await services.sessions.save_resume(session.model_copy(update={"text": ""}))
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
