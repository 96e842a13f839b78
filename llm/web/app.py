"""``llm-train web``: a page to talk to characters, compare checkpoints and read runs (Gradio).

Three tabs, each a thin layer over the code the commands use:

- **Chat**: a checkpoint (or an OpenAI-compatible endpoint) and a character card (Tavern PNG or JSON, or our
  own card JSON; :func:`llm.data.cards.read_card`): its image and greeting, streamed replies
  (:mod:`llm.web.chat`), regenerate, edit any message (an edited user message is answered again), sampling
  settings, and the rendered prompt with its trained tokens coloured (the ``show-sample`` mask viewer).
- **Compare**: checkpoints side by side on the same user turns, each turn scored by the persistence checks
  (:mod:`llm.web.compare`).
- **Runs**: loss / reward / KL curves and role-play evaluation reports of ``runs/*`` (:mod:`llm.web.runs`).

Models load once per page server and are shared by the tabs. The page binds ``127.0.0.1`` unless told
otherwise: it runs models on request and reads local files.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from transformers import set_seed

from llm.data.cards import read_card
from llm.data.conversation import Character, Message, fill_placeholders
from llm.errors import UserError
from llm.inference.repliers import LocalReplier, Sampling
from llm.models.resolve import resolve_model
from llm.web.chat import ChatSetup, CheckpointChat, EndpointChat
from llm.web.compare import CHECKS_BY_KEY, comparison_html, parse_turns, pick_checks, run_comparison
from llm.web.runs import curves, find_checkpoints, find_runs, read_points, read_reports, report_markdown

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the page never calls home
try:
    import gradio as gr
    import pandas as pd
except ImportError:  # the command says what to install
    gr = pd = None  # type: ignore[assignment]

DEFAULT_TURNS = "Hello! Who are you?\nWhat do you do all day?\nTell me something about the weather."
DEFAULT_CHECKS = ["format/ending=?", "character/persona=Ysolde Brack"]
CSS = ".llm-prompt { font-size: 0.85em; max-height: 24em; overflow: auto; }"


def require_gradio() -> None:
    if gr is None:
        raise UserError("the web page needs Gradio: pip install -e '.[web]'")


@dataclass(frozen=True)
class PageSettings:
    """What the page starts with: a model (checkpoint directory or ``http…`` endpoint URL), a card, a runs
    folder."""

    model: str | None = None
    template: str | None = None
    character: str | None = None
    runs: str = "runs"


class Models:
    """Loaded models, by what the page names them (a directory, or ``URL|model``): each loads once."""

    def __init__(self) -> None:
        self._loaded: dict[str, CheckpointChat | EndpointChat] = {}
        self._lock = threading.Lock()

    def get(self, spec: str, template: str | None = None) -> CheckpointChat | EndpointChat:
        spec = (spec or "").strip()
        if not spec:
            raise UserError("model: give a checkpoint directory or an endpoint URL (http://…/v1)")
        key = f"{spec}|{template or ''}"
        with self._lock:
            if key not in self._loaded:
                if spec.startswith(("http://", "https://")):
                    url, _, name = spec.partition(" ")
                    self._loaded[key] = EndpointChat(url, name.strip() or None)
                else:  # a directory, a .gguf file or a named default, as --model takes them
                    self._loaded[key] = CheckpointChat(resolve_model(spec, "model"), template)
            return self._loaded[key]


# ── chat: the history is a list of {"role", "content"} dicts kept in the page's state ─────────────────


def to_messages(history: list[dict[str, str]]) -> list[Message]:
    return [Message(m["role"], m["content"]) for m in history]


def greetings(card: Character | None) -> list[str]:
    """The card's greetings, placeholders filled: ``first_mes``, then its ``alternate_greetings``.

    >>> greetings(Character("Mira", greeting="Hi {{user}}.", user_name="Sam", alternate_greetings=("Yo.",)))
    ['Hi Sam.', 'Yo.']
    """
    if card is None:
        return []
    texts = (card.greeting, *card.alternate_greetings)
    return [fill_placeholders(t, card.name, card.user_name).strip() for t in texts if t.strip()]


def greeting_history(card: Character | None, choice: int = 0) -> list[dict[str, str]]:
    """A new chat: the card's greeting number ``choice`` (0: ``first_mes``) as the first assistant message."""
    options = greetings(card)
    return [{"role": "assistant", "content": options[min(choice, len(options) - 1)]}] if options else []


def greeting_choices(card: Character | None) -> list[tuple[str, int]]:
    """(label, index) of each greeting, for the page's picker."""
    return [
        (f"{i + 1}: {text[:60]}…" if len(text) > 60 else f"{i + 1}: {text}", i)
        for i, text in enumerate(greetings(card))
    ]


def without_last_reply(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """The chat to answer again (Regenerate): the replies after the last user message taken off.

    >>> without_last_reply([{"role": "assistant", "content": "Hi"}, {"role": "user", "content": "Yo"},
    ...                     {"role": "assistant", "content": "Eh?"}])
    [{'role': 'assistant', 'content': 'Hi'}, {'role': 'user', 'content': 'Yo'}]
    """
    while history and history[-1]["role"] == "assistant":
        history = history[:-1]
    if not history:
        raise UserError("nothing to answer again: send a message first")
    return history


def edited(history: list[dict[str, str]], index: int, value: Any) -> list[dict[str, str]]:
    """The chat after message ``index`` was edited on the page: that message's new text, the messages after
    it dropped (they answered the old text); an edited user message is then answered again.

    >>> chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
    >>> edited(chat, 0, "Hello")
    [{'role': 'user', 'content': 'Hello'}]
    >>> edited(chat, 1, [{"type": "text", "text": "Good day."}])[1]
    {'role': 'assistant', 'content': 'Good day.'}
    """
    if not 0 <= index < len(history):
        raise UserError(f"message {index}: not in this chat (it has {len(history)})")
    if isinstance(value, list):  # Gradio's message content: a list of parts
        value = "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in value)
    elif isinstance(value, dict):
        value = value.get("text", "")
    return [*history[:index], {"role": history[index]["role"], "content": str(value)}]


def card_summary(card: Character | None) -> str:
    if card is None:
        return "No card: the bot is an assistant without a character."
    lines = [f"**{card.name}** (you are **{card.user_name}**)"]
    if card.persona:
        lines.append(card.persona[:400] + ("…" if len(card.persona) > 400 else ""))
    if card.greeting:
        lines.append(f"*Greeting:* {fill_placeholders(card.greeting, card.name, card.user_name)}")
    return "\n\n".join(lines)


def setup_of(
    card: Character | None,
    user_name: str,
    system: str,
    max_new_tokens: float,
    temperature: float,
    top_p: float,
) -> ChatSetup:
    name = (user_name or "").strip() or (card.user_name if card else "You")
    return ChatSetup(
        replace(card, user_name=name) if card is not None else None,
        name,
        (system or "").strip() or None,
        Sampling(int(max_new_tokens), float(temperature), float(top_p)),
    )


def build_app(settings: PageSettings | None = None, models: Models | None = None) -> Any:
    """The page, as a ``gradio.Blocks`` (``.launch()`` serves it)."""
    require_gradio()
    settings = settings or PageSettings()
    models = models or Models()
    start_card = read_card(settings.character) if settings.character else None

    def backend(spec: str) -> CheckpointChat | EndpointChat:
        try:
            return models.get(spec, settings.template)
        except (UserError, OSError) as e:
            raise gr.Error(str(e)) from None

    def stream_reply(
        spec, history, card, user_name, system, max_new, temperature, top_p, seed
    ) -> Iterator[Any]:
        """Yields (chatbot, history, prompt) as the reply grows; the history ends with the user's turn."""
        chat = backend(spec)
        try:
            setup = setup_of(card, user_name, system, max_new, temperature, top_p)
        except UserError as e:
            raise gr.Error(str(e)) from None
        if seed is not None and seed >= 0:
            set_seed(int(seed))
        messages = to_messages(history)
        reply = ""
        try:
            for reply in chat.stream(messages, setup):
                shown = [*history, {"role": "assistant", "content": reply}]
                yield shown, history, gr.skip()
        except UserError as e:
            raise gr.Error(str(e)) from None
        history = [*history, {"role": "assistant", "content": reply}]
        yield history, history, chat.prompt_html(to_messages(history), setup)

    def load_model(spec: str) -> str:
        chat = backend(spec)
        if isinstance(chat, CheckpointChat):
            return f"Loaded **{chat.label}** (template `{chat.template_name}`)."
        return f"Connected to **{chat.label}**."

    def load_card(path: str | None, user_name: str) -> tuple[Any, ...]:
        if not path:
            return None, None, card_summary(None), [], [], gr.update(choices=[], value=None, visible=False)
        try:
            card = read_card(path)
        except (UserError, OSError) as e:
            raise gr.Error(str(e)) from None
        if (user_name or "").strip():  # the name typed on the page, in the greeting too
            card = replace(card, user_name=(user_name or "").strip())
        history = greeting_history(card)
        image = path if Path(path).suffix.lower() == ".png" else None
        choices = greeting_choices(card)
        pick = gr.update(choices=choices, value=0 if choices else None, visible=len(choices) > 1)
        return card, image, card_summary(card), history, history, pick

    def send(text, spec, history, *rest) -> Iterator[Any]:
        if not text.strip():
            raise gr.Error("write a message first")
        history = [*history, {"role": "user", "content": text.strip()}]
        yield history, history, gr.skip(), ""
        for shown, kept, prompt in stream_reply(spec, history, *rest):
            yield shown, kept, prompt, ""

    def regenerate(spec, history, *rest) -> Iterator[Any]:
        try:
            history = without_last_reply(history)
        except UserError as e:
            raise gr.Error(str(e)) from None
        yield history, history, gr.skip()
        yield from stream_reply(spec, history, *rest)

    def edit(event: gr.EditData, spec, history, *rest) -> Iterator[Any]:
        index = event.index if isinstance(event.index, int) else event.index[0]
        try:
            history = edited(history, index, event.value)
        except UserError as e:
            raise gr.Error(str(e)) from None
        yield history, history, gr.skip()
        if history[-1]["role"] == "user":
            yield from stream_reply(spec, history, *rest)

    def clear(card, choice) -> tuple[Any, ...]:
        history = greeting_history(card, choice or 0)
        return history, history, ""

    def compare_models(specs: str, turns: str, keys: list[str], max_new: float, temperature: float) -> str:
        try:
            names = [s.strip() for s in specs.splitlines() if s.strip()]
            if len(names) < 2:
                raise UserError("checkpoints: give two or more, one per line")
            chats = [backend(n) for n in names]
            if any(not isinstance(c, CheckpointChat) for c in chats):
                raise UserError("compare runs checkpoints (directories), not endpoints")
            sampling = Sampling(int(max_new), float(temperature), 1.0)
            labels = _labels(names)
            repliers = {label: LocalReplier(c.model, c.encoder, sampling) for label, c in zip(labels, chats)}
            templates = {label: c.encoder.template for label, c in zip(labels, chats)}
            set_seed(0)
            results = run_comparison(repliers, pick_checks(keys), parse_turns(turns), templates)
        except UserError as e:
            raise gr.Error(str(e)) from None
        return comparison_html(results)

    def list_runs(root: str) -> Any:
        try:
            found = find_runs(root)
        except UserError as e:
            gr.Warning(str(e))
            found = []
        return gr.update(choices=found, value=found[0] if found else None)

    def show_run(root: str, run: str | None) -> tuple[Any, ...]:
        if not run:
            empty = gr.update(value=None, visible=False)
            return empty, empty, empty, "No run chosen.", empty
        folder = Path(root) / run
        try:
            panels = curves(read_points(folder))
            reports = read_reports(folder)
        except UserError as e:
            raise gr.Error(str(e)) from None
        plots = []
        for group in ("loss", "reward", "KL"):
            points = panels.get(group, [])
            frame = pd.DataFrame(
                {
                    "step": [p.step for p in points],
                    "value": [p.value for p in points],
                    "metric": [p.metric for p in points],
                }
            )
            plots.append(gr.update(value=frame, visible=bool(points)))
        text = (
            "\n\n".join(report_markdown(r) for r in reports) or "No role-play evaluation report in this run."
        )
        plot = next((str(r.plot) for r in reports if r.plot), None)
        return (*plots, text, gr.update(value=plot, visible=plot is not None))

    start_history = greeting_history(start_card)
    runs_found = _runs_or_empty(settings.runs)
    checkpoints = find_checkpoints(settings.runs) if Path(settings.runs).is_dir() else []
    with gr.Blocks(title="llm-train web") as page:
        gr.Markdown("## llm-train web: talk to characters, compare checkpoints, read runs")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                card_state = gr.State(start_card)
                history_state = gr.State(start_history)
                with gr.Row():
                    with gr.Column(scale=1):
                        known = list(
                            dict.fromkeys([*([settings.model] if settings.model else []), *checkpoints])
                        )
                        model = gr.Dropdown(
                            known,
                            value=settings.model,
                            allow_custom_value=True,
                            label="Model: a checkpoint (those under the runs folder listed; type any path), or an "
                            "endpoint URL (http://host:port/v1 [model])",
                            elem_id="model",
                        )
                        load = gr.Button("Load model", elem_id="load")
                        status = gr.Markdown(elem_id="status")
                        card_file = gr.File(
                            label="Character card (Tavern PNG or JSON)",
                            file_types=[".png", ".json"],
                            type="filepath",
                            elem_id="card",
                        )
                        card_image = gr.Image(
                            settings.character
                            if start_card and settings.character.lower().endswith(".png")
                            else None,
                            type="filepath",
                            label="Card",
                            interactive=False,
                            height=200,
                            elem_id="card-image",
                        )
                        card_info = gr.Markdown(card_summary(start_card), elem_id="card-info")
                        start_choices = greeting_choices(start_card)
                        greeting_pick = gr.Dropdown(
                            start_choices,
                            value=0 if start_choices else None,
                            label="Greeting (a new chat opens with it)",
                            visible=len(start_choices) > 1,
                            elem_id="greeting",
                        )
                        user_name = gr.Textbox(
                            "",
                            placeholder="the card's user name (default You)",
                            label="Your name",
                            elem_id="user-name",
                        )
                        system = gr.Textbox("", label="System message (optional)", lines=2)
                        with gr.Accordion("Sampling", open=False):
                            max_new = gr.Slider(1, 1024, 128, step=1, label="max new tokens")
                            temperature = gr.Slider(0, 2, 0.8, step=0.05, label="temperature (0: greedy)")
                            top_p = gr.Slider(0.05, 1, 0.95, step=0.01, label="top p")
                            seed = gr.Number(-1, precision=0, label="seed (-1: none)")
                    with gr.Column(scale=2):
                        chatbot = gr.Chatbot(start_history, editable="all", height=460, elem_id="chatbot")
                        message = gr.Textbox(
                            placeholder="Write a message and press Enter", label="Message", elem_id="message"
                        )
                        with gr.Row():
                            send_button = gr.Button("Send", variant="primary", elem_id="send")
                            regenerate_button = gr.Button("Regenerate", elem_id="regenerate")
                            clear_button = gr.Button("New chat", elem_id="clear")
                        with gr.Accordion("Prompt as trained (green: trained tokens)", open=True):
                            prompt = gr.HTML(elem_id="prompt")
                settings_in = [card_state, user_name, system, max_new, temperature, top_p, seed]
                load.click(load_model, model, status)
                card_file.change(
                    load_card,
                    [card_file, user_name],
                    [card_state, card_image, card_info, history_state, chatbot, greeting_pick],
                )
                for trigger in (send_button.click, message.submit):
                    trigger(
                        send,
                        [message, model, history_state, *settings_in],
                        [chatbot, history_state, prompt, message],
                    )
                regenerate_button.click(
                    regenerate, [model, history_state, *settings_in], [chatbot, history_state, prompt]
                )
                chatbot.retry(
                    regenerate, [model, history_state, *settings_in], [chatbot, history_state, prompt]
                )
                chatbot.edit(edit, [model, history_state, *settings_in], [chatbot, history_state, prompt])
                clear_button.click(clear, [card_state, greeting_pick], [chatbot, history_state, prompt])
                greeting_pick.input(clear, [card_state, greeting_pick], [chatbot, history_state, prompt])

            with gr.Tab("Compare", id="compare"):
                gr.Markdown(
                    "Two or more checkpoints answer the same user turns. For each check, its instruction (or card) "
                    "is given once; every turn is scored by the check (green: passes)."
                )
                with gr.Row():
                    specs = gr.Textbox(
                        "\n".join([settings.model] * 2)
                        if settings.model and not settings.model.startswith("http")
                        else "",
                        label="Checkpoints, one per line",
                        lines=3,
                        elem_id="compare-models",
                    )
                    turns = gr.Textbox(
                        DEFAULT_TURNS, label="User turns, one per line", lines=3, elem_id="compare-turns"
                    )
                with gr.Row():
                    keys = gr.CheckboxGroup(list(CHECKS_BY_KEY), value=DEFAULT_CHECKS, label="Checks")
                    with gr.Column():
                        compare_tokens = gr.Slider(1, 256, 32, step=1, label="max new tokens")
                        compare_temperature = gr.Slider(
                            0, 2, 0, step=0.05, label="temperature (0: greedy)", elem_id="compare-temperature"
                        )
                run_button = gr.Button("Compare", variant="primary", elem_id="compare-run")
                columns = gr.HTML(elem_id="compare-result")
                run_button.click(
                    compare_models, [specs, turns, keys, compare_tokens, compare_temperature], columns
                )

            with gr.Tab("Runs", id="runs"):
                with gr.Row():
                    root = gr.Textbox(settings.runs, label="Runs folder", elem_id="runs-root")
                    run = gr.Dropdown(
                        runs_found, value=runs_found[0] if runs_found else None, label="Run", elem_id="run"
                    )
                    refresh = gr.Button("Refresh")
                with gr.Row():
                    plots = [
                        gr.LinePlot(
                            x="step",
                            y="value",
                            color="metric",
                            title=group,
                            visible=False,
                            elem_id=f"plot-{group}",
                        )
                        for group in ("loss", "reward", "KL")
                    ]
                with gr.Row():
                    report = gr.Markdown(elem_id="report")
                    report_plot = gr.Image(
                        type="filepath",
                        label="adherence",
                        interactive=False,
                        visible=False,
                        elem_id="report-plot",
                    )
                refresh.click(list_runs, root, run)
                run.change(show_run, [root, run], [*plots, report, report_plot])
                page.load(show_run, [root, run], [*plots, report, report_plot])
    return page


def _labels(names: list[str]) -> list[str]:
    """Column titles: the folder name, or the whole path where two folders share a name (or the same
    checkpoint is given twice: ``#2``)."""
    short = [Path(n).name or n for n in names]
    labels = [s if short.count(s) == 1 else n for s, n in zip(short, names)]
    return [
        lab if labels[:i].count(lab) == 0 else f"{lab} #{labels[:i].count(lab) + 1}"
        for i, lab in enumerate(labels)
    ]


def _runs_or_empty(root: str) -> list[str]:
    try:
        return find_runs(root)
    except UserError:
        return []


def launch(
    page: Any, host: str = "127.0.0.1", port: int | None = None, block: bool = True, files: Sequence[str] = ()
) -> str:
    """Serve the page; returns its URL (with ``block=False`` the server runs in a thread). ``files``: folders
    and files the page may serve from outside the working directory (the runs folder's plots, a card)."""
    require_gradio()
    _, url, _ = page.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        quiet=not block,
        css=CSS,
        share=False,
        allowed_paths=[str(Path(f).resolve()) for f in files],
    )
    return url
