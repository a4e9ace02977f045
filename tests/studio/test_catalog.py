"""The catalog page and review: channels as people meet them, sign-offs as the CSV writes them."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from shell.app import create_app
from sms.message import compose_tip
from studio.catalog_view import PAGE_SIZE
from tests.fixtures.studio import BASE_URL, StudioSetup, basic, log_in
from tests.fixtures.ussd import Phone
from willay.catalog import load_catalog
from willay.config import Environment
from willay.gsm7 import septets
from willay.signoff import load_signoffs, text_sha256

TIP = "tbc-tos-dos-semanas"
OTHER = "agua-lavar-cocinar-alimentos"


def items(page: str) -> list[tuple[str, str]]:
    """(tip id, language) of each catalog row on a page, in order."""
    return re.findall(r'data-tip="([^"]+)" data-lang="([^"]+)"', page)


def row(page: str, tip_id: str, lang: str) -> str:
    start = page.index(f'id="{tip_id}-{lang}"')
    end = page.find("<article", start)
    return page[start : end if end > 0 else len(page)]


class TestCatalogPage:
    def test_every_tip_in_every_language_with_filters(self, studio_client: TestClient):
        page = studio_client.get("/studio", auth=basic("nurse1"))
        assert page.status_code == 200
        assert sorted(items(page.text)) == sorted(
            (tip, lang) for tip in (TIP, OTHER) for lang in ("es", "quy", "quz")
        )
        assert "6 resultado(s)" in page.text
        assert items(studio_client.get("/studio?topic=tbc", auth=basic("nurse1")).text) == [
            (TIP, "es"),
            (TIP, "quy"),
            (TIP, "quz"),
        ]
        by_lang = studio_client.get("/studio?lang=quy", auth=basic("nurse1")).text
        assert sorted(items(by_lang)) == sorted([(TIP, "quy"), (OTHER, "quy")])
        pending = studio_client.get("/studio?state=pending&lang=es", auth=basic("nurse1")).text
        assert len(items(pending)) == 2
        approved = studio_client.get("/studio?state=approved", auth=basic("nurse1")).text
        assert items(approved) == [] and "Nada coincide" in approved

    def test_a_page_looks_the_sign_offs_up_once(
        self, studio_client: TestClient, monkeypatch: pytest.MonkeyPatch
    ):
        from studio.review import ReviewBook

        looked: list[int] = []
        real = ReviewBook.book
        monkeypatch.setattr(ReviewBook, "book", lambda self: looked.append(1) or real(self))
        page = studio_client.get("/studio?state=pending", auth=basic("nurse1"))
        assert page.status_code == 200 and len(items(page.text)) == 6
        assert len(looked) == 1

    def test_a_row_shows_the_ussd_screen_the_sms_and_the_source(
        self, studio_client: TestClient, studio_setup: StudioSetup
    ):
        page = studio_client.get("/studio?topic=tbc&lang=es", auth=basic("nurse1")).text
        shown = row(page, TIP, "es")
        screens = [
            html.unescape(s) for s in re.findall(r'<pre class="phone">(.*?)</pre>', shown, re.S)
        ]
        counts = [int(n) for n in re.findall(r"pág\. \d+/\d+ · (\d+) septetos", shown)]
        assert screens and len(screens) == len(counts)
        budget = studio_setup.settings.ussd_page_chars
        for screen, count in zip(screens, counts, strict=True):
            assert septets(screen) == count <= budget
        assert screens == self.dialled(studio_client, "Tuberculosis")

        catalog = load_catalog(studio_setup.settings.content_dir)
        sms = compose_tip(catalog.by_id[TIP], "es")
        parts = [html.unescape(s) for s in re.findall(r'<pre class="sms">(.*?)</pre>', shown, re.S)]
        assert parts == list(sms.parts)
        assert f"SMS: {sms.segments} segmento(s), {sms.septets} septetos" in shown
        assert html.escape(catalog.by_id[TIP].source.url) in shown
        assert "sin audio" in shown  # nothing built yet

    @staticmethod
    def dialled(client: TestClient, topic: str) -> list[str]:
        """The pages of the one tip of `topic`, read on a phone through the USSD journey."""
        phone = Phone(client)
        phone.dial()
        phone.press("1", "1")  # Español, Acepto
        screen = phone.press("2").screen  # Temas
        while (found := re.search(rf"^(\d+) {topic}", screen, re.M)) is None:
            screen = phone.press("98").screen
        pages = [phone.press(found[1]).screen]
        while re.search(r"^98 ", pages[-1], re.M):
            pages.append(phone.press("98").screen)
        return pages

    def test_a_language_without_its_own_text_says_which_it_uses(self, studio_client: TestClient):
        page = studio_client.get("/studio?lang=quz", auth=basic("maria")).text
        shown = row(page, OTHER, "quz")
        assert "usa el texto quy" in shown
        assert "Grabar" not in shown  # it cannot be recorded: it has no quz text

    def test_the_page_is_light_and_safe(self, studio_client: TestClient):
        page = studio_client.get("/studio", auth=basic("editor1"))
        assert len(page.content) < 40_000 * max(1, len(items(page.text)) // PAGE_SIZE + 1)
        assert re.findall(r"<script[^>]*src=\"([^\"]+)\"", page.text) == [
            "/studio/static/studio.js"
        ]
        assert "<script>" not in page.text  # no inline script: the CSP forbids it
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert 'name="viewport"' in page.text
        script = studio_client.get("/studio/static/studio.js")
        style = studio_client.get("/studio/static/studio.css")
        assert script.status_code == style.status_code == 200
        assert len(script.content) + len(style.content) < 16_000
        outside = studio_client.get("/studio/static/../routes.py")
        assert outside.status_code == 404 and outside.json()["error"] == "NotFound"

    def test_players_name_the_cached_files(
        self, studio_client: TestClient, studio_setup: StudioSetup, speech
    ):
        response = studio_client.put(
            f"/studio/api/recordings/{TIP}/es", content=speech.read_bytes(), auth=basic("editor1")
        )
        files = {f["format"]: f["url"] for f in response.json()["files"]}
        page = studio_client.get("/studio?topic=tbc&lang=es", auth=basic("nurse1")).text
        shown = row(page, TIP, "es")
        assert f'src="{files["call"]}"' in shown and f'src="{files["app"]}"' in shown
        assert 'preload="none"' in shown  # nothing downloads until someone presses play
        recorded = studio_client.get("/studio?recording=human", auth=basic("nurse1")).text
        assert items(recorded) == [(TIP, "es")]


class TestReview:
    @pytest.fixture(autouse=True)
    def _content(self, studio_setup: StudioSetup) -> None:
        self.content = studio_setup.settings.content_dir

    def sign(self, client: TestClient, who: str, lang: str, decision: str, **fields: str):
        catalog = load_catalog(self.content)
        body = {
            "tip_id": TIP,
            "lang": lang,
            "text_sha256": text_sha256(catalog.by_id[TIP].text[lang]),
            "decision": decision,
            **fields,
        }
        return client.post("/studio/api/signoffs", json=body, auth=basic(who))

    def test_approve_writes_the_same_sign_off_as_the_csv_import(
        self, studio_client: TestClient, studio_setup: StudioSetup
    ):
        response = self.sign(studio_client, "nurse1", "es", "approve", comment="Correcto.")
        assert response.status_code == 201, response.text
        assert response.json()["comment"] == "Correcto."
        content = studio_setup.settings.content_dir
        catalog = load_catalog(content)
        book = load_signoffs(content)
        (record,) = book.history(TIP, "es")
        assert (record.kind, record.reviewer, record.role, record.decision, record.via) == (
            "clinical",
            "Rosa Quispe",
            "Obstetra, COP 12345",
            "approve",
            "studio",
        )
        assert record.text_sha256 == text_sha256(catalog.by_id[TIP].text["es"])
        assert catalog.signoffs.servable(catalog.by_id[TIP], language="es", today=record.date)
        page = studio_client.get("/studio?state=approved", auth=basic("nurse1")).text
        assert items(page) == [(TIP, "es")]
        assert "se sirve en producción" in row(page, TIP, "es")
        audit = (studio_setup.settings.studio_dir / "audit.jsonl").read_text()
        assert '"user": "nurse1"' in audit and f"tip:{TIP}.es" in audit

    def test_a_language_approval_needs_a_back_translation(
        self, studio_client: TestClient, studio_setup: StudioSetup
    ):
        refused = self.sign(studio_client, "maria", "quy", "approve")
        assert refused.status_code == 400 and "back-translation" in refused.json()["detail"]
        ok = self.sign(
            studio_client, "maria", "quy", "approve", back_translation="Si toses dos semanas..."
        )
        assert ok.status_code == 201, ok.text
        record = ok.json()
        assert (record["kind"], record["reviewer"]) == ("language", "María Huamán")
        page = studio_client.get("/studio?lang=quy&topic=tbc", auth=basic("nurse1")).text
        shown = row(page, TIP, "quy")
        assert "aprobado" in shown and "de vuelta: Si toses dos semanas..." in shown
        assert "no se sirve en producción" in shown  # the Spanish is not signed yet

    def test_a_rejection_says_why(self, studio_client: TestClient):
        refused = self.sign(studio_client, "nurse1", "es", "reject")
        assert refused.status_code == 400
        assert refused.json()["detail"] == f"{TIP}/es: a rejection says why (comment)"
        ok = self.sign(studio_client, "nurse1", "es", "reject", comment="Falta el 106.")
        assert ok.status_code == 201 and ok.json()["comment"] == "Falta el 106."
        page = studio_client.get("/studio?state=rejected", auth=basic("nurse1")).text
        assert items(page) == [(TIP, "es")] and "Falta el 106." in page

    def test_a_text_changed_since_it_was_read_is_refused(
        self, studio_client: TestClient, studio_setup: StudioSetup
    ):
        body = {"tip_id": TIP, "lang": "es", "text_sha256": "0" * 64, "decision": "approve"}
        response = studio_client.post("/studio/api/signoffs", json=body, auth=basic("nurse1"))
        assert response.status_code == 400
        assert "text changed" in response.json()["detail"]
        assert not (studio_setup.settings.content_dir / "signoffs.jsonl").exists()

    def test_the_browser_form_records_and_comes_back_to_the_same_view(
        self, studio_client: TestClient, studio_setup: StudioSetup
    ):
        csrf = log_in(studio_client, "nurse1")
        catalog = load_catalog(studio_setup.settings.content_dir)
        response = studio_client.post(
            "/studio/review",
            data={
                "csrf": csrf,
                "tip_id": TIP,
                "lang": "es",
                "text_sha256": text_sha256(catalog.by_id[TIP].text["es"]),
                "decision": "approve",
                "comment": "Bien.",
                "back": "/studio?topic=tbc&page=1",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"].startswith("/studio?topic=tbc&page=1&notice=")
        page = studio_client.get(response.headers["location"]).text
        assert "aprobado por Rosa Quispe" in page
        assert load_signoffs(studio_setup.settings.content_dir).history(TIP, "es")

    def test_only_reviewers_see_the_forms_for_their_texts(self, studio_client: TestClient):
        nurse = studio_client.get("/studio?topic=tbc", auth=basic("nurse1")).text
        assert 'action="/studio/review"' in row(nurse, TIP, "es")
        assert 'action="/studio/review"' not in row(nurse, TIP, "quy")
        maria = studio_client.get("/studio?topic=tbc", auth=basic("maria")).text
        assert "back_translation" in row(maria, TIP, "quy")
        assert 'action="/studio/review"' not in row(maria, TIP, "es")
        assert 'action="/studio/review"' not in row(maria, TIP, "quz")
        editor = studio_client.get("/studio?topic=tbc", auth=basic("editor1")).text
        assert 'action="/studio/review"' not in editor


def test_in_production_the_studio_still_shows_and_signs_the_drafts(
    studio_setup: StudioSetup, redis_url: str, redis_prefix: str, raw_redis
):
    settings = studio_setup.settings.model_copy(
        update={
            "environment": Environment.production,
            "callback_token": SecretStr("studio-test-callback-token-2f9c1e7a"),
            "public_url": "https://willay.example.org",
            "redis_url": redis_url,
            "redis_prefix": redis_prefix,
        }
    )
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert client.get("/readyz").json()["servable_tips"]["es"] == 0
        page = client.get("/studio?lang=es", auth=basic("nurse1")).text
        assert sorted(items(page)) == [(OTHER, "es"), (TIP, "es")]
        assert "no se sirve en producción" in row(page, TIP, "es")
        catalog = load_catalog(settings.content_dir)
        body = {
            "tip_id": TIP,
            "lang": "es",
            "text_sha256": text_sha256(catalog.by_id[TIP].text["es"]),
            "decision": "approve",
        }
        signed = client.post("/studio/api/signoffs", json=body, auth=basic("nurse1"))
        assert signed.status_code == 201 and signed.json()["decision"] == "approve"
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert client.get("/readyz").json()["servable_tips"]["es"] == 1
