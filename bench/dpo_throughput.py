"""DPO throughput: ``llm-train dpo`` (padding-free pairs) against TRL's ``DPOTrainer`` (padded batches).

Same model, same pairs, same batch, one CPU machine. The model is a random-init Llama of the ``small``
shape (hidden 256, 4 layers, a byte-level BPE trained on the sample); the pairs are the bundled multi-turn
role-play preference sample rendered with the ``llama3`` template (whose rendered reply ends at its
end-of-turn token, so TRL's completion is exactly our trained span: identical tokens and trained tokens),
keeping the pairs whose longer side fits ``--max_length`` so neither side truncates anything. Both train
with DPO (sigmoid, β 0.1), a live reference copy of the model, batch ``--batch`` pairs, AdamW, fp32, sdpa.

Each measurement is a whole process (``--run ours|trl``): load, then ``--warmup`` steps, then ``--steps``
timed steps (a callback reads the clock at step ends). The methods alternate, ``--repeats`` times each; the
table shows the median. Pairs/s counts pairs trained in the timed steps; trained tokens/s counts their
completion tokens (what DPO scores).

    $ .venv/bin/python bench/dpo_throughput.py [--steps 12] [--batch 4] [--repeats 2] [--smoke]
    $ python bench/dpo_throughput.py --device cuda --model llama-1b --json dpo.json   # on a GPU (bf16)

Prints the machine, the date and one table; copy it into the README with them (~6 minutes at the defaults).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "llm" / "data" / "samples" / "roleplay_preference_sample.jsonl"
# --smoke: both methods, one timed step each on the tiny shape (seconds); its numbers mean nothing
SMOKE = {"steps": 1, "warmup": 1, "batch": 2, "repeats": 1, "model": "tiny", "max_length": 512, "pairs": 8}


def prepare(work: Path, max_length: int, shape_name: str = "small", limit: int = 0) -> tuple[Path, Path, int]:
    """Tokenizer + model checkpoint, and the pairs that fit (the first ``limit``, if given); returns (model dir,
    pairs file, pairs)."""
    from llm.data.process import DataArguments, ProcessArguments, process
    from llm.data.tokenizer import build_tokenizer
    from llm.models.loading import MODEL_CONFIGS
    from llm.models.tiny import build_llama

    records = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    corpus = [m["content"] for r in records for part in ("prompt", "chosen", "rejected") for m in r[part]]
    tok = build_tokenizer("bytelevel", vocab_size=4000, corpus=corpus)
    shape = MODEL_CONFIGS[shape_name]
    model = build_llama(tok, hidden_size=shape["hidden_size"], layers=shape["num_hidden_layers"],
                        heads=shape["num_attention_heads"], intermediate_size=shape["intermediate_size"],
                        num_key_value_heads=shape.get("num_key_value_heads", shape["num_attention_heads"]))  # fmt: skip
    model_dir = work / "model"
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    # Keep the pairs that fit untruncated (our --truncation drop), then write exactly those for both sides.
    everything = work / "all.jsonl"
    everything.write_text(
        "".join(json.dumps({k: r[k] for k in ("prompt", "chosen", "rejected")}) + "\n" for r in records)
    )
    args = DataArguments(dataset="preference", data_files=[str(everything)], tokenizer=str(model_dir),
                         template="llama3", max_length=max_length, truncation="drop", on_error="skip")  # fmt: skip
    import datasets

    rows = datasets.load_from_disk(process(args, ProcessArguments())["output"])["train"]
    kept = [records[i] for i in rows["source_index"]][: limit or None]
    pairs = work / "pairs.jsonl"
    pairs.write_text(
        "".join(json.dumps({k: r[k] for k in ("prompt", "chosen", "rejected")}) + "\n" for r in kept)
    )
    return model_dir, pairs, len(kept)


class Clock:
    """A TrainerCallback that reads the clock at every step end."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def callback(self):
        from transformers import TrainerCallback

        clock = self

        class _Cb(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                clock.times.append(time.perf_counter())

        return _Cb()


def run_ours(model_dir: Path, pairs: Path, args: argparse.Namespace) -> dict:
    from llm.data.process import DataArguments
    from llm.models.loading import ModelArguments
    from llm.train import dpo
    from llm.train.args import StageArguments

    clock = Clock()
    original = dpo.PreferenceTrainer.__init__

    def with_clock(self, *a, **k):
        k["callbacks"] = [*(k.get("callbacks") or []), clock.callback()]
        original(self, *a, **k)

    dpo.PreferenceTrainer.__init__ = with_clock
    training = StageArguments(
        output_dir=str(args.work / "ours-run"), max_steps=args.warmup + args.steps, per_device_train_batch_size=args.batch,
        learning_rate=1e-5, report_to="none", save_strategy="no", use_cpu=args.device == "cpu", disable_tqdm=True,
        logging_steps=10**6, train_sampling_strategy="sequential", bf16=args.device != "cpu",
    )  # fmt: skip
    data = DataArguments(dataset="preference", data_files=[str(pairs)], tokenizer=str(model_dir), template="llama3",
                         max_length=args.max_length)  # fmt: skip
    dpo.run(ModelArguments(model_name_or_path=str(model_dir)), data, training, dpo.DPOArguments(beta=0.1))
    return measure(clock.times, args, trained_tokens(pairs, model_dir, args))


def run_trl(model_dir: Path, pairs: Path, args: argparse.Namespace) -> dict:
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from llm.data.jinja import to_jinja
    from llm.data.templates import get_template

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.chat_template = to_jinja(get_template("llama3", tok))
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    config = DPOConfig(
        output_dir=str(args.work / "trl-run"), max_steps=args.warmup + args.steps, per_device_train_batch_size=args.batch,
        learning_rate=1e-5, report_to="none", save_strategy="no", use_cpu=args.device == "cpu", disable_tqdm=True,
        logging_steps=10**6, beta=0.1, max_length=None, train_sampling_strategy="sequential", bf16=args.device != "cpu",
    )  # fmt: skip
    clock = Clock()
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        ref_model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=config,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tok,
        callbacks=[clock.callback()],
    )
    trainer.train()
    return measure(clock.times, args, trained_tokens(pairs, model_dir, args))


def trained_tokens(pairs: Path, model_dir: Path, args: argparse.Namespace) -> list[int]:
    """Completion tokens of each pair (both sides), in file order: the same for both methods."""
    import datasets

    from llm.data.process import DataArguments, ProcessArguments, process

    data = DataArguments(dataset="preference", data_files=[str(pairs)], tokenizer=str(model_dir), template="llama3",
                         max_length=args.max_length)  # fmt: skip
    rows = datasets.load_from_disk(process(data, ProcessArguments())["output"])["train"]
    return [
        sum(x != -100 for x in r["chosen_labels"]) + sum(x != -100 for x in r["rejected_labels"])
        for r in rows
    ]


def measure(times: list[float], args: argparse.Namespace, tokens: list[int]) -> dict:
    timed = times[args.warmup - 1 :]  # from the end of the last warm-up step
    seconds = timed[-1] - timed[0]
    first = args.warmup * args.batch
    used = [tokens[(first + k) % len(tokens)] for k in range(args.steps * args.batch)]
    return {
        "pairs_per_s": args.steps * args.batch / seconds,
        "tokens_per_s": sum(used) / seconds,
        "seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max_length", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu (fp32) or cuda (bf16)")
    parser.add_argument("--model", default="small", help="model shape: small or llama-1b")
    parser.add_argument("--pairs", type=int, default=0, help="train on the first N pairs that fit (0: all)")
    parser.add_argument("--json", type=Path, help="also write the medians here")
    parser.add_argument("--run", choices=("ours", "trl"))
    parser.add_argument("--work", type=Path)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = parser.parse_args()
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        parser.set_defaults(**SMOKE)
        args = parser.parse_args()
    if args.run:  # one measurement, in its own process
        model_dir, pairs = args.work / "model", args.work / "pairs.jsonl"
        result = (run_ours if args.run == "ours" else run_trl)(model_dir, pairs, args)
        print("RESULT " + json.dumps(result))
        return 0
    work = Path(tempfile.mkdtemp(prefix="dpo-bench-"))
    os.environ["LLM_TRAIN_CACHE"] = str(work / "cache")
    model_dir, pairs, n = prepare(work, args.max_length, args.model, args.pairs)
    results: dict[str, list[dict]] = {"ours": [], "trl": []}
    for _ in range(args.repeats):
        for method in ("ours", "trl"):
            cmd = [sys.executable, __file__, "--run", method, "--work", str(work), "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--batch", str(args.batch), "--max_length", str(args.max_length),
                   "--device", args.device]  # fmt: skip
            done = subprocess.run(
                cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"}
            )
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"{method} failed:\n{done.stderr[-3000:]}")
            results[method].append(json.loads(line[7:]))
    import torch
    import transformers
    import trl

    print(f"# DPO throughput — {cpu_model()}, {os.cpu_count()} CPUs, {datetime.date.today()}; torch {torch.__version__}, "
          f"transformers {transformers.__version__}, trl {trl.__version__}")  # fmt: skip
    print(f"# {n} pairs (≤ {args.max_length} tokens a side), batch {args.batch}, {args.steps} timed steps after "
          f"{args.warmup}, median of {args.repeats} alternating runs")  # fmt: skip
    print(f"# model {args.model} on {args.device}")
    print(f"{'method':<44} {'pairs/s':>9} {'trained tokens/s':>17} {'vs TRL':>7}")
    trl_pairs = statistics.median(r["pairs_per_s"] for r in results["trl"])
    medians = {}
    names = {"ours": "llm-train dpo (prompt shared, padding-free)", "trl": "TRL DPOTrainer (padded)"}
    for method in ("ours", "trl"):
        pairs_s = statistics.median(r["pairs_per_s"] for r in results[method])
        tokens_s = statistics.median(r["tokens_per_s"] for r in results[method])
        print(f"{names[method]:<44} {pairs_s:>9.2f} {tokens_s:>17,.0f} {pairs_s / trl_pairs:>6.2f}×")
        medians[method] = {"pairs_per_s": pairs_s, "tokens_per_s": tokens_s}
    if args.json:
        args.json.write_text(
            json.dumps({"pairs": n, "model": args.model, "device": args.device, **medians}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
