"""The web page (``llm-train web``, llm/web/app.py): the command, and the page itself driven by a real browser
(Playwright + Debian's chromium; skipped cleanly where either is missing). Its parts: test_runs.py, test_chat.py,
test_compare.py."""

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from llm.commands import main
from llm.data.cards import to_tavern_v2, write_png_card
from tests.helpers.ports import free_port
from tests.helpers.web import CARD, write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_command_serves_on_loopback_by_default(checkpoint, tmp_path, monkeypatch, capsys):
    pytest.importorskip("gradio")
    served = {}
    monkeypatch.setattr(
        "llm.commands.web.launch",
        lambda page, host, port, block, files: served.update(host=host, port=port, files=files),
    )
    png = tmp_path / "mira.png"
    write_png_card(png, to_tavern_v2(CARD))
    assert main(["web", "--model", str(checkpoint), "--character", str(png), "--runs", str(tmp_path)]) == 0
    assert served == {"host": "127.0.0.1", "port": 7860, "files": [str(tmp_path), str(png)]}
    assert main(["web", "--host", "0.0.0.0", "--port", "8080"]) == 0
    assert (
        served["host"] == "0.0.0.0"
        and served["port"] == 8080
        and "anyone who reaches it" in capsys.readouterr().out
    )


def test_the_command_refuses_bad_flags_in_one_line(tmp_path, capsys):
    assert main(["web", "--port", "70000"]) == 2
    assert "--port 70000: must be in 1..65535" in capsys.readouterr().err
    bad = tmp_path / "card.json"
    bad.write_text(json.dumps({"spec": "chara_card_v2", "data": {"name": 3}}))
    assert main(["web", "--character", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err


# ── the page in a real browser ───────────────────────────────────────────────────────────────────────


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (make setup installs Debian's package as root)")
def test_the_page_in_chromium(checkpoint, tmp_path):
    """Headless Chromium: a card PNG is dropped and shown, a message gets a streamed reply from a tiny
    checkpoint, the compare view shows two columns, the runs view draws curves; a screenshot of each."""
    pytest.importorskip("gradio")
    sync_api = pytest.importorskip("playwright.sync_api")
    from llm.web.app import PageSettings, build_app, launch

    png = tmp_path / "mira.png"
    write_png_card(png, to_tavern_v2(CARD), Image.new("RGB", (96, 96), (40, 90, 160)))
    write_run(tmp_path / "runs" / "sft")
    shots = Path(os.environ.get("LLM_WEB_SCREENSHOTS", tmp_path))
    page_app = build_app(PageSettings(model=str(checkpoint), runs=str(tmp_path / "runs")))
    url = launch(page_app, port=free_port(), block=False)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 860})
            page.set_default_timeout(30_000)
            sync_api.expect.set_options(timeout=30_000)  # a loaded machine: generous, the test takes ~10 s
            page.goto(url)
            # chat: the card, then a message whose reply is watched as it grows
            page.locator("#user-name textarea, #user-name input").first.fill("Sam")
            page.set_input_files("#card input[type=file]", str(png))
            sync_api.expect(page.locator("#card-info")).to_contain_text("Mira")
            sync_api.expect(page.locator("#chatbot")).to_contain_text("Welcome to the lighthouse, Sam.")
            sync_api.expect(page.locator("#card-image img")).to_be_visible()
            # the card's other greeting opens a new chat; then back to the first
            for pick, text in ((2, "The lamp is lit, Sam. Sit."), (1, "Welcome to the lighthouse, Sam.")):
                page.locator("#greeting input").click()
                page.get_by_role("option", name=f"{pick}: ").click()
                sync_api.expect(page.locator("#chatbot")).to_contain_text(text)
                assert page.locator("#chatbot").inner_text().count("Sam.") == 1
            page.get_by_text("Sampling").click()
            page.locator("#message textarea").fill("Hello, who are you?")
            page.evaluate(GROWTH_WATCHER)
            page.locator("#send").click()
            sync_api.expect(page.locator("#prompt .trained").first).to_be_visible()
            lengths = page.evaluate("window.__replyLengths")
            assert len(set(lengths)) >= 2, lengths  # the reply was seen at two lengths at least: streamed
            chat = page.locator("#chatbot")
            assert chat.inner_text().count("Hello, who are you?") == 1
            # regenerate: the last reply is drawn again, the user's message stays once
            before = page.locator("#prompt").inner_text()
            page.locator("#regenerate").click()
            sync_api.expect(page.locator("#prompt")).not_to_have_text(before)
            assert chat.inner_text().count("Hello, who are you?") == 1
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(shots / "web-chat.png"))
            # edit the user's message (greeting 0, message 1, reply 2): what followed goes, it is answered again
            chat.get_by_role("button", name="Edit").nth(1).click()
            chat.locator("textarea").fill("Who keeps this light?")
            chat.get_by_role("button", name="Submit").click()
            sync_api.expect(page.locator("#prompt")).to_contain_text("Who keeps this light?")
            assert "Hello, who are you?" not in chat.inner_text()
            assert (
                page.locator("#prompt").inner_text().count("<|im_start|>assistant") == 2
            )  # greeting, new reply
            # compare: two checkpoints (the same one twice) side by side
            page.get_by_role("tab", name="Compare").click()
            page.locator("#compare-temperature input[type=number]").fill("1")
            page.locator("#compare-run").click()
            sync_api.expect(page.locator(".compare-column")).to_have_count(2, timeout=60_000)
            page.locator("#compare-result").scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "web-compare.png"))
            # runs: the loss curve drawn
            page.get_by_role("tab", name="Runs").click()
            sync_api.expect(page.locator("#plot-loss canvas, #plot-loss svg").first).to_be_visible()
            sync_api.expect(page.locator("#report")).to_contain_text("score all")
            sync_api.expect(page.locator("#report-plot img")).to_be_visible()  # the report's adherence.png
            page.screenshot(path=str(shots / "web-runs.png"))
            browser.close()
    finally:
        page_app.close()


# Records the length of the last chat message each time the chat changes: a streamed reply shows several.
GROWTH_WATCHER = """() => {
  window.__replyLengths = [];
  const chat = document.querySelector('#chatbot');
  new MutationObserver(() => {
    const bots = chat.querySelectorAll('.bot, [data-testid="bot"]');
    if (bots.length) window.__replyLengths.push(bots[bots.length - 1].innerText.length);
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""
