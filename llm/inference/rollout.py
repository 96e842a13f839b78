"""The generation interface RL uses: left-padded prompt ids in, fixed-length responses out.

``llm-train ppo`` samples with :class:`HFGenerator` (``model.generate``); anything with the same call
(a fake in tests) can replace it. :class:`VLLMGenerator` (``grpo --use_vllm``, GPU only) samples with a vLLM
engine in the same process, the policy's weights loaded into it after every update.

>>> import torch
>>> from llm.data.tokenizer import build_tokenizer
>>> from llm.models.tiny import build_llama
>>> tok = build_tokenizer("bytelevel")
>>> generator = HFGenerator(response_length=5, temperature=1.0, top_k=0, top_p=1.0, pad_token_id=tok.pad_token_id)
>>> generator(build_llama(tok), torch.tensor([[3, 4, 5]]), torch.ones(1, 3, dtype=torch.long)).shape
torch.Size([1, 5])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


class Generator(Protocol):
    """Samples responses for prompts: ``[B, P]`` left-padded queries and mask → ``[B, T]`` response ids."""

    def __call__(self, model: Any, queries: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor: ...


@dataclass
class HFGenerator:
    response_length: int
    temperature: float
    top_k: int
    top_p: float
    pad_token_id: int

    @torch.no_grad()
    def __call__(self, model: Any, queries: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor:
        """[B, P] left-padded queries → [B, response_length] responses (EOS does not stop sampling)."""
        out = model.generate(
            input_ids=queries,
            attention_mask=query_mask,
            max_new_tokens=self.response_length,
            do_sample=True,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            eos_token_id=None,  # fixed-length sampling; everything after the first EOS is cut afterwards
            pad_token_id=self.pad_token_id,
            use_cache=True,
        )
        return out[:, queries.shape[1] :]


@dataclass
class VLLMGenerator:
    """Fixed-length sampling with a colocated vLLM engine (``vllm.LLM``), same call as :class:`HFGenerator`.

    ``sync(policy)`` loads the policy's current weights into the engine; the loop calls it after each update,
    so every rollout samples from the policy being trained. The engine is duck-typed: anything with vLLM's
    ``generate(prompts, sampling_params, use_tqdm=...)`` returning outputs with ``.outputs[0].token_ids``.
    """

    engine: Any
    sampling_params: (
        Any  # vllm.SamplingParams(max_tokens=T, ignore_eos=True, ...): fixed length, as HFGenerator
    )
    response_length: int
    pad_token_id: int

    @classmethod
    def colocated(
        cls, model_path: str, response_length: int, temperature: float, top_k: int, top_p: float,
        pad_token_id: int, gpu_memory_utilization: float = 0.3, seed: int = 0,
    ) -> VLLMGenerator:  # fmt: skip
        """A vLLM engine on this process's GPU, in this process (so that weights can be loaded into it)."""
        import os

        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the model lives in this process
        from vllm import LLM, SamplingParams

        engine = LLM(model=model_path, gpu_memory_utilization=gpu_memory_utilization, seed=seed,
                     enable_prefix_caching=True)  # fmt: skip
        params = SamplingParams(
            n=1, max_tokens=response_length, ignore_eos=True, temperature=temperature,
            top_k=top_k if top_k > 0 else -1, top_p=top_p, detokenize=False,
        )  # fmt: skip
        return cls(engine, params, response_length, pad_token_id)

    @torch.no_grad()
    def __call__(self, model: Any, queries: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor:
        """[B, P] left-padded queries → [B, response_length] responses (``model`` unused: ``sync`` loaded it)."""
        prompts = [
            {"prompt_token_ids": q[m.bool()].tolist()} for q, m in zip(queries, query_mask, strict=True)
        ]
        outputs = self.engine.generate(prompts, self.sampling_params, use_tqdm=False)
        rows = torch.full((len(prompts), self.response_length), self.pad_token_id, dtype=torch.long)
        for row, output in zip(rows, outputs, strict=True):
            ids = list(output.outputs[0].token_ids)[: self.response_length]
            row[: len(ids)] = torch.tensor(ids, dtype=torch.long)
        return rows.to(queries.device)

    def sync(self, policy: Any) -> None:
        """Load ``policy``'s weights into the engine's model (names as in the Hugging Face checkpoint)."""
        weights = ((name, tensor.detach()) for name, tensor in policy.state_dict().items())
        engine_model(self.engine).load_weights(weights)


def engine_model(engine: Any) -> Any:
    """The model inside a vLLM engine run in this process (the attribute path differs across vLLM versions)."""
    executor = engine.llm_engine.model_executor
    worker = executor.driver_worker
    worker = getattr(worker, "worker", worker)  # newer vLLM wraps the worker
    model = getattr(getattr(worker, "model_runner", None), "model", None)
    if model is None:
        raise RuntimeError(
            "cannot reach the model inside this vLLM engine to load weights (run it in this process: "
            "VLLM_ENABLE_V1_MULTIPROCESSING=0); this vLLM version lays its engine out differently"
        )
    return model
