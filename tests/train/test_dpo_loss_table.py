"""`dpo`'s loss table: every --loss_type is one row that scores with its own pure function, the flag's choices are
the table's names, and a name without a row is an error, never another loss (the old if/else ran the hinge
loss for any reference-based name it did not know)."""

import typing
from dataclasses import fields
from types import SimpleNamespace

import pytest
import torch

from llm.errors import UserError
from llm.train import preference_losses as pl
from llm.train.dpo import LOSSES, DPOArguments, PreferenceTrainer

T, V = 9, 5  # one packed row: 4 sequences (2 pairs) of 2 tokens after a shared first position
SEQUENCES = torch.tensor([[0, 0, 0, 1, 1, 2, 2, 3, 3]])
LABELS = torch.tensor([[-100, 1, 2, 3, 4, 0, 1, 2, 3]])
REF = torch.tensor([-3.0, -4.0, -2.5, -3.5])  # the reference's per-sequence log-probs: chosen, rejected, …


def fake_model(**kwargs):
    generator = torch.Generator().manual_seed(0)
    return SimpleNamespace(logits=torch.randn(1, T, V, generator=generator))


def loss_of(options: DPOArguments) -> float:
    """PreferenceTrainer.preference_loss on a fixed batch, without a Trainer: the loss policy alone."""
    trainer = SimpleNamespace(options=options, reference_logps=lambda model, inputs: REF)
    inputs = {"input_ids": torch.zeros(1, T, dtype=torch.long), "labels": LABELS, "sequence_ids": SEQUENCES}
    loss, _ = PreferenceTrainer.preference_loss(trainer, fake_model, inputs)
    return float(loss)


def expected(loss_type: str, o: DPOArguments) -> float:
    """Each name's own function of preference_losses, written out apart from the table."""
    logps, tokens, _ = pl.sequence_logps(fake_model().logits, LABELS, SEQUENCES, 4)
    c, r, ct, rt = logps[0::2], logps[1::2], tokens[0::2], tokens[1::2]
    rc, rr = REF[0::2], REF[1::2]
    by_name = {
        "sigmoid": lambda: pl.dpo_loss(c, r, rc, rr, o.beta, o.label_smoothing),
        "ipo": lambda: pl.ipo_loss(c, r, rc, rr, ct, rt, o.beta),
        "hinge": lambda: pl.hinge_loss(c, r, rc, rr, o.beta),
        "simpo": lambda: pl.simpo_loss(c, r, ct, rt, o.beta, o.simpo_gamma, o.label_smoothing),
        "orpo": lambda: -c.sum() / ct.sum() + o.orpo_alpha * pl.orpo_odds_loss(c, r, ct, rt),
    }
    return float(by_name[loss_type]().mean())


@pytest.mark.parametrize("loss_type", [name for name, row in LOSSES.items() if row.per_pair is not None])
def test_every_paired_loss_is_its_own_function(loss_type):
    options = DPOArguments(
        loss_type=loss_type, beta=0.3, label_smoothing=0.1, simpo_gamma=0.4, orpo_alpha=0.2
    )
    assert loss_of(options) == pytest.approx(expected(loss_type, options), rel=1e-6)


def test_the_losses_differ_on_the_batch():
    """The check above could not tell two rows apart if the batch gave them equal values."""
    values = {name: loss_of(DPOArguments(loss_type=name)) for name, row in LOSSES.items() if row.per_pair}
    assert len({round(v, 6) for v in values.values()}) == len(values), values


def test_a_loss_without_a_row_is_an_error_not_the_hinge_loss():
    """A new reference-based name that reached the trainer without being wired (here "robust") fails, naming
    the flag; the old dispatch's final else computed the hinge loss for it."""
    with pytest.raises(UserError, match="--loss_type 'robust': choose one of sigmoid, ipo, hinge"):
        loss_of(DPOArguments(loss_type="robust"))
    with pytest.raises(UserError, match="--loss_type 'robust'"):
        DPOArguments(loss_type="robust").validate(None)


def test_the_flag_offers_exactly_the_table():
    hints = typing.get_type_hints(DPOArguments)
    assert typing.get_args(hints["loss_type"]) == tuple(LOSSES)
    assert next(f for f in fields(DPOArguments) if f.name == "loss_type").default in LOSSES
    assert {name for name, row in LOSSES.items() if not row.reference} == {"simpo", "orpo"}
