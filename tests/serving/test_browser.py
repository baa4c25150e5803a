"""The voice page in headless Chromium with a fake microphone playing a spoken question."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import TINY_PACKAGE_REPLY, need
from tests.serving.helpers import encode_as, speech_wave

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"


def test_record_send_and_hear_the_reply(served, tmp_path):
    need(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    url = served[0]
    mic = tmp_path / "question.wav"
    # the fake device loops the file; silence around the question like a real take
    import numpy as np
    w = speech_wave("What is the capital of France?")
    pad = np.zeros(4000, np.float32)
    mic.write_bytes(encode_as(np.concatenate([pad, w, pad]), "wav"))
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={mic}",
            "--autoplay-policy=no-user-gesture-required"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.click("#record")
            page.wait_for_selector("body[data-state=recording]")
            page.wait_for_timeout(2500)
            page.click("#stop")
            page.wait_for_selector("body[data-state=done]", timeout=60_000)
            assert page.inner_text("#reply-0") == TINY_PACKAGE_REPLY
            assert int(page.get_attribute("body", "data-audio-received")) == 3
            page.wait_for_function("Number(document.body.dataset.audioPlayed || 0) >= 1", timeout=30_000)
            assert "sound tokens" in page.inner_text(".turn.user")
            shot = tmp_path / "voice_page.png"
            page.screenshot(path=str(shot), full_page=True)
            shutil.copy(shot, "/tmp/ichigo_voice_page.png")  # for a human to look at
            # a second turn sends the first one as history
            page.click("#record")
            page.wait_for_timeout(1500)
            page.click("#stop")
            page.wait_for_selector("#reply-2", timeout=30_000)
            page.wait_for_selector("body[data-state=done]", timeout=60_000)
            assert page.inner_text("#reply-2").strip()
        finally:
            browser.close()
