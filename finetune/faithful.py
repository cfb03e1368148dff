"""Is the exported GGUF adapter the model that was trained?

The trained model runs in transformers (the dequantised base plus the PEFT adapter); the
export runs in llama.cpp (the quantised base GGUF plus the GGUF adapter). On the same
token ids both decode greedily (plain arg-max, no penalties) and the last prompt position's
logits are compared.

llama.cpp multiplies the quantised weights with quantised activations, so even the base
model alone differs slightly between the two runtimes. That difference, the *noise floor*,
is measured on the same prompts with the adapter switched off on both sides, and the
export is judged against it:

* logits: the largest difference with the adapter must stay within ``noise_factor`` times
  the floor (plus a small absolute slack), while the adapter itself moves the logits by
  much more than that (otherwise the check would prove nothing);
* greedy output: identical, except where the two runtimes part at a near-tie, a step whose
  top-two margin in transformers is below the noise floor. llama.cpp decodes; transformers
  scores llama.cpp's output in one teacher-forced pass, whose arg-max at each position is
  its own greedy choice after the same prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FaithfulReport", "PromptCheck", "compare_export"]


@dataclass
class PromptCheck:
    """The comparison on one prompt."""

    prompt_tokens: int
    tokens_match: bool
    """llama.cpp tokenised the rendered prompt to the same ids as transformers."""
    hf_output: list[int]
    cpp_output: list[int]
    same_output: bool
    diverged_at: int | None
    margin_at_divergence: float | None
    lora_logit_diff: float
    """Max |logit| difference between the runtimes with the adapter."""
    base_logit_diff: float
    """The same without the adapter (the noise floor)."""
    adapter_effect: float
    """Max |logit| change the adapter makes in transformers."""


@dataclass
class FaithfulReport:
    """The comparison on every prompt, and the verdict."""

    prompts: list[PromptCheck] = field(default_factory=list)
    noise_floor: float = 0.0
    max_lora_diff: float = 0.0
    min_adapter_effect: float = 0.0
    same_outputs: int = 0
    near_tie_divergences: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def faithful(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {**asdict(self), "faithful": self.faithful}


def _greedy_cpp(llama: Any, ids: list[int], steps: int, stop: int) -> tuple[list[int], Any]:
    import numpy as np

    llama.reset()
    llama.eval(ids)
    first = np.array(llama.scores[llama.n_tokens - 1], dtype=np.float32)
    out: list[int] = []
    logits = first
    for _ in range(steps):
        token = int(np.argmax(logits))
        out.append(token)
        if token == stop:
            break
        llama.eval([token])
        logits = np.array(llama.scores[llama.n_tokens - 1], dtype=np.float32)
    return out, first


def compare_export(
    base_gguf: Path,
    adapter_dir: Path,
    adapter_gguf: Path,
    chats: Sequence[Sequence[Sequence[str]]],
    *,
    max_new_tokens: int = 32,
    noise_factor: float = 2.0,
    slack: float = 0.05,
) -> FaithfulReport:
    """Compare the trained model (transformers) with the export (llama.cpp) on ``chats``.

    Args:
        base_gguf: The base model GGUF.
        adapter_dir: The PEFT adapter directory that training wrote.
        adapter_gguf: Its GGUF export.
        chats: Prompts as ``(role, content)`` turns.
        max_new_tokens: Greedy tokens compared per prompt.
        noise_factor: How many times the base noise floor the adapter's logit difference
            may reach.
        slack: Absolute logit slack added to that bound.

    Returns:
        The per-prompt figures and the verdict (``report.faithful``).
    """
    import numpy as np
    import torch
    from peft import PeftModel

    from finetune.train import END_OF_TURN, load_base, prompt_ids, render_prompt
    from runtime.embedded import open_llama

    tokenizer, base = load_base(Path(base_gguf), "cpu")
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    model.eval()
    stop = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    # One thread: llama.cpp's threads wait for each other by spinning, which crawls when
    # another busy process shares the cores; the check compares numbers, not speed.
    single = {"n_ctx": 2048, "logits_all": True, "n_threads": 1, "n_threads_batch": 1}
    cpp_lora = open_llama(str(base_gguf), str(adapter_gguf), **single)
    cpp_base = open_llama(str(base_gguf), None, **single)

    report = FaithfulReport()
    for turns in chats:
        ids = prompt_ids(tokenizer, turns)
        text = render_prompt(tokenizer, turns)
        cpp_ids = cpp_lora.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        cpp_out, cpp_first = _greedy_cpp(cpp_lora, ids, max_new_tokens, stop)
        # Teacher forcing on llama.cpp's tokens: transformers' arg-max at every position of
        # one forward pass is its greedy choice after the same prefix, so the two greedy
        # outputs agree exactly up to the first position where these differ.
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids + cpp_out])).logits[0].float()
            steps = logits[len(ids) - 1 : len(ids) - 1 + len(cpp_out)]
            with model.disable_adapter():
                hf_base_first = model(input_ids=torch.tensor([ids])).logits[0, -1].float().numpy()
        choices = [int(token) for token in steps.argmax(dim=-1)]
        diverged = next(
            (i for i, (a, b) in enumerate(zip(choices, cpp_out, strict=True)) if a != b), None
        )
        hf_out = cpp_out if diverged is None else [*cpp_out[:diverged], choices[diverged]]
        _, cpp_base_first = _greedy_cpp(cpp_base, ids, 0, stop)
        hf_first = steps[0].numpy()
        margin = None
        if diverged is not None:
            top = torch.topk(steps[diverged], 2).values
            margin = float(top[0] - top[1])
        report.prompts.append(
            PromptCheck(
                prompt_tokens=len(ids),
                tokens_match=list(cpp_ids) == ids,
                hf_output=hf_out,
                cpp_output=cpp_out,
                same_output=diverged is None,
                diverged_at=diverged,
                margin_at_divergence=margin,
                lora_logit_diff=float(np.max(np.abs(hf_first - cpp_first))),
                base_logit_diff=float(np.max(np.abs(hf_base_first - cpp_base_first))),
                adapter_effect=float(np.max(np.abs(hf_first - hf_base_first))),
            )
        )

    checks = report.prompts
    report.noise_floor = max(c.base_logit_diff for c in checks)
    report.max_lora_diff = max(c.lora_logit_diff for c in checks)
    report.min_adapter_effect = min(c.adapter_effect for c in checks)
    report.same_outputs = sum(c.same_output for c in checks)
    bound = noise_factor * report.noise_floor + slack
    for number, check in enumerate(checks, start=1):
        if not check.tokens_match:
            report.problems.append(f"prompt {number}: llama.cpp tokenises the prompt differently")
        if check.lora_logit_diff > bound:
            report.problems.append(
                f"prompt {number}: logits differ by {check.lora_logit_diff:.3f} with the adapter "
                f"(bound {bound:.3f} = {noise_factor} x noise floor {report.noise_floor:.3f} "
                f"+ {slack})"
            )
        if not check.same_output:
            near_tie = (
                check.margin_at_divergence is not None and check.margin_at_divergence <= bound
            )
            if near_tie:
                report.near_tie_divergences += 1
            else:
                report.problems.append(
                    f"prompt {number}: greedy outputs part at token {check.diverged_at} "
                    f"(margin {check.margin_at_divergence})"
                )
    if report.min_adapter_effect <= bound:
        report.problems.append(
            f"the adapter moves the logits by only {report.min_adapter_effect:.3f} on some "
            f"prompt, within the comparison's bound {bound:.3f}: the check cannot tell"
        )
    return report
