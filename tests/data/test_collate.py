"""``llm-train sft`` computes the LM head and the loss only where a token is trained (issue 24: on SmolLM2 the
log-softmax over 49,152 words at every position of a row was a large part of a LoRA step on CPU). The loss and
every gradient must be those of the plain full-logits forward, through the real Trainer step too."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import Trainer

from llm.data.collate import (
    LogitsAtLabels,
    PaddedCollator,
    PaddingFreeCollator,
    accepts_logits_to_keep,
    logits_at_labels,
)
from llm.data.tokenizer import build_tokenizer
from llm.models.tiny import build_llama
from tests.train.test_sft import as_dataset, sample_rows, stage_args


def loss_and_grads(model, batch):
    model.zero_grad(set_to_none=True)
    loss = model(**batch, use_cache=False).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("lora", [False, True])
@pytest.mark.parametrize("collator", [PaddingFreeCollator(flatten=False), PaddingFreeCollator(flatten=True)])
def test_same_loss_and_gradients_as_full_logits(collator, lora):
    tok = build_tokenizer("bytelevel")
    _, rows = sample_rows(tok, max_length=128, n_chats=8)
    model = build_llama(tok, seed=2)
    if lora:
        model = get_peft_model(
            model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
        )
        for module in model.modules():  # adapters start at zero (B = 0): move them so every gradient shows
            if hasattr(module, "lora_B"):
                torch.nn.init.normal_(module.lora_B["default"].weight, std=0.02)
    features = [
        {"input_ids": r.input_ids, "labels": r.labels, "position_ids": r.position_ids} for r in rows[:3]
    ]
    plain = collator(features)
    kept = LogitsAtLabels(collator)(features)
    assert kept["logits_to_keep"].sum() == (plain["labels"][:, 1:] != -100).sum() < plain["labels"].numel()
    loss_a, grads_a = loss_and_grads(model, plain)
    loss_b, grads_b = loss_and_grads(model, kept)
    assert abs(loss_a - loss_b) < 1e-6
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name, grad in grads_a.items():
        torch.testing.assert_close(grads_b[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_trainer_step_gives_the_same_loss_and_weights(tmp_path):
    tok = build_tokenizer("bytelevel")
    _, rows = sample_rows(tok, max_length=128, n_chats=8)
    results = []
    for name, collator in (("plain", PaddingFreeCollator(flatten=False)), ("kept", None)):
        model = build_llama(tok, seed=3)
        model.config.use_cache = False
        collator = collator or LogitsAtLabels(PaddingFreeCollator(flatten=False))
        args = stage_args(
            tmp_path / name, learning_rate=1e-2, max_steps=2, per_device_train_batch_size=2, optim="sgd"
        )  # SGD: Adam would blow float rounding in near-zero gradients up to whole steps
        trainer = Trainer(model=model, args=args, train_dataset=as_dataset(rows[:4]), data_collator=collator)
        results.append(
            (trainer.train().training_loss, {k: v.detach().clone() for k, v in model.named_parameters()})
        )
    (loss_a, weights_a), (loss_b, weights_b) = results
    assert abs(loss_a - loss_b) < 1e-6
    for name, w in weights_a.items():
        torch.testing.assert_close(weights_b[name], w, rtol=1e-5, atol=1e-6, msg=name)


def test_padded_batches_and_nothing_trained():
    batch = PaddedCollator(0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    out = logits_at_labels(batch)
    assert out["logits_to_keep"].tolist() == [[True, True, False], [False, False, False]]
    assert out["shift_labels"].tolist() == [6, 7]
    untrained = {"input_ids": torch.tensor([[1, 2]]), "labels": torch.tensor([[-100, -100]])}
    assert (
        logits_at_labels(untrained) is untrained
    )  # nothing to keep: the plain forward (its loss is nan either way)


def test_which_models_take_it():
    tok = build_tokenizer("bytelevel")
    model = build_llama(tok)
    assert accepts_logits_to_keep(model)
    assert accepts_logits_to_keep(get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"])))
    assert not accepts_logits_to_keep(torch.nn.Linear(2, 2))
