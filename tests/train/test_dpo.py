"""`llm-train dpo` on tiny models: the step-1 loss equals one computed by hand from isolated forwards, for every
loss; TRL's DPOTrainer agrees; padding-free = padded; precomputed = live reference; accumulation
invariance; a tiny model learns a multi-turn preference; two processes under ZeRO agree with one."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from llm.commands.dpo import main as dpo
from llm.data.collate import PreferenceCollator
from llm.data.process import DataArguments, ProcessArguments, process
from llm.data.tokenizer import build_tokenizer
from llm.models.tiny import build_llama
from llm.train.preference_losses import dpo_loss
from tests.helpers import REPO
from tests.helpers.ports import free_port
from tests.helpers.preference_world import write_kto, write_pairs


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A policy and a *different* reference, as saved checkpoints."""
    root = tmp_path_factory.mktemp("models")
    tok = build_tokenizer("bytelevel")
    for name, seed in (("policy", 0), ("ref", 1)):
        build_llama(tok, seed=seed).save_pretrained(root / name)
        tok.save_pretrained(root / name)
    return root / "policy", root / "ref"


def rows_of(data_files, dataset="preference", max_length=1024, template="chatml"):
    args = DataArguments(dataset=dataset, data_files=[str(data_files)], tokenizer="tiny:bytelevel",
                         template=template, max_length=max_length)  # fmt: skip
    return datasets.load_from_disk(process(args, ProcessArguments())["output"])["train"]


def isolated_logps(model, ids, labels):
    """Summed log-probs of the trained tokens of one sequence, forwarded alone, unpadded."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    logps = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None]).squeeze(-1)
    trained = torch.tensor(labels[1:]) != -100
    return float(logps[trained].sum()), int(trained.sum())


def step1_loss(argv, out):
    assert dpo([*argv, "--output_dir", str(out)]) == 0
    history = json.loads((out / "log_history.json").read_text())
    return next(e for e in history if "loss" in e)


def common(policy, data, n, extra=()):
    return [
        "--model_name_or_path", str(policy), "--data_files", str(data), "--tokenizer", "tiny:bytelevel",
        "--max_steps", "1", "--learning_rate", "0", "--per_device_train_batch_size", str(n), "--logging_steps", "1",
        "--report_to", "none", "--save_strategy", "no", "--use_cpu", "true", "--disable_tqdm", "true",
        "--train_sampling_strategy", "sequential", *extra,
    ]  # fmt: skip


def by_hand(loss_type, chosen, rejected, c_len, r_len, ref_c, ref_r, beta, extra):
    t = torch.tensor
    chosen, rejected, c_len, r_len, ref_c, ref_r = map(t, (chosen, rejected, c_len, r_len, ref_c, ref_r))
    h = (chosen - ref_c) - (rejected - ref_r)
    if loss_type == "sigmoid":
        eps = extra.get("label_smoothing", 0.0)
        losses = -(1 - eps) * F.logsigmoid(beta * h) - eps * F.logsigmoid(-beta * h)
    elif loss_type == "ipo":
        losses = ((chosen - ref_c) / c_len - (rejected - ref_r) / r_len - 1 / (2 * beta)) ** 2
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * h)
    elif loss_type == "simpo":
        losses = -F.logsigmoid(beta * (chosen / c_len - rejected / r_len) - extra["simpo_gamma"])
    else:  # orpo
        pc, pr = chosen / c_len, rejected / r_len
        odds = (pc - pr) - (torch.log1p(-torch.exp(pc)) - torch.log1p(-torch.exp(pr)))
        losses = -chosen.sum() / c_len.sum() - extra["orpo_alpha"] * F.logsigmoid(odds)
    loss = losses.mean()
    if extra.get("rpo_alpha"):
        loss = loss + extra["rpo_alpha"] * (-chosen.sum() / c_len.sum())
    return float(loss)


CASES = [
    ("sigmoid", {}),
    ("sigmoid", {"label_smoothing": 0.2, "rpo_alpha": 0.5}),
    ("ipo", {}),
    ("hinge", {}),
    ("simpo", {"simpo_gamma": 0.7}),
    ("orpo", {"orpo_alpha": 0.3}),
]


@pytest.mark.parametrize(("loss_type", "extra"), CASES)
def test_step1_loss_equals_isolated_forwards(models, tmp_path, loss_type, extra):
    policy_dir, ref_dir = models
    data = write_pairs(tmp_path / "pairs.jsonl", 6, seed=3)  # multi-turn, some with cards and continuations
    rows = rows_of(data)
    policy = build_llama(build_tokenizer("bytelevel"), seed=0)
    ref = build_llama(build_tokenizer("bytelevel"), seed=1)
    cols = {k: [] for k in ("chosen", "rejected", "c_len", "r_len", "ref_c", "ref_r")}
    for row in rows:
        for side, key in (("chosen", "c"), ("rejected", "r")):
            logp, n = isolated_logps(policy, row[f"{side}_input_ids"], row[f"{side}_labels"])
            cols[side].append(logp)
            cols[f"{key}_len"].append(n)
            cols[f"ref_{key}"].append(isolated_logps(ref, row[f"{side}_input_ids"], row[f"{side}_labels"])[0])
    beta = 0.5
    expected = by_hand(loss_type, *cols.values(), beta=beta, extra=extra)
    argv = common(policy_dir, data, len(rows), ["--loss_type", loss_type, "--beta", str(beta)])
    if loss_type not in ("simpo", "orpo"):
        argv += ["--ref_model_name_or_path", str(ref_dir)]
    for key, value in extra.items():
        argv += [f"--{key}", str(value)]
    logged = step1_loss(argv, tmp_path / "run")
    assert logged["loss"] == pytest.approx(expected, abs=1e-5)
    if loss_type == "sigmoid":
        rewards_c = beta * (torch.tensor(cols["chosen"]) - torch.tensor(cols["ref_c"]))
        rewards_r = beta * (torch.tensor(cols["rejected"]) - torch.tensor(cols["ref_r"]))
        assert logged["rewards/chosen"] == pytest.approx(float(rewards_c.mean()), abs=1e-5)
        assert logged["rewards/margins"] == pytest.approx(float((rewards_c - rewards_r).mean()), abs=1e-5)
        assert logged["rewards/accuracies"] == pytest.approx(float((rewards_c > rewards_r).float().mean()))
        assert logged["logps/rejected"] == pytest.approx(sum(cols["rejected"]) / len(rows), abs=1e-4)


def test_kto_step1_loss_equals_isolated_forwards(models, tmp_path):
    policy_dir, ref_dir = models
    data = write_kto(tmp_path / "kto.jsonl", 6, seed=4)
    rows = rows_of(data, dataset="kto")
    policy = build_llama(build_tokenizer("bytelevel"), seed=0)
    ref = build_llama(build_tokenizer("bytelevel"), seed=1)
    n = len(rows)
    r, kl = [], []
    for i, row in enumerate(rows):
        r.append(
            isolated_logps(policy, row["input_ids"], row["labels"])[0]
            - isolated_logps(ref, row["input_ids"], row["labels"])[0]
        )
        other = rows[(i + 1) % n]  # KTO's reference point: prompt i with completion i+1
        p, q = row["prompt_length"], other["prompt_length"]
        ids = row["input_ids"][:p] + other["input_ids"][q:]
        labels = [-100] * p + other["labels"][q:]
        kl.append(isolated_logps(policy, ids, labels)[0] - isolated_logps(ref, ids, labels)[0])
    z = max(0.0, sum(kl) / n)
    beta, sig = 0.5, lambda x: 1 / (1 + math.exp(-x))
    losses = [
        1 - sig(beta * (ri - z)) if row["desirable"] else 1.5 * (1 - sig(beta * (z - ri)))
        for ri, row in zip(r, rows)
    ]
    argv = common(policy_dir, data, n, ["--dataset", "kto", "--loss_type", "kto", "--beta", str(beta),
                                       "--undesirable_weight", "1.5", "--ref_model_name_or_path", str(ref_dir)])  # fmt: skip
    assert step1_loss(argv, tmp_path / "run")["loss"] == pytest.approx(sum(losses) / n, abs=1e-5)


def test_prompt_shared_padding_free_and_padded_give_equal_losses_and_gradients(tmp_path):
    """The four layouts (prompt shared; one row per pair; one row for the batch; padded) are one computation."""
    from llm.train.dpo import forward_sequences

    rows = rows_of(write_pairs(tmp_path / "pairs.jsonl", 5, seed=5))  # multi-turn continuations, cards
    features = [rows[i] for i in range(len(rows))]
    layouts = [PreferenceCollator(), PreferenceCollator(share_prompt=False), PreferenceCollator(flatten=True),
               PreferenceCollator(padded=True)]  # fmt: skip
    results = []
    for collator in layouts:
        model = build_llama(build_tokenizer("bytelevel"), seed=0)
        scored = forward_sequences(model, collator(features))
        ref = scored.logps.detach() - 0.3  # any fixed reference
        loss = dpo_loss(scored.logps[0::2], scored.logps[1::2], ref[0::2], ref[1::2] + 0.1, beta=0.5).mean()
        loss.backward()
        results.append((loss.detach(), scored.tokens, [p.grad.clone() for p in model.parameters()]))
    for loss, tokens, grads in results[1:]:
        assert float(loss) == pytest.approx(float(results[0][0]), abs=1e-5)
        assert tokens.tolist() == results[0][1].tolist()
        for g, h in zip(grads, results[0][2], strict=True):
            torch.testing.assert_close(g, h, atol=1e-5, rtol=1e-4)
    shared = layouts[0](features)
    assert shared["input_ids"].numel() < layouts[1](features)["input_ids"].numel()  # fewer tokens forwarded


def test_precomputed_reference_equals_a_live_one(models, tmp_path):
    policy_dir, ref_dir = models
    data = write_pairs(tmp_path / "pairs.jsonl", 4, seed=6)
    argv = common(policy_dir, data, 4, ["--ref_model_name_or_path", str(ref_dir)])
    live = step1_loss(argv, tmp_path / "live")
    pre = step1_loss([*argv, "--precompute_ref_log_probs", "true"], tmp_path / "pre")
    for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins"):
        assert pre[key] == pytest.approx(live[key], abs=1e-5)


def test_batch_1_times_accumulation_4_equals_4_times_1(models, tmp_path):
    policy_dir, _ = models
    data = write_pairs(tmp_path / "pairs.jsonl", 4, seed=7)
    weights = []
    for name, batch, accumulation in (("a", 4, 1), ("b", 1, 4)):
        # SGD: the update is the gradient itself (Adam's first step would amplify float noise in tiny gradients)
        argv = common(
            policy_dir, data, batch, ["--gradient_accumulation_steps", str(accumulation), "--optim", "sgd"]
        )
        argv[argv.index("--learning_rate") + 1] = "1.0"
        step1_loss(argv, tmp_path / name)
        weights.append(load_file(tmp_path / name / "model.safetensors"))
    for key in weights[0]:
        torch.testing.assert_close(weights[0][key], weights[1][key], atol=1e-5, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(("loss_type", "beta", "threshold"), [("sigmoid", 0.5, 0.9), ("simpo", 2.0, 0.75),
                                                               ("orpo", 0.5, 0.75), ("kto", 0.5, 0.75)])  # fmt: skip
def test_a_tiny_model_learns_a_multi_turn_preference(models, tmp_path, loss_type, beta, threshold):
    """Chosen replies keep a rule stated turns earlier, rejected ones break it. Held-out accuracy of the
    implicit reward: β(log π − log π_ref) for DPO and KTO (the reference is the start model), the
    length-averaged log-prob for SimPO and ORPO, which have no reference."""
    start, _ = models
    train = write_pairs(tmp_path / "train.jsonl", 160, seed=0)
    held_out = rows_of(write_pairs(tmp_path / "held.jsonl", 40, seed=99))
    argv = ["--model_name_or_path", str(start), "--tokenizer", "tiny:bytelevel", "--data_files", train,
            "--loss_type", loss_type, "--beta", str(beta), "--max_steps", "60", "--learning_rate", "3e-3",
            "--per_device_train_batch_size", "8", "--report_to", "none", "--save_strategy", "no", "--use_cpu", "true",
            "--disable_tqdm", "true", "--seed", "0", "--output_dir", str(tmp_path / "run")]  # fmt: skip
    assert dpo(argv) == 0
    from transformers import AutoModelForCausalLM

    policy, ref = (AutoModelForCausalLM.from_pretrained(p) for p in (tmp_path / "run", start))

    def reward(row, side):
        logp, n = isolated_logps(policy, row[f"{side}_input_ids"], row[f"{side}_labels"])
        if loss_type in ("simpo", "orpo"):
            return logp / n
        return logp - isolated_logps(ref, row[f"{side}_input_ids"], row[f"{side}_labels"])[0]

    accuracy = sum(reward(row, "chosen") > reward(row, "rejected") for row in held_out) / len(held_out)
    assert accuracy >= threshold, accuracy
    assert (tmp_path / "run" / "preference_curves.png").stat().st_size > 0
    assert json.loads((tmp_path / "run" / "llm_train.json").read_text())["stage"] == "dpo"


def test_bad_preference_arguments_fail_before_anything_loads(tmp_path, capsys):
    base = ["--model_config", "tiny", "--tokenizer", "tiny:bytelevel", "--output_dir", str(tmp_path / "o")]
    for extra, message in (
        (["--loss_type", "simpo", "--precompute_ref_log_probs", "true"], "uses no reference model"),
        (["--loss_type", "kto", "--precompute_ref_log_probs", "true"], "needs a live reference"),
        (["--label_smoothing", "0.7"], "--label_smoothing 0.7"),
        (["--loss_type", "dpo"], "invalid choice"),
    ):
        assert dpo([*base, *extra]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_two_cpu_processes_under_deepspeed_match_one(models, tmp_path):
    policy_dir, ref_dir = models
    data = write_pairs(tmp_path / "pairs.jsonl", 8, seed=8)

    def launch(name, nproc, deepspeed=None):
        argv = common(policy_dir, data, 4 // nproc, ["--ref_model_name_or_path", str(ref_dir), "--seed", "0"])
        argv[argv.index("--learning_rate") + 1] = "1e-3"
        argv += ["--output_dir", str(tmp_path / name)]
        if deepspeed:
            argv += ["--deepspeed", str(REPO / "configs" / "deepspeed" / deepspeed)]
        env = {**os.environ, "LLM_TRAIN_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
        launcher = [
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(nproc),
            "--master_port",
            str(free_port()),
        ]
        cmd = [sys.executable, *(launcher if nproc > 1 else []), "-m", "llm.commands", "dpo", *argv]
        done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        history = json.loads((tmp_path / name / "log_history.json").read_text())
        return next(e for e in history if "loss" in e)

    single = launch("single", 1)
    for config in ("zero2.json", "zero3.json"):  # ZeRO-3 shards the reference too (an inference engine)
        distributed = launch(config, 2, config)
        for key in ("loss", "rewards/margins", "rewards/accuracies"):
            assert distributed[key] == pytest.approx(single[key], abs=1e-4), (config, key)


# ── parity with TRL's DPOTrainer ─────────────────────────────────────────────────────────────────────


def trl_step1(policy_dir, ref_dir, records, loss_type, beta, template, tmp_path):
    """TRL 1.16's DPOTrainer, one step at learning rate 0, on the same pairs and models; its logged metrics."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from llm.data.jinja import to_jinja
    from llm.data.templates import get_template

    tok = AutoTokenizer.from_pretrained(policy_dir)
    tok.chat_template = to_jinja(get_template(template, tok))
    rows = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"],
             "chat_template_kwargs": {"character": r["character"]} if r.get("character") else {}}
            for r in records]  # fmt: skip
    config = DPOConfig(
        output_dir=str(tmp_path / "trl"), loss_type=[loss_type], beta=beta, max_steps=1, learning_rate=0.0,
        per_device_train_batch_size=len(rows), logging_steps=1, report_to="none", use_cpu=True,
        save_strategy="no", max_length=None, disable_tqdm=True,
    )  # fmt: skip
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(policy_dir),
        ref_model=AutoModelForCausalLM.from_pretrained(ref_dir),
        args=config,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tok,
    )
    trainer.train()
    return next(e for e in trainer.state.log_history if "loss" in e), trainer


TRL_METRICS = ("loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
               "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected")  # fmt: skip


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo", "hinge"])
def test_same_step1_loss_and_metrics_as_trl(models, tmp_path, loss_type):
    """With llama3, whose end-of-turn token ends the rendered reply, TRL's completion is exactly our trained
    span: the same token ids (multi-turn prompts, character cards), and the same loss and metrics — to 1e-3,
    not 1e-4: TRL 1.16 computes log-probs through its fused LM head about 2e-5 off (relative) an isolated
    forward (measured: −107.7253 against −107.7233 for the same six replies), while ours match the isolated
    forwards to 1e-5 (test above). Ours must be the closer of the two to them."""
    policy_dir, ref_dir = models
    records = [
        json.loads(line)
        for line in Path(write_pairs(tmp_path / "all.jsonl", 12, seed=11)).read_text().splitlines()
    ]
    records = [r for r in records if len(r["chosen"]) == 1][:6]  # continuations: see the next test
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    theirs, _ = trl_step1(policy_dir, ref_dir, records, loss_type, 0.5, "llama3", tmp_path)
    argv = common(policy_dir, data, 6, ["--loss_type", loss_type, "--beta", "0.5", "--template", "llama3",
                                       "--ref_model_name_or_path", str(ref_dir)])  # fmt: skip
    ours = step1_loss(argv, tmp_path / "ours")
    for key in TRL_METRICS:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-3, abs=1e-3), key
    policy = build_llama(build_tokenizer("bytelevel"), seed=0)
    rows = rows_of(data, max_length=4096, template="llama3")
    exact = sum(isolated_logps(policy, r["chosen_input_ids"], r["chosen_labels"])[0] for r in rows) / len(
        rows
    )
    assert abs(ours["logps/chosen"] - exact) <= abs(theirs["logps/chosen"] - exact) + 1e-6


def test_where_our_mask_differs_from_trl_on_purpose(models, tmp_path):
    """Two differences on purpose. With ChatML, TRL's completion is everything after the prompt: the reply,
    <|im_end|> *and the newline after it*, which the model never generates (it stops at <|im_end|>); we
    train the reply and <|im_end|>. And in a multi-turn continuation TRL trains the user's turns too; we train
    only the assistant's."""
    policy_dir, ref_dir = models
    records = [
        json.loads(line)
        for line in Path(write_pairs(tmp_path / "all.jsonl", 12, seed=12)).read_text().splitlines()
    ]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    _, trainer = trl_step1(policy_dir, ref_dir, records, "sigmoid", 0.5, "chatml", tmp_path)
    tok = build_tokenizer("bytelevel")
    for theirs, row, record in zip(trainer.train_dataset, rows_of(data), records, strict=True):
        trained = [
            t for t, lab in zip(row["chosen_input_ids"], row["chosen_labels"], strict=True) if lab != -100
        ]
        assert theirs["prompt_ids"] + theirs["chosen_ids"] == row["chosen_input_ids"]  # the same tokens
        if len(record["chosen"]) == 1:
            assert theirs["chosen_ids"] == trained + tok("\n")["input_ids"]
        else:
            assert "go on" in tok.decode(theirs["chosen_ids"]) and "go on" not in tok.decode(trained)


def test_the_bundled_config_and_sample_parse():
    from llm.commands.cli import parse
    from llm.data.samples import HERE
    from llm.models.loading import ModelArguments
    from llm.train.args import StageArguments
    from llm.train.dpo import DPO_DEFAULTS, DPOArguments

    types = (ModelArguments, DataArguments, StageArguments, DPOArguments)
    m, d, t, o = parse(types, [str(REPO / "configs" / "dpo_tiny.yaml")], "test", DPO_DEFAULTS)
    assert (m.model_config, d.dataset, d.template, o.loss_type, t.max_steps) == (
        "tiny",
        "preference",
        "pygmalion",
        "sigmoid",
        60,
    )
    sample = HERE / "roleplay_preference_sample.jsonl"
    assert Path(d.data_files[0]).name == sample.name and len(sample.read_text().splitlines()) == 300
    from llm.data.sources import get_source

    kinds = set()
    for line in sample.read_text().splitlines()[:40]:
        record = json.loads(line)
        pair = get_source("preference").convert(record, "sample")
        assert pair.prompt.character is not None and pair.chosen_text != pair.rejected_text
        kinds.add(record["kind"])
    assert kinds == {"out of character", "speaks for the user", "wrong persona", "breaks the scene"}
