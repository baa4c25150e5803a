"""The hands-free voice page in headless Chromium, with a fake microphone that loops a spoken
question: the page hears it (server VAD), shows the transcript and the reply, plays the reply's
audio, and the next loop of the question interrupts the reply (barge-in), which is then answered."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need
from tests.serving.helpers import encode_as, speech_wave

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"


def _browser(p, mic: Path):
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={mic}",
            "--autoplay-policy=no-user-gesture-required"]
    return p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)


def test_hands_free_turn_and_barge_in(served, tmp_path):
    need(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    url = served[0]
    mic = tmp_path / "question.wav"
    # the fake device loops the file: question, then a pause long enough for the VAD to end the
    # turn and the reply to start speaking, then the question again (the barge-in)
    q = speech_wave("What is the capital of France?")
    mic.write_bytes(encode_as(np.concatenate([np.zeros(8000, np.float32), q, np.zeros(24000, np.float32)]), "wav"))
    with sync_playwright() as p:
        browser = _browser(p, mic)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.click("#start")
            page.wait_for_selector("body[data-state=listening]", timeout=30_000)
            # heard, answered in text and speech
            page.wait_for_selector(".turn.user", timeout=30_000)
            page.wait_for_selector(".turn.assistant .text:not(:empty)", timeout=60_000)
            page.wait_for_function("Number(document.body.dataset.audioReceived || 0) >= 1", timeout=60_000)
            page.wait_for_function("Number(document.body.dataset.audioPlayed || 0) > 0", timeout=60_000)
            # the user's side is transcribed by the model itself
            page.wait_for_selector(".turn.user.transcribed", timeout=60_000)
            # interrupted by the next utterance, and that one is answered
            page.wait_for_selector(".turn.assistant.cancelled", timeout=60_000)
            page.wait_for_function("document.querySelectorAll('.turn.assistant').length >= 2", timeout=60_000)
            page.wait_for_selector(".turn.assistant:nth-last-of-type(1) .meta:has-text('first audio')",
                                   timeout=60_000)
            meta = page.inner_text(".turn.assistant .meta")
            assert "first text" in meta and "ms" in meta
            # the text box works beside the microphone
            page.fill("#text", "Hello")
            page.press("#text", "Enter")
            page.wait_for_selector(".turn.user:has-text('Hello')", timeout=10_000)
            shot = tmp_path / "voice_page.png"
            page.screenshot(path=str(shot), full_page=True)
            shutil.copy(shot, "/tmp/ichigo_voice_page.png")  # for a human to look at
        finally:
            browser.close()


def test_blocked_microphone_is_explained(served, tmp_path):
    need(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--deny-permission-prompts"])
        try:
            page = browser.new_page()
            page.goto(served[0] + "/")
            page.click("#start")
            page.wait_for_selector("#error:has-text('microphone')", timeout=30_000)
            assert page.is_enabled("#text")  # typing still works
        finally:
            browser.close()
