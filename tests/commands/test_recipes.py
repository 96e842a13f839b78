"""The demos' YAML recipes (llm/commands/recipes.py, llm/configs/*.yaml): the bundled ones hold exactly the
values the demos had in code, a bad recipe is one line naming the file and the key, and a changed value
reaches the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm.commands import demo, demo_rlhf, demo_tiny
from llm.commands.recipes import bundled, load_recipe
from llm.data.process import DataArguments
from llm.data.samples import PIPPA_SAMPLE, TLDR_SFT_SAMPLE
from llm.errors import UserError
from llm.models.loading import ModelArguments
from llm.train.args import StageArguments
from llm.train.grpo.trainer import GRPOArguments
from llm.train.ppo.trainer import PPOArguments
from llm.train.rm import RewardArguments
from tests.helpers import REPO

DEMOS = {"demo": demo, "demo_tiny": demo_tiny, "demo_rlhf": demo_rlhf}


# ── the bundled recipes are today's values: built the way the old code built them, literally ──


def test_demo_tiny_recipe_builds_what_the_code_built(tmp_path):
    recipe = load_recipe("demo_tiny", demo_tiny.RECIPE)
    assert recipe["minutes"] == 4.0
    steps = 360  # the old --steps default
    old = (
        ModelArguments(model_config="small"),
        DataArguments(dataset="pippa", data_files=["d.jsonl"], tokenizer=str(tmp_path / "tok"),
                      template="pygmalion", stack=True, max_length=1024, validation_split=0.05),
        StageArguments(output_dir=str(tmp_path), max_steps=steps, per_device_train_batch_size=2,
                       per_device_eval_batch_size=4, learning_rate=3e-3, lr_scheduler_type="cosine",
                       warmup_steps=max(1, steps // 20), weight_decay=0.01, logging_steps=max(1, steps // 16),
                       eval_strategy="steps", eval_steps=max(1, steps // 4), eval_on_start=True,
                       save_strategy="no", report_to="none", use_cpu=True, seed=0),
    )  # fmt: skip
    assert demo_tiny.stage_arguments(recipe, tmp_path, "d.jsonl", tmp_path / "tok") == old


def test_demo_recipe_builds_what_the_code_built(tmp_path):
    recipe = load_recipe("demo", demo.RECIPE)
    assert recipe["minutes"] == 2.5
    base = "base-model"
    old = (
        ModelArguments(model_name_or_path=base, lora_r=16, lora_alpha=32, torch_dtype="float32"),
        DataArguments(dataset="pippa", data_files=[str(PIPPA_SAMPLE)], tokenizer=base, template="tokenizer",
                      stack=True, max_length=512, validation_split=0.01),
        StageArguments(
            output_dir=str(tmp_path), max_steps=200, per_device_train_batch_size=1, gradient_accumulation_steps=2,
            learning_rate=2e-4, lr_scheduler_type="constant_with_warmup", warmup_steps=3, logging_steps=5,
            eval_strategy="steps", eval_steps=10**6, eval_on_start=True, per_device_eval_batch_size=2,
            save_strategy="no", report_to="none", use_cpu=True, seed=0, disable_tqdm=False,
        ),
    )  # fmt: skip
    assert demo.stage_arguments(recipe, tmp_path, base) == old
    assert old[1].max_length == demo.DEMO_ROW_TOKENS  # the rows PlannedBudget counts by default


def test_demo_rlhf_recipe_builds_what_the_code_built(tmp_path):
    recipe = load_recipe("demo_rlhf", demo_rlhf.RECIPE)
    run, tok, pairs = tmp_path, "tok", tmp_path / "pairs.jsonl"
    common = dict(
        report_to="none", save_strategy="no", use_cpu=True, seed=0, logging_steps=25, disable_tqdm=False
    )
    old_sft = (
        ModelArguments(model_config="tiny"),
        DataArguments(dataset="tldr", data_files=[str(TLDR_SFT_SAMPLE)], tokenizer=tok, template="plain",
                      max_length=512, max_query_tokens=400, validation_split=0.05),
        StageArguments(output_dir=str(run / "sft"), max_steps=250, per_device_train_batch_size=8,
                       learning_rate=3e-3, lr_scheduler_type="cosine", warmup_steps=0.05, eval_strategy="no",
                       **common),
    )  # fmt: skip
    old_rm = (
        ModelArguments(model_name_or_path=str(run / "sft")),
        DataArguments(dataset="tldr_comparisons", data_files=[str(pairs)], tokenizer=tok,
                      template="plain", max_length=512, max_query_tokens=400, validation_split=0.1),
        StageArguments(output_dir=str(run / "rm_held_out"), max_steps=150, per_device_train_batch_size=16,
                       learning_rate=1e-3, lr_scheduler_type="cosine", eval_strategy="no", **common),
        RewardArguments(),
    )  # fmt: skip
    prompts = dict(dataset="tldr", data_files=[str(TLDR_SFT_SAMPLE)], max_prompt_length=420, report_to="none")
    old_ppo = PPOArguments(
        model_name_or_path=str(run / "sft"), reward_model_path=str(run / "rm"),
        held_out_reward=[str(run / "rm_held_out")], max_steps=40, rollout_batch_size=32,
        mini_batch_size=16, response_length=32, learning_rate=1e-4, kl_coef=0.2, adaptive_kl=True,
        kl_target=4.0, kl_horizon=160, missing_eos_penalty=-20.0,
        output_dir=str(run / "ppo"), sample_rows=1, **prompts,
    )  # fmt: skip
    old_grpo = GRPOArguments(
        model_name_or_path=str(run / "sft"), reward_model_path=str(run / "rm"),
        held_out_reward=[str(run / "rm_held_out")], max_steps=40, rollout_batch_size=32,
        num_generations=8, response_length=32, learning_rate=1e-4, beta=0.1, temperature=0.7,
        missing_eos_penalty=-20.0, epsilon_high=0.28, output_dir=str(run / "grpo"), sample_rows=1, **prompts,
    )  # fmt: skip
    assert demo_rlhf.sft_arguments(recipe, run, tok) == old_sft
    assert demo_rlhf.rm_arguments(recipe, run, tok, "rm_held_out", pairs) == old_rm
    assert demo_rlhf.rl_arguments(recipe, run, "ppo") == old_ppo
    assert demo_rlhf.rl_arguments(recipe, run, "grpo") == old_grpo


# ── where the recipes live ──


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_the_repository_configs_are_the_bundled_recipes(name):
    """configs/<demo>.yaml links to the recipe shipped in the package (the wheel test in tests/commands/test_cli.py
    checks that it ships): editing either changes the demo."""
    assert (REPO / "configs" / f"{name}.yaml").resolve() == bundled(name).resolve()


# ── a user's recipe: on top of the bundled one, checked ──


def write(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_users_recipe_changes_only_what_it_names(tmp_path):
    mine = write(tmp_path, "training:\n  learning_rate: 1e-2\nminutes: 1\n")
    recipe = load_recipe("demo_tiny", demo_tiny.RECIPE, mine)
    assert recipe["training"]["learning_rate"] == 0.01  # YAML's string "1e-2" read as the float it spells
    assert recipe["minutes"] == 1
    assert recipe["training"]["per_device_train_batch_size"] == 2  # the bundled value
    assert recipe["data"] == load_recipe("demo_tiny", demo_tiny.RECIPE)["data"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("trainig: {max_steps: 3}\n", "trainig: unknown key (did you mean training?)"),
        ("training: {lerning_rate: 0.1}\n",
         "training.lerning_rate: unknown key (StageArguments has no such field; did you mean learning_rate?)"),
        ("training: {max_steps: ten}\n", "training.max_steps: expected int, got str 'ten'"),
        ("training: {max_steps: 2.5}\n", "training.max_steps: expected int, got float 2.5"),
        ("data: {stack: 'yes'}\n", "data.stack: expected bool, got str 'yes'"),
        ("minutes: soon\n", "minutes: expected float, got str 'soon'"),
        ("training: {output_dir: x}\n", "training.output_dir: set by the demo itself, not by a recipe"),
        ("training: 3\n", "training: expected a mapping of StageArguments fields to values"),
        ("- a\n- b\n", "expected a mapping of flag names to values"),
    ],
)  # fmt: skip
def test_a_bad_recipe_is_one_line_naming_file_and_key(tmp_path, text, message):
    mine = write(tmp_path, text)
    with pytest.raises(UserError) as error:
        load_recipe("demo_tiny", demo_tiny.RECIPE, mine)
    assert str(error.value) == f"{mine}: {message}"


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_each_demo_refuses_a_bad_recipe_before_it_writes(tmp_path, capsys, name):
    mine = write(
        tmp_path, "sft: {training: {max_step: 3}}\n" if name == "demo_rlhf" else "model: {rank: 8}\n"
    )
    run_dir = tmp_path / "run"
    assert DEMOS[name].main(["--recipe", str(mine), "--run_dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert f": error: {mine}: " in err and "unknown key" in err and len(err.strip().splitlines()) == 1
    assert not run_dir.exists()


def test_a_missing_recipe_is_an_error(tmp_path, capsys):
    assert demo_tiny.main(["--recipe", str(tmp_path / "none.yaml"), "--run_dir", str(tmp_path / "run")]) == 2
    assert "none.yaml: no such config file" in capsys.readouterr().err


# ── a changed value reaches the run ──


class Reached(Exception):
    """Raised by a stand-in for a training stage, with the arguments it was given."""


def stop_with(*args, **kwargs):
    raise Reached(args)


class NoTokenizer:
    def save_pretrained(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)


def test_demo_tiny_recipe_and_flags_reach_the_sft_run(tmp_path, monkeypatch):
    mine = write(tmp_path, "training: {learning_rate: 1.0e-2, max_steps: 40}\ndata: {max_length: 256}\n")
    monkeypatch.setattr(demo_tiny, "prepare", lambda args: ([], NoTokenizer(), str(PIPPA_SAMPLE)))
    monkeypatch.setattr(demo_tiny, "run", stop_with)
    monkeypatch.setattr(demo_tiny.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "tokenizer"))
    with pytest.raises(Reached) as reached:
        demo_tiny.run_demo(
            ["--recipe", str(mine), "--run_dir", str(tmp_path / "run"), "--model_config", "tiny"]
        )
    model, data, training = reached.value.args[0]
    assert (training.learning_rate, training.max_steps, data.max_length) == (0.01, 40, 256)
    assert training.warmup_steps == 2 and training.eval_steps == 10  # follow the recipe's steps
    assert model.model_config == "tiny"  # the flag over the recipe
    assert training.per_device_train_batch_size == 2 and data.template == "pygmalion"  # the bundled values

    with pytest.raises(Reached) as reached:  # a flag beats the user's recipe too
        demo_tiny.run_demo(["--recipe", str(mine), "--run_dir", str(tmp_path / "run"), "--steps", "8"])
    assert reached.value.args[0][2].max_steps == 8


def test_demo_rlhf_recipe_and_flags_reach_sft_and_ppo(tmp_path, monkeypatch):
    mine = write(tmp_path, "sft: {training: {learning_rate: 1.0e-3}}\nppo: {kl_coef: 0.05}\n")
    seen = {}

    def sft_run(*args):
        seen["sft"] = args
        return {}

    monkeypatch.setattr(demo_rlhf, "tokenizer_for_sample", lambda out: "tok")
    monkeypatch.setattr(demo_rlhf.sft, "run", sft_run)
    monkeypatch.setattr(demo_rlhf.rm, "run", lambda *args: {"eval_accuracy": 0.5})
    monkeypatch.setattr(demo_rlhf, "train_ppo", stop_with)
    argv = ["--recipe", str(mine), "--run_dir", str(tmp_path / "run"), "--rl_steps", "3", "--kl_target", "2"]
    with pytest.raises(Reached) as reached:
        demo_rlhf.run_demo(argv)
    (ppo,) = reached.value.args[0]
    assert seen["sft"][2].learning_rate == 1e-3 and seen["sft"][2].max_steps == 250
    assert (ppo.kl_coef, ppo.max_steps, ppo.kl_target, ppo.missing_eos_penalty) == (0.05, 3, 2.0, -20.0)


def test_demo_recipe_reaches_the_lora_arguments(tmp_path):
    mine = write(tmp_path, "model: {lora_r: 8, lora_alpha: 16}\ndata: {max_length: 256}\n")
    model, data, training = demo.stage_arguments(load_recipe("demo", demo.RECIPE, mine), tmp_path, "base")
    assert (model.lora_r, model.lora_alpha, data.max_length, training.learning_rate) == (8, 16, 256, 2e-4)
    assert demo.PlannedBudget(60, row_tokens=data.max_length).row_tokens == 256
