import datetime as dt
import re

import pytest

from tests.fixtures.catalog import raw_tip, write_content
from willay.catalog import Zone, load_catalog
from willay.config import Settings
from willay.errors import ContentError
from willay.gsm7 import to_gsm7


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(Settings().content_dir)


class TestShippedCatalog:
    def test_size_and_topics(self, catalog) -> None:
        assert len(catalog.tips) >= 60
        assert len(catalog.topics) >= 10
        assert {t.topic for t in catalog.tips} == {t.id for t in catalog.topics}

    def test_one_quechua_variant_is_complete_in_three_vowels(self, catalog) -> None:
        complete = [code for code in ("quy", "quz") if all(t.text.get(code) for t in catalog.tips)]
        assert complete
        words = [w for t in catalog.tips for w in re.findall(r"\w+", t.text[complete[0]])]
        with_e_or_o = [w for w in words if re.search(r"[eoéó]", w.lower())]
        # only Spanish loanwords (dengue, anemia, presion...) may carry e or o
        assert len(with_e_or_o) / len(words) < 0.08, sorted(set(with_e_or_o))

    def test_every_tip_is_governed_and_sourced(self, catalog) -> None:
        for tip in catalog.tips:
            assert tip.source.url.startswith("https://")
            assert set(tip.review) <= set(tip.text) - {"es"}

    def test_chanka_has_no_aspirates_or_ejectives(self, catalog) -> None:
        for tip in catalog.tips:
            assert not re.search(r"(ph|th|chh|kh|qh)[aiu]|[ptkq]'", tip.text["quy"]), tip.id

    def test_seasonal_tips_match_the_sources(self, catalog) -> None:
        dengue = [t for t in catalog.tips if t.topic == "dengue" and t.months]
        assert dengue and all(t.months <= {1, 2, 3, 4, 5, 6} for t in dengue)
        assert all(Zone.sierra not in t.zones for t in dengue)
        for tip in dengue:  # all year in the selva, February-May on the coast
            assert all(tip.in_season(m, Zone.selva) for m in range(1, 13)), tip.id
            assert tip.in_season(3, Zone.costa) and not tip.in_season(11, Zone.costa), tip.id
            assert tip.in_season(11, None), tip.id
        heladas = [t for t in catalog.tips if t.topic == "heladas" and t.months]
        assert heladas and all(t.months <= {4, 5, 6, 7, 8, 9} for t in heladas)

    def test_summary_counts_languages(self, catalog) -> None:
        n = len(catalog.tips)
        quz = sum(1 for t in catalog.tips if "quz" in t.text)
        expected = (
            f"{n} tips in {len(catalog.topics)} topics; es {n}/{n}, quy {n}/{n}, quz {quz}/{n}"
            f"; signed off es 0/{n}, quy 0/{n}, quz 0/{quz}"
        )
        assert catalog.summary() == expected

    def test_every_tip_cites_a_document_not_a_homepage(self, catalog) -> None:
        assert [t.id for t in catalog.tips if t.source.is_homepage] == []
        assert len({t.source.url for t in catalog.tips}) >= 20

    def test_no_review_date_without_a_signoff(self, catalog) -> None:
        for path in (Settings().content_dir / "tips").glob("*.yaml"):
            text = path.read_text(encoding="utf-8")
            assert "reviewed_on" not in text and "pendiente" not in text, path.name

    def test_plain_words(self, catalog) -> None:
        jargon = ("agua segura", "establecimiento de salud", "filtro uv", "esputo", "decaído")
        for tip in catalog.tips:
            assert not [w for w in jargon if w in tip.text["es"].lower()], tip.id

    def test_emergencies_send_people_to_the_health_centre_before_any_number(self, catalog) -> None:
        urgent = [t for t in catalog.tips if "No esperes." in t.text["es"]]
        assert len(urgent) >= 5
        for tip in catalog.tips:
            es = tip.text["es"]
            if "106" in es or tip in urgent:
                assert "centro de salud" in es, tip.id
                if "106" in es:
                    assert es.index("centro de salud") < es.index("106"), tip.id

    def test_corrected_danger_signs(self, catalog) -> None:
        dengue = catalog.by_id["dengue-signos-alarma"].text
        assert "fiebre baja" in dengue["es"] and "sueño" in dengue["es"]
        assert "urayaptin" in dengue["quy"]  # "when the fever goes down", not "with fever"
        pregnancy = catalog.by_id["embarazo-signos-alarma"].text["es"]
        assert "se mueve menos" in pregnancy and "antes de tiempo" in pregnancy
        pressure = catalog.by_id["embarazo-presion-alta-signos"].text
        assert all(w in pressure["es"] for w in ("lucecitas", "zumban", "boca del estómago"))
        assert set(pressure) == {"es", "quy", "quz"} and pressure.keys() - {"es"} == set(
            catalog.by_id["embarazo-presion-alta-signos"].review
        )
        water = catalog.by_id["agua-hervir"].text["es"]
        assert "1 minuto" in water and "3 minutos" in water and "solo pecho" in water
        assert "4 meses" in catalog.by_id["anemia-hierro-gratis"].text["es"]
        assert "familia" in catalog.by_id["tbc-tratamiento-completo"].text["es"]
        assert (
            "un mes después del parto" in catalog.by_id["embarazo-hierro-acido-folico"].text["es"]
        )
        assert "entrada de aire" in catalog.by_id["heladas-preparar-casa"].text["es"]

    def test_second_review_corrections(self, catalog) -> None:
        # MINSA: "somnolencia o irritabilidad" (irritable, not "irritación")
        dengue = catalog.by_id["dengue-signos-alarma"].text["es"]
        assert "irritable" in dengue and "irritación" not in dengue
        # no water for babies under 6 months, in every tip that tells children to drink
        assert "sin agua" in catalog.by_id["sol-tomar-agua"].text["es"]
        # NTS 213: preterm or low-birth-weight babies get iron drops from 30 days
        assert "primer mes" in catalog.by_id["anemia-hierro-gratis"].text["es"]
        assert "No esperes." in catalog.by_id["cronicas-derrame-signos"].text["es"]
        assert "healthywater" not in catalog.by_id["agua-hervir"].source.url

    def test_texts_survive_transliteration(self, catalog) -> None:
        for tip in catalog.tips:
            for text in tip.text.values():
                assert to_gsm7(text).count("?") == text.count("?"), tip.id


class TestValidation:
    def test_every_problem_is_reported(self, tmp_path) -> None:
        tips = [
            raw_tip(),
            raw_tip(),
            raw_tip(id="anemia-2", text={"es": "Solo castellano."}),
            raw_tip(id="anemia-3", regions=["atlantis"]),
            raw_tip(id="anemia-4", source={"name": "x", "short": "Minsa", "url": "http://x"}),
            raw_tip(id="anemia-5", zones=["sierra"], seasons={"selva": "all"}),
            raw_tip(
                id="anemia-6",
                source={"name": "OMS", "short": "OMS", "url": "https://www.who.int/es"},
            ),
        ]
        with pytest.raises(ContentError) as caught:
            load_catalog(write_content(tmp_path, tips))
        problems = caught.value.problems
        assert "tip anemia-1: duplicate id" in problems
        assert "tip anemia-2: missing Quechua text (quy or quz)" in problems
        assert "tip anemia-3: unknown region 'atlantis'" in problems
        assert any(p.startswith("anemia.yaml[4]: source.name") for p in problems)
        assert any(p.startswith("anemia.yaml[4]: source.url") for p in problems)
        assert "tip anemia-5: a season for selva, a zone the tip is not for" in problems
        assert "tip anemia-6: source.url is a homepage; cite the document itself" in problems

    def test_unknown_topic_and_missing_folder(self, tmp_path) -> None:
        with pytest.raises(ContentError, match="unknown topic 'dengue'"):
            load_catalog(write_content(tmp_path, [raw_tip(topic="dengue")], topics=["anemia"]))
        with pytest.raises(ContentError, match="content folder not found"):
            load_catalog(tmp_path / "nowhere")

    def test_expired_tips_are_not_current_and_near_expiry_is_reported(self, tmp_path) -> None:
        tips = [raw_tip(), raw_tip(id="anemia-2", expires_on="2026-03-01")]
        catalog = load_catalog(write_content(tmp_path, tips))
        today = dt.date(2026, 2, 1)
        assert [t.id for t in catalog.expiring(today, 60)] == ["anemia-2"]
        later = dt.date(2026, 3, 1)
        assert [t.id for t in catalog.current_tips(later)] == ["anemia-1"]
