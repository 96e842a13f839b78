import torch

from llm.data.conversation import Conversation, Message
from llm.data.encode import IGNORE_INDEX, Encoder
from llm.data.tokenizer import build_tokenizer
from llm.models.tiny import build_llama


def test_tiny_llama_loss_is_mean_over_trained_tokens():
    """Our labels are in the convention transformers expects: the model's loss equals cross-entropy over
    exactly the trained positions, each predicted from the tokens before it."""
    tok = build_tokenizer("bytelevel")
    model = build_llama(tok).eval()
    conv = Conversation(
        (
            Message("user", "hello there"),
            Message("assistant", "well met"),
            Message("user", "bye"),
            Message("assistant", "ok"),
        )
    )
    sample = Encoder(tok, "chatml").encode(conv)
    ids = torch.tensor([sample.input_ids])
    labels = torch.tensor([sample.labels])
    with torch.no_grad():
        out = model(input_ids=ids, labels=labels, use_cache=False)
    logits = out.logits[0, :-1]
    targets = labels[0, 1:]
    keep = targets != IGNORE_INDEX
    manual = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
    assert keep.sum().item() == sample.num_trained  # the first token is never trained
    torch.testing.assert_close(out.loss, manual, rtol=1e-5, atol=1e-6)


def test_tiny_tokenizers_are_deterministic():
    """Trained twice from scratch, the same vocabulary: tests do not depend on a lucky build."""
    from llm.data.tokenizer import _corpus

    a, b = (build_tokenizer("metaspace", corpus=list(_corpus())) for _ in range(2))
    assert a.get_vocab() == b.get_vocab()
