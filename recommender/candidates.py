"""Which tips may be served: current, in season, not excluded, not heard recently if possible."""

from __future__ import annotations

import datetime as dt

from recommender.picker import PickContext
from willay.catalog import Catalog, Tip

__all__ = ["candidates", "fits_audience", "in_season", "pools"]


def pools(
    context: PickContext, catalog: Catalog, *, repeat_days: int
) -> tuple[list[Tip], list[Tip]]:
    """Tips not heard in the last `repeat_days`, then every tip (for when those run out).

    Both leave out expired tips, tips of another topic when browsing one, and the tips already
    served in this session.
    """
    tips = [
        t for t in catalog.current_tips(context.today, context.topic) if t.id not in context.exclude
    ]
    since = dt.datetime.combine(context.today, dt.time(), tzinfo=dt.UTC) - dt.timedelta(
        days=repeat_days
    )
    return [t for t in tips if context.heard.get(t.id, since) <= since], tips


def fits_audience(tip: Tip, context: PickContext) -> bool:
    """True when the tip is for everyone or for one of the person's audiences."""
    return bool(tip.audiences & context.audiences)


def in_season(tip: Tip, context: PickContext, *, catalog: Catalog) -> bool:
    """True when the tip is in season this month in the person's zone (any zone if unknown)."""
    return tip.in_season(context.today.month, catalog.zone_of(context.region))


def candidates(context: PickContext, catalog: Catalog, *, repeat_days: int) -> list[Tip]:
    """The tips a model may serve: fresh ones if any, else all.

    Outside topic browsing, only tips for everyone or for one of the person's audiences, in
    season in the person's zone (dengue all year in the selva, February-May on the coast).
    """
    for pool in pools(context, catalog, repeat_days=repeat_days):
        tips = [
            t
            for t in pool
            if context.topic is not None
            or (fits_audience(t, context) and in_season(t, context, catalog=catalog))
        ]
        if tips:
            return tips
    return []
