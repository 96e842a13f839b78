"""Building the model for a stage: from a checkpoint or from a named config, with the right attention.

>>> pick_attention("auto")  # no flash-attn on CUDA here
'sdpa'
>>> sorted(MODEL_CONFIGS)
['llama-1b', 'small', 'tiny']
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class ModelArguments:
    """Which model to train, and how."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "hub id or local checkpoint directory"}
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
            raise ValueError(
                "give exactly one of --model_name_or_path (a checkpoint) or --model_config (from scratch)"
            )
        if self.model_config and self.model_config not in MODEL_CONFIGS:
            raise ValueError(
                f"--model_config {self.model_config!r} is unknown; known: {', '.join(MODEL_CONFIGS)}"
            )
        if self.attn_implementation not in ATTENTION_CHOICES:
            raise ValueError(f"--attn_implementation must be one of {', '.join(ATTENTION_CHOICES)}")
        if self.attn_implementation == "flash_attention_2" and not flash_attention_usable():
            raise ValueError(
                "--attn_implementation flash_attention_2 needs CUDA and flash-attn: pip install -e '.[flash]'"
            )
        if self.torch_dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError("--torch_dtype must be auto, float32, bfloat16 or float16")
        if self.lora_r < 0:
            raise ValueError("--lora_r must be >= 0")
        if self.lora_r and importlib.util.find_spec("peft") is None:
            raise ValueError("--lora_r needs peft: pip install -e '.[peft]'")


def flash_attention_usable() -> bool:
    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None


def pick_attention(choice: str) -> str:
    """``auto`` → ``flash_attention_2`` when flash-attn is installed and CUDA is there, else ``sdpa``."""
    if choice == "auto":
        return "flash_attention_2" if flash_attention_usable() else "sdpa"
    return choice


def _dtype(name: str, bf16: bool, fp16: bool) -> Any:
    import torch

    if name != "auto":
        return getattr(torch, name)
    # With mixed precision the Trainer keeps fp32 master weights; FA2 needs half precision weights.
    return torch.float32


def build_model(args: ModelArguments, tokenizer: Any, bf16: bool = False, fp16: bool = False) -> Any:
    """The causal LM to train: loaded, or initialised from a named config; embeddings sized to the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    attention = pick_attention(args.attn_implementation)
    if args.model_config:
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            max_position_embeddings=8192,
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
            dtype=_dtype(args.torch_dtype, bf16, fp16),
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
