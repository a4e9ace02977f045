from hypothesis import given
from hypothesis import strategies as st

from ussd.paging import PageLayout, paginate
from willay.gsm7 import septets

LAYOUT = PageLayout(budget=160, more_line="98 Mas")
NAV = [["0 Atras", "00 Inicio", "99 Urgencia"], ["0 Atras", "99 Urgencia"], ["99 Urgencia"]]


def test_short_screen_is_one_page_with_navigation() -> None:
    pages = paginate("Hola", options=["1 Uno", "2 Dos"], nav_choices=NAV, layout=LAYOUT)
    assert [str(p) for p in pages] == ["Hola\n1 Uno\n2 Dos\n0 Atras\n00 Inicio\n99 Urgencia"]


def test_long_text_breaks_between_words_and_options_stay_together() -> None:
    text = " ".join(f"palabra{i}" for i in range(60))
    pages = paginate(
        text, options=["1 Util", "2 No util", "3 Otro"], nav_choices=NAV, layout=LAYOUT
    )
    assert len(pages) > 1
    assert all(str(p).endswith("\n98 Mas") for p in pages[:-1])
    joined = " ".join(line for p in pages for line in p.text)
    assert joined == text
    assert "1 Util" in str(pages[-1]) and "3 Otro" in str(pages[-1])


def test_many_options_page_at_seven_without_splitting_one() -> None:
    options = [f"{i} Region numero {i}" for i in range(1, 26)]
    pages = paginate("Tu region", options=options, nav_choices=NAV, layout=LAYOUT)
    listed = [line for p in pages for line in p.tail if line in options]
    assert listed == options
    assert all(sum(line in options for line in p.tail) <= 7 for p in pages)


def test_navigation_gives_way_before_content_moves() -> None:
    text = "x" * 140
    pages = paginate(text, options=["1 Si"], nav_choices=NAV, layout=LAYOUT)
    assert len(pages) == 1 and str(pages[0]).endswith("1 Si\n99 Urgencia")


def test_notice_keeps_the_page_and_drops_text_if_needed() -> None:
    page = paginate("y" * 120, options=["1 Si"], nav_choices=NAV, layout=LAYOUT)[0]
    shown = page.with_notice("Opcion no valida.", 160)
    assert shown.startswith("Opcion no valida.\n") and "1 Si" in shown
    assert septets(shown) <= 160


@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=600),
    n_options=st.integers(0, 20),
    budget=st.integers(100, 182),
)
def test_every_page_fits_the_budget(text: str, n_options: int, budget: int) -> None:
    options = [f"{i} Opcion {i}" for i in range(1, n_options + 1)]
    for page in paginate(
        text, options=options, nav_choices=NAV, layout=PageLayout(budget=budget, more_line="98 Mas")
    ):
        assert septets(str(page)) <= budget
