import pytest

from llm.data.conversation import Character, Conversation, Message
from llm.data.encode import IGNORE_INDEX, Encoder
from llm.data.gatt import sampling_conversation, training_conversations
from llm.data.templates import card_system_text
from llm.data.tokenizer import build_tokenizer

INST = "Always answer as Napoleon."
CONV = Conversation(
    (
        Message("user", "Hi"),
        Message("assistant", "Bonjour."),
        Message("user", "Plans?"),
        Message("assistant", "Austerlitz."),
        Message("user", "And then?"),
        Message("assistant", "An empire."),
    )
)


def test_sampling_attaches_instruction_to_every_user_turn():
    conv = sampling_conversation(CONV, INST)
    users = [m.content for m in conv.messages if m.role == "user"]
    assert users == [f"{INST}\n\nHi", f"{INST}\n\nPlans?", f"{INST}\n\nAnd then?"]
    assert [m.content for m in conv.messages if m.role == "assistant"] == [
        "Bonjour.",
        "Austerlitz.",
        "An empire.",
    ]


@pytest.mark.parametrize("placement", ["system", "first_user"])
def test_training_keeps_instruction_once_and_trains_only_the_final_reply(placement):
    samples = training_conversations(CONV, INST, skip_first=1, placement=placement)
    assert len(samples) == 2  # replies 2 and 3
    tok = build_tokenizer("bytelevel")
    enc = Encoder(tok, "chatml")
    for sample, final in zip(samples, ["Austerlitz.", "An empire."], strict=True):
        text = enc.render(sample).text
        assert text.count(INST) == 1
        if placement == "system":
            assert sample.messages[0] == Message("system", INST, train=False)
        else:
            assert sample.messages[0].content == f"{INST}\n\nHi"
        assert sample.messages[-1].content == final and sample.messages[-1].train is True
        encoded = enc.encode(sample)
        trained = [t for t, lab in zip(encoded.input_ids, encoded.labels, strict=True) if lab != IGNORE_INDEX]
        assert tok.backend_tokenizer.decode(trained, skip_special_tokens=False) == final + "<|im_end|>"


def test_mask_policy_cannot_train_earlier_turns():
    """Overrides win over the policy: even `all`-assistant masking trains only the final reply."""
    sample = training_conversations(CONV, INST)[-1]
    for policy in ("assistant", "last"):
        encoded = Encoder(build_tokenizer("metaspace"), "llama3", mask=policy).encode(sample)
        trained = [t for t, lab in zip(encoded.input_ids, encoded.labels, strict=True) if lab != IGNORE_INDEX]
        assert build_tokenizer("metaspace").backend_tokenizer.decode(trained) == "An empire."


def test_character_card_as_instruction():
    card = Character("Napoleon", persona="Emperor of the French.", user_name="Sam")
    sys_samples = training_conversations(CONV, card)
    assert all(s.character == card for s in sys_samples)
    assert sampling_conversation(CONV, card).messages[0].content.startswith(card_system_text(card))


def test_existing_system_message_keeps_its_text():
    conv = Conversation((Message("system", "Be brief."), *CONV.messages))
    sample = training_conversations(conv, INST)[0]
    assert sample.messages[0].content == f"{INST}\n\nBe brief."


def test_bad_placement_and_no_user_turn():
    with pytest.raises(ValueError, match="unknown placement"):
        training_conversations(CONV, INST, placement="everywhere")
    with pytest.raises(ValueError, match="needs a user turn"):
        training_conversations(Conversation((Message("assistant", "hi"),)), INST, placement="first_user")
