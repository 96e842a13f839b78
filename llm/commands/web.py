"""``llm-train web``: the browser page — chat with a character, compare checkpoints, read runs (Gradio).

    llm-train web                                           # then open http://127.0.0.1:7860
    llm-train web --model runs/sft --character card.png     # a checkpoint and a card ready on the Chat tab
    llm-train web --model http://127.0.0.1:8000/v1          # an OpenAI-compatible server (transformers serve, vLLM)
    llm-train web --runs experiments --port 8080

The page is :mod:`llm.web.app`. It binds ``127.0.0.1`` (this machine only) unless ``--host`` says otherwise:
it loads models and reads files on request, so expose it only on a network you trust. Needs the ``web``
extra (``pip install -e '.[web]'``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llm.commands.cli import argv_or_sys, parse, run_command
from llm.data.cards import read_card
from llm.data.templates import TEMPLATES
from llm.errors import UserError
from llm.models.checkpoint import require_kind
from llm.models.resolve import resolve_model
from llm.web.app import Models, PageSettings, build_app, launch, require_gradio

PROG = "llm-train web"


@dataclass
class WebArguments:
    """The options of ``llm-train web``."""

    model: str | None = field(
        default=None,
        metadata={"help": "checkpoint directory, or an OpenAI-compatible endpoint URL (http://host:port/v1), "
                  "ready on the Chat tab"},
    )  # fmt: skip
    template: str | None = field(
        default=None,
        metadata={
            "help": "chat template of checkpoints without llm_train.json",
            "choices": sorted(TEMPLATES),
        },
    )
    character: str | None = field(
        default=None,
        metadata={"help": "a character card (Tavern PNG or JSON, or our card JSON) to start with"},
    )
    runs: str = field(default="runs", metadata={"help": "the folder of runs the Runs tab reads"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to bind; 0.0.0.0 exposes the page"})
    port: int = field(default=7860, metadata={"help": "port to serve on"})

    def validate(self) -> None:
        if not 0 < self.port < 65536:
            raise UserError(f"--port {self.port}: must be in 1..65535")
        if not self.host.strip():
            raise UserError("--host: must not be empty")
        if self.model and not self.model.startswith(("http://", "https://")):
            self.model = resolve_model(self.model, "--model")
            if not Path(self.model).is_dir():
                raise FileNotFoundError(f"--model {self.model}: no such directory")
            require_kind(self.model, "causal_lm", "--model", "web")


def web(args: WebArguments) -> int:
    args.validate()
    require_gradio()
    if args.character:
        read_card(args.character)  # a bad card is reported before the page starts
    models = Models()
    if args.model:
        models.get(args.model, args.template)  # loaded (or connected) before the page opens
    page = build_app(PageSettings(args.model, args.template, args.character, args.runs), models)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: serving on {args.host}: anyone who reaches it can run the models and read {args.runs}")
    launch(
        page,
        args.host,
        args.port,
        block=True,
        files=[args.runs, *([args.character] if args.character else [])],
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(PROG, lambda: web(*parse((WebArguments,), argv_or_sys(argv), PROG)))
