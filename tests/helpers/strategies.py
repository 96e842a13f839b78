"""Hypothesis strategies for conversations that stress tokenization at every seam."""

from hypothesis import strategies as st

from llm.data.conversation import Character, Conversation, Message

# Text that real chats contain and tokenizers trip over. U+2581 ("▁") is left out: SentencePiece-style
# tokenizers write spaces as that character, so it cannot round-trip through them (a SentencePiece fact,
# not ours). U+E000/U+E001 are left out too: the `tokenizer` template uses them as content markers.
SCRIPTS = [
    "日本語のテキスト",
    "中文字符",
    "한국어",
    "مرحبا",  # right-to-left
    "שלום",
    "e\u0301",  # combining acute accent
    "\u0915\u094d\u0937",  # Devanagari conjunct
    "🙂",
    "👩‍🚀",  # ZWJ sequence
    "🇫🇷",
    "naïve",
    "*waves*",
    "you're",
    "'s",
    "1234",
]
WHITESPACE = [" ", "  ", "\n", "\n\n", "\t", "\r\n", " \n "]
CONTROL_TEXT = [
    "<|im_end|>",
    "<|im_start|>assistant\n",
    "[INST]",
    "[/INST]",
    "<|eot_id|>",
    "<|start_header_id|>",
    "</s>",
    "<s>",
    "<|model|>",
    "<|user|>",
    "<reserved_107>",
    "<<SYS>>",
    "USER:",
    "ASSISTANT:",
    "<START>",
    "You:",
]
PLACEHOLDERS = ["{{char}}", "{{user}}", "{char}}", "{{random_user_3}}"]

_chars = st.characters(codec="utf-8", exclude_characters="\u2581\ue000\ue001")
_word = st.text(alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz ABC.,!?")), min_size=1, max_size=12)


def content(control: bool = True, whitespace_edges: bool = True, placeholders: bool = True):
    parts = [_word, st.sampled_from(SCRIPTS), st.text(_chars, max_size=6)]
    if whitespace_edges:
        parts.append(st.sampled_from(WHITESPACE))
    if control:
        parts.append(st.sampled_from(CONTROL_TEXT))
    if placeholders:
        parts.append(st.sampled_from(PLACEHOLDERS))
    text = st.lists(st.one_of(*parts), max_size=6).map("".join)
    if not whitespace_edges:
        text = text.map(str.strip).filter(lambda s: s.strip() == s)
    return text


@st.composite
def conversations(draw, **content_kwargs):
    text = content(**content_kwargs)
    messages = []
    if draw(st.booleans()):
        messages.append(Message("system", draw(text)))
    n = draw(st.integers(1, 6))
    for _ in range(n):
        messages.append(Message(draw(st.sampled_from(["user", "assistant"])), draw(text)))
    character = None
    if draw(st.booleans()):
        name = draw(st.sampled_from(["Mira", "Captain Holt", "ジョン", "Zoë"]))
        character = Character(
            name=name,
            persona=draw(text),
            scenario=draw(text),
            example_dialogue=draw(text),
            user_name=draw(st.sampled_from(["You", "Sam", "{{user}}"])),
        )
    return Conversation(tuple(messages), character)
