"""The pieces of `make demo-rlhf` that are not stages of their own: the split of the comparisons between the
optimised and the held-out reward model, and the start/end summary."""

import json

from llm.commands.demo_rlhf import split_by_post, summary


def test_the_two_reward_models_never_see_the_same_post(tmp_path):
    rows = [{"prompt": f"post {k % 7}", "chosen": f"a{k}", "rejected": f"b{k}"} for k in range(30)]
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    optimised, held_out = split_by_post(source, tmp_path / "split")
    a = [json.loads(line) for line in optimised.read_text().splitlines()]
    b = [json.loads(line) for line in held_out.read_text().splitlines()]
    assert len(a) + len(b) == 30 and sorted(r["chosen"] for r in a + b) == sorted(r["chosen"] for r in rows)
    assert not {r["prompt"] for r in a} & {r["prompt"] for r in b}
    assert {r["prompt"] for r in a} == {f"post {k}" for k in (0, 2, 4, 6)}  # alternate posts, in file order


def test_summary_reads_the_optimised_and_held_out_rewards():
    history = [
        {
            "rm_score_mean": float(k),
            "held_out/rm": -float(k),
            "kl_mean": k / 2,
            "eos_rate": 1.0,
            "entropy": 2.0,
        }
        for k in range(10)
    ]
    rows = summary("PPO", history, "kl_mean", "nats")
    assert "optimised RM" in rows[0] and "+0.500 →" in rows[0] and "+8.500" in rows[0]
    assert "held-out RM" in rows[1] and "-8.500" in rows[1]
