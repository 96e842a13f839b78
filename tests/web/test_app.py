"""The web page (``llm-train web``): its runs reader, prompt viewer, streamed chat and comparison, and the page
itself driven by a real browser (Playwright + Debian's chromium; skipped cleanly where either is missing)."""

import io
import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from PIL import Image

from llm.commands import main
from llm.data.cards import to_tavern_v2, write_png_card
from llm.data.conversation import Character, Conversation, Message
from llm.data.encode import IGNORE_INDEX, Encoder
from llm.data.tokenizer import build_tokenizer
from llm.errors import ServiceError, UserError
from llm.inference.chat import ChatSession
from llm.inference.repliers import LocalReplier, Sampling
from llm.web.chat import ChatSetup, CheckpointChat, EndpointChat, prompt_html
from llm.web.compare import comparison_html, parse_turns, pick_checks, run_comparison
from llm.web.runs import curves, find_runs, read_points, read_reports, report_markdown
from tests.helpers.ports import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CARD = Character(
    "Mira",
    persona="A lighthouse keeper on a stormy coast.",
    greeting="Welcome to the lighthouse, {{user}}.",
    user_name="Sam",
    alternate_greetings=("The lamp is lit, {{user}}. Sit.",),
)


def write_run(folder: Path) -> Path:
    """A run as sft and ppo write them: a Trainer log, RL metrics (the last line half written) and a
    role-play report."""
    folder.mkdir(parents=True)
    log = [{"loss": 2.0 - 0.1 * s, "learning_rate": 1e-3, "epoch": s / 10, "step": s} for s in range(1, 6)]
    log.append({"eval_loss": 1.7, "epoch": 0.5, "step": 5})
    (folder / "log_history.json").write_text(json.dumps(log))
    lines = [json.dumps({"iteration": i, "reward_mean": 0.1 * i, "kl_mean": 0.01 * i}) for i in (1, 2, 3)]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + '\n{"iteration": 4, "rew')
    report = {
        "turns": [1, 2],
        "scores": {"all": {"1": {"mean": 1.0, "ci95": [1, 1]}, "2": {"mean": 0.5, "ci95": [0, 1]}}},
        "speaks_for_user_by_turn": {"1": 0.0, "2": 0.25},
        "control": {"all": {"1": {"mean": 0.0, "ci95": [0, 0]}}},
    }
    (folder / "eval_roleplay").mkdir()
    (folder / "eval_roleplay" / "roleplay_eval.json").write_text(json.dumps(report))
    Image.new("RGB", (60, 40), (200, 120, 40)).save(folder / "eval_roleplay" / "adherence.png")
    return folder


# ── runs ─────────────────────────────────────────────────────────────────────────────────────────────


def test_runs_are_found_at_any_depth_and_their_curves_sorted_into_panels(tmp_path):
    write_run(tmp_path / "chain" / "sft")
    (tmp_path / "chain" / "sft" / "checkpoint-5").mkdir()
    (tmp_path / "chain" / "sft" / "checkpoint-5" / "log_history.json").write_text("[]")
    (tmp_path / "notes").mkdir()
    assert find_runs(tmp_path) == ["chain/sft"]
    panels = curves(read_points(tmp_path / "chain" / "sft"))
    assert sorted(panels) == ["KL", "loss", "reward"]
    assert [(p.metric, p.step, p.value) for p in panels["loss"]][-1] == ("eval_loss", 5.0, 1.7)
    assert {p.metric for p in panels["loss"]} == {"loss", "eval_loss"}  # not learning_rate, epoch
    # the half-written last line of metrics.jsonl is left out; the three whole ones are read
    assert [(p.step, p.value) for p in panels["KL"]] == [(1.0, 0.01), (2.0, 0.02), (3.0, 0.03)]


def test_a_broken_metrics_line_is_named_by_file_and_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"iteration": 1}\nnot json\n{"iteration": 3}\n')
    with pytest.raises(UserError, match=r"metrics.jsonl:2: not a JSON object"):
        read_points(tmp_path)
    with pytest.raises(UserError, match="no such directory"):
        find_runs(tmp_path / "nowhere")


def test_evaluation_reports_become_tables(tmp_path):
    (report,) = read_reports(write_run(tmp_path / "run"))
    assert report.plot == tmp_path / "run" / "eval_roleplay" / "adherence.png"
    table = report_markdown(report)
    assert "| score all | 1.00 | 0.50 |" in table
    assert "| control all | 0.00 | - |" in table
    assert "| speaks for user | 0.00 | 0.25 |" in table


# ── the prompt viewer ────────────────────────────────────────────────────────────────────────────────


def test_prompt_html_colours_exactly_the_trained_tokens_and_escapes_text():
    tok = build_tokenizer("bytelevel")
    encoder = Encoder(tok, "chatml")
    conv = Conversation((Message("user", "Is <b>this</b> bold?"), Message("assistant", "No & yes.")), CARD)
    page = prompt_html(encoder, conv)
    sample = encoder.encode(conv)
    trained = tok.decode([i for i, lab in zip(sample.input_ids, sample.labels) if lab != IGNORE_INDEX])
    shown = "".join(
        part.split("</span>")[0].split(">", 1)[1] for part in page.split("<span class='trained'")[1:]
    )
    assert shown == trained.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert trained == "No & yes.<|im_end|>"
    assert "Is &lt;b&gt;this&lt;/b&gt; bold?" in page and "<b>this</b>" not in page
    assert f"tokens {len(sample)}" in page and f"trained {sample.num_trained}" in page


# ── chat and compare on a tiny checkpoint ────────────────────────────────────────────────────────────


def test_a_streamed_reply_grows_and_ends_as_the_terminal_chats_reply(checkpoint):
    chat = CheckpointChat(checkpoint)
    setup = ChatSetup(CARD, "Sam", None, Sampling(max_new_tokens=24, temperature=1.0, top_p=1.0))
    history = [Message("assistant", "Welcome to the lighthouse, Sam."), Message("user", "Hello there")]
    torch.manual_seed(0)
    pieces = list(chat.stream(history, setup))
    assert len(pieces) > 2 and pieces[-1]
    assert all(b.startswith(a.strip()) for a, b in zip(pieces[:-2], pieces[1:-1]))  # each shows more
    # the same seed through llm-train chat's session gives the same reply: one code path
    session = ChatSession(
        chat.model, chat.encoder, CARD, "Sam", {"max_new_tokens": 24, **setup.sampling.generate_kwargs()}
    )
    session.history = history[:-1]
    torch.manual_seed(0)
    assert session.respond("Hello there", io.StringIO()) == pieces[-1]
    with pytest.raises(UserError, match="must end with your message"):
        list(chat.stream(history[:1], setup))


class _StreamingServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that lists one model and streams "Aye, come in." in three chunks."""

    received: list = []

    def do_GET(self):
        body = json.dumps(
            {"object": "list", "data": [{"id": "mira-7b", "object": "model", "owned_by": "me"}]}
        )
        self._send(body.encode(), "application/json")

    def do_POST(self):
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        chunks = [
            {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "mira-7b",
             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            for piece in (" Aye,", " come", " in.")
        ]  # fmt: skip
        events = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        self._send(events.encode(), "text/event-stream")

    def _send(self, body, kind):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_endpoint_streams_with_the_card_as_system_message():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StreamingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        chat = EndpointChat(f"http://127.0.0.1:{server.server_port}/v1")
        assert chat.model == "mira-7b"  # the server's first model, when none is named
        setup = ChatSetup(CARD, "Sam", None, Sampling(max_new_tokens=16, temperature=0.7, top_p=0.9))
        pieces = list(chat.stream([Message("assistant", "Welcome."), Message("user", "Hi")], setup))
        assert pieces == ["Aye,", "Aye, come", "Aye, come in.", "Aye, come in."]
        (sent,) = _StreamingServer.received
        assert sent["stream"] is True and sent["max_tokens"] == 16 and sent["model"] == "mira-7b"
        assert [m["role"] for m in sent["messages"]] == ["system", "assistant", "user"]
        assert (
            "Mira" in sent["messages"][0]["content"] and "lighthouse keeper" in sent["messages"][0]["content"]
        )
        assert "&quot;role&quot;: &quot;system&quot;" in chat.prompt_html([Message("user", "Hi")], setup)
    finally:
        server.shutdown()
    with pytest.raises(ServiceError, match="cannot list the server's models"):
        EndpointChat(f"http://127.0.0.1:{free_port()}/v1", retries=0)


def test_compare_shows_one_column_per_checkpoint_with_scores_per_turn(checkpoint):
    chat = CheckpointChat(checkpoint)
    sampling = Sampling(max_new_tokens=4)
    repliers = {name: LocalReplier(chat.model, chat.encoder, sampling) for name in ("a", "b")}
    checks = pick_checks(["format/ending=?", "character/persona=Ysolde Brack"])
    results = run_comparison(
        repliers, checks, parse_turns("Hi!\n\nHow are you?"), {"a": chat.encoder.template}
    )
    assert list(results) == ["a", "b"]
    assert [t.user_turns for t in results["b"].transcripts] == [["Hi!", "How are you?"]] * 2  # same turns
    page = comparison_html(results)
    assert page.count("class='compare-column'") == 2
    assert page.count("class='score'") == 2 * (2 + 2 * 2)  # per model: the means, then every turn of 2 checks
    with pytest.raises(UserError, match="unknown nope"):
        pick_checks(["nope"])
    with pytest.raises(UserError, match="at least one"):
        parse_turns(" \n ")


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
