"""The tip catalog: topics, regions and tips loaded from `content/`, validated as a whole."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from willay.errors import ContentError
from willay.languages import DEFAULT_LANGUAGE, LANGUAGES, pick_text
from willay.signoff import SignOffBook, load_signoffs

__all__ = [
    "Audience",
    "Catalog",
    "Region",
    "Source",
    "Tip",
    "Topic",
    "Zone",
    "load_catalog",
]

M = TypeVar("M", bound=BaseModel)
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=48)]
Month = Annotated[int, Field(ge=1, le=12)]
ALL_YEAR = frozenset(range(1, 13))


class Zone(StrEnum):
    costa = "costa"
    sierra = "sierra"
    selva = "selva"


class Audience(StrEnum):
    general = "general"
    pregnant = "pregnant"
    child_under5 = "child_under5"
    older_adult = "older_adult"
    chronic = "chronic"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Topic(_Strict):
    id: Slug
    name: dict[str, str]


class Region(_Strict):
    id: Slug
    name: str
    zone: Zone


class Source(_Strict):
    """The document a tip rests on: a norm, a fact sheet, a page about that subject."""

    name: str = Field(min_length=3)
    short: str = Field(min_length=2, max_length=10)
    url: str = Field(pattern=r"^https://")

    @property
    def is_homepage(self) -> bool:
        """True for a site's or an institution's front page (`gob.pe/minsa`, `who.int/es`)."""
        path = urlsplit(self.url).path.strip("/")
        return len(path.split("/")) <= 2 and not re.search(r"[-_.]", path)


class Tip(_Strict):
    """One tip. Approval is not here: it lives in sign-offs (`willay.signoff`), bound to texts.

    `review` flags a translation still a `draft` for a native speaker. `months` is the tip's
    season wherever `seasons` names no other; `seasons` gives a zone its own months (`all` = all
    year), e.g. dengue: `months: [2, 3, 4, 5]` (the coast's peak), `seasons: {selva: all}`.
    No months at all = all year. `expires_on` is only for time-bound content (a campaign).
    """

    id: Slug
    topic: Slug
    text: dict[str, str]
    review: dict[str, Literal["draft"]] = {}
    audiences: frozenset[Audience] = frozenset({Audience.general})
    zones: frozenset[Zone] = frozenset()
    regions: frozenset[Slug] = frozenset()
    months: frozenset[Month] = frozenset()
    seasons: dict[Zone, frozenset[Month]] = {}
    source: Source
    expires_on: dt.date | None = None

    @field_validator("seasons", mode="before")
    @classmethod
    def _all_year(cls, value: object) -> object:
        if isinstance(value, dict):
            return {zone: ALL_YEAR if m == "all" else m for zone, m in value.items()}
        return value

    def text_for(self, lang: str) -> tuple[str, str]:
        """The tip's text in `lang` (or its fallback) and the language used."""
        return pick_text(self.text, lang)

    def is_current(self, today: dt.date) -> bool:
        """False once time-bound content has expired: it is then never served."""
        return self.expires_on is None or today < self.expires_on

    @property
    def seasonal(self) -> bool:
        """True when the tip is for some months only, in some zone."""
        return bool(self.months) or any(m != ALL_YEAR for m in self.seasons.values())

    def in_season(self, month: int, zone: Zone | None) -> bool:
        """In season in `zone` this month; for an unknown zone, in season in some zone."""
        if zone is None:
            return any(self.in_season(month, z) for z in Zone)
        months = self.seasons.get(zone, self.months)
        return not months or month in months


@dataclass(frozen=True)
class Catalog:
    """Every topic, region and tip, with indexes the channels need."""

    topics: tuple[Topic, ...]
    regions: tuple[Region, ...]
    tips: tuple[Tip, ...]
    signoffs: SignOffBook = field(default_factory=SignOffBook, repr=False)
    by_id: dict[str, Tip] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {tip.id: tip for tip in self.tips})

    @property
    def languages(self) -> list[str]:
        """Language codes with text in at least one tip, Spanish first."""
        seen = {code for tip in self.tips for code in tip.text}
        return [DEFAULT_LANGUAGE] + sorted(seen - {DEFAULT_LANGUAGE})

    def region(self, region_id: str | None) -> Region | None:
        """The region with this id, if any."""
        return next((r for r in self.regions if r.id == region_id), None)

    def topic(self, topic_id: str) -> Topic:
        """The topic with this id."""
        return next(t for t in self.topics if t.id == topic_id)

    def current_tips(self, today: dt.date, topic: str | None = None) -> list[Tip]:
        """Tips not expired on `today`, optionally of one topic."""
        return [t for t in self.tips if t.is_current(today) and (topic is None or t.topic == topic)]

    def expiring(self, today: dt.date, within_days: int) -> list[Tip]:
        """Time-bound tips still served today that expire within `within_days`."""
        limit = today + dt.timedelta(days=within_days)
        return [t for t in self.tips if t.expires_on and today < t.expires_on <= limit]

    def zone_of(self, region_id: str | None) -> Zone | None:
        """The zone of the region with this id, if any."""
        region = self.region(region_id)
        return region.zone if region else None

    def is_signed(self, tip_id: str, *, lang: str, today: dt.date) -> bool:
        """True when production may serve this tip's own `lang` text on `today`."""
        return self.signoffs.servable(self.by_id[tip_id], language=lang, today=today)

    def signed_only(self, today: dt.date) -> Catalog:
        """The catalog production serves on `today`: each tip with only its signed-off texts.

        Tips with no signed text are left out; the language fallback chain then reaches the
        signed texts. Each tip stops being current when the first sign-off it rests on expires.
        """
        tips = []
        for tip in self.tips:
            signed = {}
            ends = [tip.expires_on] if tip.expires_on else []
            for code, text in tip.text.items():
                governing = self.signoffs.governing(tip, language=code, today=today)
                if governing:
                    signed[code] = text
                    ends += [s.expires_on for s in governing]
            if signed and tip.is_current(today):
                tips.append(tip.model_copy(update={"text": signed, "expires_on": min(ends)}))
        return dataclasses.replace(self, tips=tuple(tips))

    def signed_counts(self, today: dt.date) -> dict[str, int]:
        """Per language, how many tips production may serve in that very language."""
        return {
            code: sum(
                1
                for t in self.tips
                if code in t.text and self.is_signed(t.id, lang=code, today=today)
            )
            for code in self.languages
        }

    def summary(self, today: dt.date | None = None) -> str:
        """`66 tips in 11 topics; es 66/66, quy 66/66, quz 22/66; signed off es 0/66, ...`."""
        total = len(self.tips)
        with_text = {code: sum(1 for t in self.tips if t.text.get(code)) for code in self.languages}
        signed = self.signed_counts(today or dt.date.today())
        per_lang = ", ".join(f"{code} {n}/{total}" for code, n in with_text.items())
        per_signed = ", ".join(f"{code} {signed[code]}/{n}" for code, n in with_text.items())
        return f"{total} tips in {len(self.topics)} topics; {per_lang}; signed off {per_signed}"


def _read_yaml(path: Path, problems: list[str]) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        problems.append(f"{path}: cannot read YAML: {exc}")
        return None


def _parse(model: type[M], data: object, *, where: str, problems: list[str]) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where}: {loc}: {err['msg']}")
        return None


def _parse_all(model: type[M], items: object, *, where: str, problems: list[str]) -> list[M]:
    if not isinstance(items, list):
        problems.append(f"{where}: expected a list")
        return []
    parsed = (
        _parse(model, item, where=f"{where}[{i}]", problems=problems)
        for i, item in enumerate(items)
    )
    return [p for p in parsed if p is not None]


def _check_tips(
    tips: Iterable[Tip], *, topics: set[str], regions: set[str], problems: list[str]
) -> None:
    seen: set[str] = set()
    for tip in tips:
        where = f"tip {tip.id}"
        if tip.id in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(tip.id)
        if tip.topic not in topics:
            problems.append(f"{where}: unknown topic {tip.topic!r}")
        for code, text in tip.text.items():
            if code not in LANGUAGES:
                problems.append(f"{where}: unknown language {code!r}")
            if not text.strip():
                problems.append(f"{where}: empty {code} text")
        if DEFAULT_LANGUAGE not in tip.text:
            problems.append(f"{where}: missing es text")
        if not any(code != DEFAULT_LANGUAGE for code in tip.text):
            problems.append(f"{where}: missing Quechua text (quy or quz)")
        for code in tip.review:
            if code not in tip.text:
                problems.append(f"{where}: review status for {code} but no {code} text")
        for region in tip.regions - regions:
            problems.append(f"{where}: unknown region {region!r}")
        if tip.source.is_homepage:
            problems.append(f"{where}: source.url is a homepage; cite the document itself")
        for zone in set(tip.seasons) - set(tip.zones) if tip.zones else ():
            problems.append(f"{where}: a season for {zone}, a zone the tip is not for")


def load_catalog(content_dir: Path) -> Catalog:
    """Load and validate `content_dir`; raise `ContentError` listing every problem found."""
    problems: list[str] = []
    if not content_dir.is_dir():
        raise ContentError([f"{content_dir}: content folder not found"])
    topics = _parse_all(
        Topic,
        _read_yaml(content_dir / "topics.yaml", problems),
        where="topics.yaml",
        problems=problems,
    )
    regions = _parse_all(
        Region,
        _read_yaml(content_dir / "regions.yaml", problems),
        where="regions.yaml",
        problems=problems,
    )
    tips: list[Tip] = []
    for path in sorted((content_dir / "tips").glob("*.yaml")):
        data = _read_yaml(path, problems)
        if not isinstance(data, dict) or "topic" not in data:
            problems.append(f"{path.name}: expected a mapping with 'topic' and 'tips'")
            continue
        items = [
            {**item, "topic": data["topic"]} if isinstance(item, dict) else item
            for item in data.get("tips") or []
        ]
        tips += _parse_all(Tip, items, where=path.name, problems=problems)
    if not tips:
        problems.append(f"{content_dir / 'tips'}: no tips found")
    _check_tips(
        tips, topics={t.id for t in topics}, regions={r.id for r in regions}, problems=problems
    )
    try:
        signoffs = load_signoffs(content_dir)
    except ContentError as exc:
        problems += exc.problems
    if problems:
        raise ContentError(problems)
    return Catalog(
        topics=tuple(topics), regions=tuple(regions), tips=tuple(tips), signoffs=signoffs
    )
