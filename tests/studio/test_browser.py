"""The studio in headless Chromium: log in, filter, approve, record with a fake microphone,
play it, then hear it in the simulated call."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from audio_cache.encode import load
from tests.fixtures.browser import chromium
from tests.fixtures.studio import PASSWORDS, read_aloud, studio_settings
from willay.catalog import load_catalog

pytestmark = pytest.mark.browser

TIP = "tbc-tos-dos-semanas"
WAIT = 60  # seconds: a recording is encoded and rendered before the page answers


@pytest.fixture
def microphone(tmp_path: Path) -> Path:
    """What the fake microphone hears: the tip's Chanka Quechua text read by espeak-ng."""
    catalog = load_catalog(studio_settings(tmp_path / "text", (TIP,)).content_dir)
    return read_aloud(catalog.by_id[TIP].text["quy"], tmp_path / "mic.wav", voice="qu")


@pytest.fixture
def browser(tmp_path: Path, microphone: Path) -> Iterator[webdriver.Chrome]:
    driver = chromium(
        tmp_path / "profile",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    )
    try:
        yield driver
    finally:
        driver.quit()


def playing(driver: webdriver.Chrome, element_id: str | None = None, css: str = "") -> bool:
    """Whether an audio element has played some of its file."""
    script = (
        "const a = arguments[0] ? document.getElementById(arguments[0]) "
        ": document.querySelector(arguments[1]);"
        "return a !== null && a.error === null && a.currentTime > 0;"
    )
    return bool(driver.execute_script(script, element_id, css))


def test_a_speaker_logs_in_reviews_records_and_hears_it_in_the_call(
    browser: webdriver.Chrome, serve, tmp_path: Path, microphone: Path
):
    settings = studio_settings(tmp_path / "studio", (TIP,))
    base = serve(settings)
    wait = WebDriverWait(browser, WAIT)

    # log in: the catalog asks for it first
    browser.get(f"{base}/studio?lang=quy")
    wait.until(ec.presence_of_element_located((By.ID, "login")))
    browser.find_element(By.ID, "name").send_keys("maria")
    browser.find_element(By.ID, "password").send_keys(PASSWORDS["maria"])
    browser.find_element(By.ID, "login").click()
    wait.until(ec.presence_of_element_located((By.ID, "filters")))
    assert "maria (language-reviewer quy)" in browser.page_source

    # filter: one topic, one language
    Select(browser.find_element(By.ID, "f-topic")).select_by_value("tbc")
    Select(browser.find_element(By.ID, "f-lang")).select_by_value("quy")
    browser.find_element(By.ID, "f-apply").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "1 resultado(s)"))
    article = browser.find_element(By.ID, f"{TIP}-quy")
    assert "sin firma" in article.text

    # approve, with the back-translation a clinician can read
    article.find_element(By.NAME, "back_translation").send_keys("Si toses mas de 2 semanas...")
    article.find_element(By.NAME, "comment").send_keys("Allinmi.")
    article.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".notice")))
    assert "aprobado por María Huamán" in browser.find_element(By.CSS_SELECTOR, ".notice").text
    article = browser.find_element(By.ID, f"{TIP}-quy")
    assert "aprobado" in article.text and "Si toses mas de 2 semanas" in article.text

    # record: the fake microphone reads the text; listen; send
    article.find_element(By.CSS_SELECTOR, "a.record").click()
    wait.until(ec.element_to_be_clickable((By.ID, "rec-start"))).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "rec-status"), "Grabando"))
    time.sleep(len(load(microphone)) / 1000 + 1)  # the whole text, then a breath
    browser.find_element(By.ID, "rec-stop").click()
    wait.until(ec.element_to_be_clickable((By.ID, "rec-send")))
    assert browser.find_element(By.ID, "rec-preview").get_attribute("src").startswith("blob:")
    browser.find_element(By.ID, "rec-send").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#rec-result .served")))
    served = {
        p.get_attribute("data-format"): p.get_attribute("data-url")
        for p in browser.find_elements(By.CSS_SELECTOR, "#rec-result .served")
    }
    assert set(served) == {"call", "app"}
    assert "Guardada" in browser.find_element(By.ID, "rec-status").text
    provenance = (settings.recordings_dir / f"{TIP}.quy.json").read_text()
    assert '"speaker": "maria"' in provenance and '"original": "webm"' in provenance

    # play: the catalog now offers the human voice
    browser.get(f"{base}/studio?topic=tbc&lang=quy")
    player = f'#{TIP}-quy audio[src="{served["call"]}"]'
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, player)))
    assert browser.find_element(By.CSS_SELECTOR, player).get_attribute("data-source") == "human"
    browser.execute_script("document.querySelector(arguments[0]).play()", player)
    wait.until(lambda d: playing(d, None, player))

    # hear the call: the IVR flow plays that recording for that tip
    browser.get(f"{base}/studio/call")
    wait.until(ec.element_to_be_clickable((By.ID, "call-dial"))).click()
    log = (By.CSS_SELECTOR, "#call-log li")
    wait.until(ec.text_to_be_present_in_element((By.ID, "call-log"), "choose_language"))
    for key, expected in (("2", "consent"), ("1", "main"), ("1", "feedback")):
        browser.find_element(By.CSS_SELECTOR, f'.keypad .key[data-key="{key}"]').click()
        wait.until(
            lambda d, expected=expected: (
                d.find_elements(*log)[-1].get_attribute("data-id") == expected
            )
        )
    tip = next(li for li in browser.find_elements(*log) if li.get_attribute("data-kind") == "tip")
    assert (tip.get_attribute("data-id"), tip.get_attribute("data-lang")) == (TIP, "quy")
    assert tip.get_attribute("data-source") == "human"
    assert tip.get_attribute("data-url") == served["call"]
    audio = browser.find_element(By.ID, "call-audio")
    wait.until(lambda d: re.search(re.escape(served["call"]) + "$", audio.get_attribute("src")))
    wait.until(lambda d: playing(d, "call-audio"))
