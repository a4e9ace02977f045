"""Willay Lite in headless Chromium on real Redis and Mosquitto: the first visit within its data
budget, the shell, pack and a heard clip without network, feedback given offline arriving once,
and an alert published while the page is open appearing without a reload."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from bench.app_bytes import BUDGET
from shell.app import create_app
from tests.fixtures.alerts import make_alert
from tests.fixtures.browser import WAIT, Served
from willay.events import MemoryEventSink

pytestmark = [pytest.mark.browser, pytest.mark.redis]


class Page:
    """The app as a person sees it."""

    def __init__(self, driver, served: Served) -> None:
        self.driver = driver
        self.served = served
        self.wait = WebDriverWait(driver, WAIT)

    def open(self) -> None:
        self.driver.get(self.served.url + "/app")

    def tap(self, label: str) -> None:
        xpath = (
            f"//button[normalize-space()='{label}' or starts-with(normalize-space(), '{label} (')]"
        )
        try:
            self.wait.until(ec.element_to_be_clickable((By.XPATH, xpath))).click()
        except TimeoutException:
            pytest.fail(f"no button {label!r}; the page shows {self.text()!r}")

    def text(self, element: str = "main") -> str:
        return self.driver.find_element(By.ID, element).text

    def until(self, condition, what: str):
        try:
            return WebDriverWait(self.driver, WAIT).until(lambda d: condition())
        except TimeoutException:
            pytest.fail(f"timed out waiting for {what}; the page shows {self.text()!r}")

    def state(self) -> dict:
        return json.loads(self.driver.execute_script("return localStorage.getItem('willay')"))

    def first_visit(self) -> str:
        """Language, consent, a tip for me: the id of the tip shown."""
        self.open()
        self.tap("Español")
        self.tap("Acepto")
        self.tap("Consejo para mí")
        tip = self.until(lambda: self.driver.find_elements(By.ID, "tip"), "a tip")[0]
        return tip.get_attribute("data-id")

    def service_worker_ready(self) -> None:
        self.until(
            lambda: (
                self.driver.execute_script(
                    "return !!(navigator.serviceWorker && navigator.serviceWorker.controller)"
                )
                or self.driver.execute_script(
                    "navigator.serviceWorker.ready.then(() => 0); return false"
                )
            ),
            "the service worker",
        )

    def network(self, *, online: bool) -> None:
        """Signal lost or back: the server goes away (for the page and its service worker)."""
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": not online, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        (self.served.start if online else self.served.stop)()


@pytest.fixture
def lite_settings(alert_settings, built_audio):
    """Real Redis and broker; the session's small catalog with its rendered Opus clips."""
    audio = built_audio.settings
    return alert_settings.model_copy(
        update={"content_dir": audio.content_dir, "audio_dir": audio.audio_dir}
    )


@pytest.fixture
def events() -> MemoryEventSink:
    return MemoryEventSink()


@pytest.fixture
def page(app_browser, serve_app, lite_settings, events) -> Page:
    """The page on the app served with the real clock (the browser's)."""
    return Page(app_browser, serve_app(create_app(lite_settings, events=events)))


def app_events(events: MemoryEventSink, kind: str) -> list:
    return [e for e in events.events if e.channel == "app" and e.kind == kind]


def test_first_visit_within_budget_and_no_audio_under_save_data(page, app_browser):
    app_browser.execute_cdp_cmd("Network.enable", {})
    app_browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Save-Data": "on"}})
    tip_id = page.first_visit()
    page.service_worker_ready()
    time.sleep(1)  # anything the page would fetch after showing the tip
    counter = page.served.counter
    assert counter.total() <= BUDGET["first_visit"], dict(counter.sent)
    assert not [p for p in counter.requests if p.startswith("/audio/")]  # nothing prefetched
    assert page.state()["saveData"] is True
    page.tap("Escuchar")  # on demand: now, and only now, the clip
    page.until(lambda: any(p.startswith("/audio/") for p in counter.requests), "the clip")
    assert tip_id


def test_offline_shell_pack_and_a_heard_clip(page, app_browser):
    tip_id = page.first_visit()
    page.service_worker_ready()
    page.tap("Escuchar")
    page.until(
        lambda: (
            app_browser.execute_script("return document.getElementById('player').src") or ""
        ).startswith("blob:"),
        "the clip to load",
    )
    page.network(online=False)
    app_browser.refresh()  # no server: the service worker serves the page
    page.until(lambda: page.driver.find_elements(By.ID, "tip"), "the tip, offline")
    assert page.driver.find_element(By.ID, "tip").get_attribute("data-id") == tip_id
    assert "Sin señal" in page.text("net")
    page.tap("Escuchar")  # the clip heard before plays from the cache
    duration = page.until(
        lambda: app_browser.execute_script(
            "const p = document.getElementById('player');"
            "return p && p.src.startsWith('blob:') && p.readyState > 0 && p.duration"
        ),
        "the heard clip to play offline",
    )
    assert duration > 0.5
    page.tap("Inicio")
    page.tap("Consejo para mí")  # the next tip comes from the queue and pack kept on the phone
    shown = page.until(lambda: page.driver.find_elements(By.ID, "tip"), "another tip")[0]
    assert shown.get_attribute("data-id") != tip_id


def test_feedback_given_offline_arrives_once(page, app_browser, events):
    tip_id = page.first_visit()
    page.service_worker_ready()
    page.until(lambda: app_events(events, "tip_served"), "the tip_served event")
    page.network(online=False)
    page.tap("Me sirvió")
    assert "¡Gracias!" in page.text()
    time.sleep(1)
    assert app_events(events, "feedback") == []
    (queued,) = [e for e in page.state()["outbox"] if e["kind"] == "feedback"]
    page.network(online=True)
    page.until(lambda: not page.state()["outbox"], "the queue to empty")
    (feedback,) = app_events(events, "feedback")
    assert feedback.id == queued["id"] and feedback.data["tip_id"] == tip_id
    assert feedback.data["useful"] is True and "propensity" in feedback.data
    # the answer to that request lost: the app sends the batch again, the server counts it once
    app_browser.execute_script(
        "const s = JSON.parse(localStorage.getItem('willay'));"
        "return fetch('/app/events', {method: 'POST',"
        " headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({install: s.install, events: [arguments[0]]})}).then(r => r.json())",
        queued,
    )
    time.sleep(0.5)
    assert len(app_events(events, "feedback")) == 1


def test_an_alert_appears_while_the_page_is_open(
    page, app_browser, editor_board, events, lite_settings
):
    page.first_visit()
    page.tap("Inicio")
    region = page.driver.find_element(By.ID, "region")
    region.find_element(By.CSS_SELECTOR, "option[value='puno']").click()
    time.sleep(0.5)  # the stream reopens for Puno
    alert = make_alert(lite_settings, now=dt.datetime.now(dt.UTC))
    started = time.monotonic()
    editor_board.publish(alert)
    page.until(lambda: alert.text["es"] in page.text("alerts"), "the alert, without reload")
    elapsed = time.monotonic() - started
    assert elapsed < 5
    page.until(lambda: app_events(events, "alert_seen"), "alert_seen")
    (seen,) = app_events(events, "alert_seen")
    assert seen.data == {"alert_id": alert.id, "region": "puno"}
    (delivered,) = app_events(events, "alert_delivered")
    assert delivered.data["alert_id"] == alert.id and delivered.data["region"] == "puno"
    app_browser.refresh()  # found again on the next open
    page.until(lambda: alert.text["es"] in page.text("alerts"), "the alert on reopening")
