from hypothesis import given
from hypothesis import strategies as st

from willay.gsm7 import is_gsm7, septets, to_gsm7


def test_spanish_keeps_gsm_letters_and_drops_other_accents() -> None:
    assert to_gsm7("¿Cómo está el niño? ¡Sí, único!") == "¿Como esta el niño? ¡Si, unico!"


def test_quechua_apostrophes_and_typography_become_gsm() -> None:
    assert to_gsm7("ch’aki “unu” – 5…") == 'ch\'aki "unu" - 5...'


def test_extension_characters_count_twice() -> None:
    assert septets("a€[b]") == 8
    assert septets("Ñandú") == 5


@given(st.text(max_size=200))
def test_transliteration_always_gives_gsm7(text: str) -> None:
    converted = to_gsm7(text)
    assert is_gsm7(converted)
    assert to_gsm7(converted) == converted
