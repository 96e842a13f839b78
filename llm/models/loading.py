"""Loading models: for a training stage (from a checkpoint or a named config, with the right attention and
dtype) and for inference (a checkpoint on the best device, in eval mode).

>>> pick_attention("auto")  # no flash-attn on CUDA here
'sdpa'
>>> sorted(MODEL_CONFIGS)
['llama-1b', 'small', 'tiny']
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llm.errors import UserError
from llm.models.checkpoint import require_complete
from llm.models.resolve import resolve_model

ATTENTION_CHOICES = ("auto", "sdpa", "eager", "flash_attention_2", "flex_attention")

# Named configs for training from scratch: Llama shapes, vocabulary from the tokenizer.
MODEL_CONFIGS: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4},
    "small": {"hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 4, "num_attention_heads": 4},
    "llama-1b": {
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 22,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
    },
}


# The context of a model initialised from a named config (``--model_config``).
NAMED_CONFIG_CONTEXT = 8192
# config.json keys that hold a model's context, by architecture family (Llama/Qwen/Mistral …, GPT-2, others).
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length")


def model_context(args: ModelArguments) -> tuple[int, str] | None:
    """The longest sequence the model takes and where that number comes from, read from a local
    checkpoint's ``config.json`` (cheap: no weights); None where it cannot be told without a download.

    >>> model_context(ModelArguments(model_config="tiny"))
    (8192, '--model_config tiny')
    """
    if args.model_config:
        return NAMED_CONFIG_CONTEXT, f"--model_config {args.model_config}"
    config_file = Path(args.model_name_or_path or "").expanduser() / "config.json"
    if not config_file.is_file():
        return None
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None  # loading reports a broken config.json in its own words
    for key in CONTEXT_KEYS:
        if isinstance(config.get(key), int) and config[key] > 0:
            return config[key], f"{key} {config[key]} in {config_file}"
    return None


def check_context(args: ModelArguments, max_length: int) -> None:
    """``--max_length`` within the model's context: longer rows would index positions it has no embedding
    (or rotary table) for, and size every buffer by a length the model can never use."""
    known = model_context(args)
    if known and max_length > known[0]:
        raise UserError(
            f"--max_length {max_length}: longer than the model's context ({known[1]}); give at most {known[0]}"
        )


@dataclass
class ModelArguments:
    """Which model to train, and how."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "hub id, checkpoint directory, .gguf file, or smollm2-135m-instruct"},
    )
    model_config: str | None = field(
        default=None, metadata={"help": f"initialise from scratch: {', '.join(MODEL_CONFIGS)}"}
    )
    attn_implementation: str = field(
        default="auto",
        metadata={"help": f"{', '.join(ATTENTION_CHOICES)} (auto: flash_attention_2 if usable)"},
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "run the model's own code (e.g. Baichuan2)"}
    )
    torch_dtype: str = field(default="auto", metadata={"help": "auto, float32, bfloat16, float16"})
    lora_r: int = field(default=0, metadata={"help": "LoRA rank (0: full fine-tuning)"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        metadata={"help": "module names that get adapters"},
    )
    lora_merge_on_save: bool = field(
        default=True, metadata={"help": "save merged weights (a plain checkpoint)"}
    )

    def validate(self) -> None:
        if bool(self.model_name_or_path) == bool(self.model_config):
            raise UserError(
                "give exactly one of --model_name_or_path (a checkpoint) or --model_config (from scratch)"
            )
        if self.model_config and self.model_config not in MODEL_CONFIGS:
            raise UserError(
                f"--model_config {self.model_config!r} is unknown; known: {', '.join(MODEL_CONFIGS)}"
            )
        if self.attn_implementation not in ATTENTION_CHOICES:
            raise UserError(f"--attn_implementation must be one of {', '.join(ATTENTION_CHOICES)}")
        if self.attn_implementation == "flash_attention_2" and not flash_attention_usable():
            raise UserError(
                "--attn_implementation flash_attention_2 needs CUDA and flash-attn: pip install -e '.[flash]'"
            )
        if self.torch_dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise UserError("--torch_dtype must be auto, float32, bfloat16 or float16")
        if self.lora_r < 0:
            raise UserError("--lora_r must be >= 0")
        if not self.lora_r:
            given = [f"--{f.name}" for f in fields(self) if f.name.startswith("lora_") and f.name != "lora_r"
                     and getattr(self, f.name) != _default(f)]  # fmt: skip
            if given:
                raise UserError(f"{' '.join(given)} set without --lora_r: give a LoRA rank, or drop them")
        if self.lora_r and importlib.util.find_spec("peft") is None:
            raise UserError("--lora_r needs peft: pip install -e '.[peft]'")
        if self.model_name_or_path:
            self.model_name_or_path = resolve_model(self.model_name_or_path)  # a .gguf, a named default
            check_model_source(self.model_name_or_path, trust_remote_code=self.trust_remote_code)


def _default(f: Any) -> Any:
    return f.default_factory() if callable(f.default_factory) else f.default


def check_model_source(
    name: str, flag: str = "--model_name_or_path", trust_remote_code: bool = False
) -> None:
    """A clear error, before any weights load, when ``name`` is neither a checkpoint directory nor a hub
    model whose config can be fetched (or is in the local cache)."""
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{flag} {name}: a file, not a checkpoint directory")
        if not (path / "config.json").is_file():
            raise UserError(f"{flag} {name}: no config.json here; not a Hugging Face checkpoint directory")
        require_complete(path, flag)
        return
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise FileNotFoundError(f"{flag} {name}: no such directory")
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"{flag} {name}: no such directory, and no hub model of that name could be reached ({first})"
        ) from None


def flash_attention_usable() -> bool:
    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None


def pick_attention(choice: str) -> str:
    """``auto`` → ``flash_attention_2`` when flash-attn is installed and CUDA is there, else ``sdpa``."""
    if choice == "auto":
        return "flash_attention_2" if flash_attention_usable() else "sdpa"
    return choice


def load_dtype(name: str, bf16: bool = False, fp16: bool = False) -> Any:
    """The dtype to load weights in. ``auto`` means what it means in transformers — the checkpoint's own
    dtype — except under mixed precision (``--bf16``/``--fp16``), where the Trainer keeps float32 weights
    and computes in half precision (autocast): half-precision weights there would train without master
    weights (bf16) or fail to unscale gradients (fp16).

    >>> load_dtype("auto"), str(load_dtype("auto", bf16=True)), str(load_dtype("bfloat16"))
    ('auto', 'torch.float32', 'torch.bfloat16')
    """
    import torch

    if name == "auto":
        return torch.float32 if (bf16 or fp16) else "auto"
    if name == "float16" and fp16:
        raise UserError("--torch_dtype float16 with --fp16: mixed precision needs float32 weights (use auto)")
    return getattr(torch, name)


def build_model(args: ModelArguments, tokenizer: Any, bf16: bool = False, fp16: bool = False) -> Any:
    """The causal LM to train: loaded, or initialised from a named config; embeddings sized to the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    attention = pick_attention(args.attn_implementation)
    if args.model_config:
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            max_position_embeddings=NAMED_CONFIG_CONTEXT,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=True,
            **MODEL_CONFIGS[args.model_config],
        )
        model = AutoModelForCausalLM.from_config(config, attn_implementation=attention, dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(
            args.model_name_or_path,
            attn_implementation=attention,
            trust_remote_code=args.trust_remote_code,
            dtype=load_dtype(args.torch_dtype, bf16, fp16),
        )
    if model.get_input_embeddings().weight.shape[0] < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    # Packed rows are only isolated when no KV cache is built in the forward pass.
    model.config.use_cache = False
    if args.lora_r:
        model = add_lora(model, args)
    return model


def add_lora(model: Any, args: ModelArguments) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=list(args.lora_target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def load_for_inference(model_dir: str | Path, flag: str = "--model") -> tuple[Any, Any]:
    """Model (on the GPU when there is one, in eval mode, in its own dtype) and tokenizer of a checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    path = Path(resolve_model(str(model_dir), flag))
    if not path.is_dir():
        raise FileNotFoundError(f"{flag} {model_dir}: no such directory")
    require_complete(path, flag)
    logging.disable_progress_bar()  # a loading bar has no place in a chat transcript
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), use_fast=True)
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype="auto")
    except (OSError, ValueError) as e:  # transformers' messages run over many lines: keep the first
        raise UserError(f"{flag} {model_dir}: cannot load ({str(e).strip().splitlines()[0]})") from None
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return model, tokenizer
