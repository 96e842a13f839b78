"""What the web page's tests share: a card to chat with, and a run folder as the stages write one."""

import json
from pathlib import Path

from PIL import Image

from llm.data.conversation import Character

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
