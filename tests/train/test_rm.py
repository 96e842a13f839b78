"""Reward modelling (llm/train/rm.py, ``llm-train rm``): the loss and metrics by hand, calibration, a tiny
reward model that learns a synthetic preference, accumulation invariance. The model itself: tests/models/test_reward.py."""

import json
import random

import pytest
import torch

from llm.commands.rm import main
from llm.models.reward import load_reward_model, score
from llm.train.rm import calibration_table, preference_loss, preference_metrics


def test_loss_and_metrics_by_hand():
    chosen, rejected = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1.0, 1.0, -1.0])
    # −log σ(1) = 0.31326, −log σ(−0.5) = 0.97408, −log σ(0) = 0.69315
    assert float(preference_loss(chosen, rejected)) == pytest.approx(
        (0.31326 + 0.97408 + 0.69315) / 3, abs=1e-4
    )
    # with a margin of 1: −log σ(0), −log σ(−1.5), −log σ(−1)
    assert float(preference_loss(chosen, rejected, margin=1.0)) == pytest.approx(
        (0.69315 + 1.70141 + 1.31326) / 3, abs=1e-4
    )
    m = preference_metrics(chosen, rejected)
    assert m["accuracy"] == pytest.approx(1 / 3)  # the tie is not a win
    assert m["margin"] == pytest.approx((1.0 - 0.5 + 0.0) / 3)
    assert m["reward_mean"] == pytest.approx(2.5 / 6)


def test_calibration_table_bins():
    chosen = torch.tensor([3.0, 3.0, 0.1, -0.1])
    rejected = torch.tensor([0.0, 0.0, 0.0, 0.0])
    table = calibration_table(chosen, rejected, bins=5)
    assert sum(r["pairs"] for r in table) == 4
    assert table[0]["pairs"] == 2 and table[0]["accuracy"] == 0.5  # σ(0.1): unsure, right half the time
    assert table[-1]["pairs"] == 2 and table[-1]["accuracy"] == 1.0  # σ(3) = 0.95: sure and right


def synthetic_pairs(n, seed):
    """A preference a tiny model can learn: replies that end politely beat replies that end rudely."""
    rng = random.Random(seed)
    words = "the sea light storm tea book moon garden rain wind night song map star".split()
    polite, rude = ["thank you", "with pleasure", "kind regards"], ["whatever", "go away", "not my problem"]
    rows = []
    for _ in range(n):
        prompt = (
            "SUBREDDIT: r/pets\nTITLE: "
            + " ".join(rng.sample(words, 3))
            + "\nPOST: "
            + " ".join(rng.choice(words) for _ in range(rng.randint(5, 20)))
        )
        body = " ".join(rng.choice(words) for _ in range(rng.randint(3, 10)))
        rows.append(
            {
                "prompt": prompt,
                "chosen": f"TL;DR: {body} {rng.choice(polite)}",
                "rejected": f"TL;DR: {' '.join(rng.sample(words, 4))} {rng.choice(rude)}",
            }
        )
    return rows


@pytest.mark.slow  # a learning run
def test_tiny_reward_model_learns_a_synthetic_preference(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in synthetic_pairs(400, seed=0)))
    out = tmp_path / "rm"
    argv = [
        "--model_config", "tiny", "--tokenizer", "tiny:bytelevel", "--data_files", str(data),
        "--validation_split", "0.2", "--output_dir", str(out), "--max_steps", "60",
        "--per_device_train_batch_size", "16", "--learning_rate", "3e-3", "--report_to", "none",
        "--save_strategy", "no", "--use_cpu", "--disable_tqdm", "true", "--seed", "0",
    ]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eval_accuracy"] >= 0.9, metrics
    assert (out / "calibration.json").exists() and "eval accuracy" in capsys.readouterr().out
    # The stored bias centres the chosen rewards of the training set at 0, applied at load.
    model, tok = load_reward_model(str(out))
    import datasets

    info = json.loads((out / "llm_train.json").read_text())  # the processed rows live in the cache
    train = datasets.load_from_disk(str(tmp_path / "cache" / "processed" / info["fingerprint"]))["train"]
    texts = [tok.decode(r, skip_special_tokens=False) for r in train["chosen_input_ids"][:2048]]
    assert abs(sum(score(model, tok, texts)) / len(texts)) < 1e-3
    assert json.loads((out / "llm_train.json").read_text())["stage"] == "rm"


def test_rm_refuses_chat_rows(tmp_path, monkeypatch, capsys):
    from llm.data.samples import PIPPA_SAMPLE as SAMPLE

    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))
    argv = ["--model_config", "tiny", "--tokenizer", "tiny:bytelevel", "--dataset", "pippa", "--template", "chatml",
            "--data_files", str(SAMPLE), "--output_dir", str(tmp_path / "rm"), "--max_steps", "1"]  # fmt: skip
    assert main(argv) == 2
    assert "needs chosen_input_ids, rejected_input_ids (a reward model trains on a comparisons" in (
        capsys.readouterr().err
    )


def test_batch_1_times_accumulation_4_equals_4_times_1(tmp_path, monkeypatch):
    """The pairwise loss is a mean: accumulating 4 batches of 1 must give the update of one batch of 4."""
    from safetensors.torch import load_file

    monkeypatch.setenv("LLM_TRAIN_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in synthetic_pairs(4, seed=1)))
    weights = []
    for name, batch, accumulation in (("a", 4, 1), ("b", 1, 4)):
        argv = [
            "--model_config", "tiny", "--tokenizer", "tiny:bytelevel", "--data_files", str(data), "--output_dir",
            str(tmp_path / name), "--max_steps", "1", "--per_device_train_batch_size", str(batch),
            "--gradient_accumulation_steps", str(accumulation), "--optim", "sgd", "--learning_rate", "1.0",
            "--max_grad_norm", "0", "--normalize_samples", "0", "--train_sampling_strategy", "sequential",
            "--report_to", "none", "--save_strategy", "no", "--use_cpu", "--disable_tqdm", "true", "--seed", "0",
        ]  # fmt: skip
        assert main(argv) == 0
        weights.append(load_file(tmp_path / name / "model.safetensors"))
    for key in weights[0]:
        torch.testing.assert_close(weights[0][key], weights[1][key], atol=1e-5, rtol=1e-4)
