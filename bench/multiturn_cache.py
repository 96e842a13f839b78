"""Multi-turn generation with and without each conversation's KV cache kept across turns (issue 21, item 3).

The role-play evaluation's own loop (:func:`llm.eval.simulate.simulate`: an instruction given once, the
bundled user turns, every turn one batched replier call) runs ``--conversations`` conversations of
``--turns`` turns twice per round on the same model: once with a plain :class:`LocalReplier` (every turn
prefills the whole history again) and once with a :class:`~llm.inference.cache.PrefixCache` (every turn
runs only the new user turn and the template's scaffolding). Greedy; every reply of both runs is asserted
identical. The two are alternated over ``--rounds`` rounds (the machine is shared, so timings are noisy;
alternating spreads the noise over both) and the best time of each is reported, beside the prompt tokens
each one ran through the model.

    .venv/bin/python bench/multiturn_cache.py                          # a small random Llama, 64 × 8
    .venv/bin/python bench/multiturn_cache.py --model smollm2-135m-instruct --conversations 16

``--model`` takes ``tiny`` (a random Llama of ``--hidden`` × ``--layers``, bytelevel tokenizer: fast, no
download) or anything :func:`llm.models.resolve.resolve_model` resolves (a checkpoint, a ``.gguf``,
``smollm2-135m-instruct``, fetched as ``make demo`` does).
"""

from __future__ import annotations

import argparse
import json
import time


def build(args: argparse.Namespace):
    """(model, encoder) in float32, eval mode."""
    import torch

    from llm.data.encode import Encoder

    if args.model == "tiny":
        from llm.data.tokenizer import build_tokenizer
        from llm.models.tiny import build_llama

        tokenizer = build_tokenizer("bytelevel")
        model = build_llama(tokenizer, hidden_size=args.hidden, layers=args.layers, heads=args.heads)
        return model.eval(), Encoder(tokenizer, "chatml")
    from llm.models.checkpoint import checkpoint_template
    from llm.models.loading import load_for_inference
    from llm.models.resolve import resolve_model

    path = resolve_model(args.model, "--model")
    model, tokenizer = load_for_inference(path)
    return model.to(torch.float32).eval(), Encoder(tokenizer, checkpoint_template(path))


def run(model, encoder, args, cached: bool) -> tuple[float, list[list[str]], int]:
    """Seconds, every conversation's replies, and the prompt tokens run through the model."""
    from llm.eval.checks import DEFAULT_CHECKS
    from llm.eval.simulate import ListedUserTurns, simulate
    from llm.inference.cache import PrefixCache
    from llm.inference.repliers import LocalReplier, Sampling

    checks = list(DEFAULT_CHECKS[:8])
    per_check = -(-args.conversations // len(checks))
    cache = PrefixCache() if cached else None
    local = LocalReplier(model, encoder, Sampling(max_new_tokens=args.max_new_tokens), args.batch_size, cache)
    ran = 0

    def replier(convs):
        nonlocal ran
        if cache is None:  # a plain replier runs every prompt in full
            ran += sum(len(local.prompt(c)[0] or []) for c in convs)
        return local(convs)

    start = time.perf_counter()
    transcripts = simulate(
        replier, checks, ListedUserTurns.bundled(per_check), per_check, args.turns, progress=False
    )[: args.conversations]
    seconds = time.perf_counter() - start
    if cached:
        ran = cache.prefilled_tokens
    return seconds, [[r.text for r in t.replies] for t in transcripts], ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--conversations", type=int, default=64)
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=16)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (0: torch's default; on a busy machine 1 is steadier)",
    )
    parser.add_argument("--json", default="", help="also write the results here")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs (seconds)")
    args = parser.parse_args()
    if args.smoke:  # its sizes become the defaults; a flag given still wins
        parser.set_defaults(conversations=4, turns=2, max_new_tokens=4, rounds=2, hidden=32, layers=1)
        args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model, encoder = build(args)
    times: dict[str, list[float]] = {"full prefill": [], "kept cache": []}
    tokens: dict[str, int] = {}
    replies: dict[str, list[list[str]]] = {}
    for r in range(args.rounds):
        order = ("full prefill", "kept cache") if r % 2 == 0 else ("kept cache", "full prefill")
        for name in order:
            seconds, said, ran = run(model, encoder, args, cached=name == "kept cache")
            times[name].append(seconds)
            tokens[name] = ran
            replies.setdefault(name, said)
            assert said == replies[name], f"{name}: greedy replies changed between rounds"
            print(f"round {r + 1}  {name:<12}  {seconds:7.2f} s  prompt tokens run {ran}", flush=True)
    assert replies["kept cache"] == replies["full prefill"], "the kept cache changed a greedy reply"
    best = {name: min(t) for name, t in times.items()}
    speedup = best["full prefill"] / best["kept cache"]
    print(
        f"\n{args.model}: {args.conversations} conversations × {args.turns} turns, "
        f"{args.max_new_tokens} new tokens, "
        f"greedy, torch threads {torch.get_num_threads()}\n"
        f"  full prefill  {best['full prefill']:7.2f} s  ({tokens['full prefill']} prompt tokens run)\n"
        f"  kept cache    {best['kept cache']:7.2f} s  ({tokens['kept cache']} prompt tokens run)\n"
        f"  speed-up      {speedup:.2f}×  (best of {args.rounds} alternating rounds; identical replies)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "times": times, "tokens": tokens, "speedup": speedup}, f, indent=2)


if __name__ == "__main__":
    main()
