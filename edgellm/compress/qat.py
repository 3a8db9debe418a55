"""Quantization-aware fine-tuning: the ``qat`` verb. ``int4``: a causal LM's weights, here; ``int8``: an encoder
through a simulation of the static int8 graph, compress/qat_int8.py.

Block-wise reconstruction, one decoder block at a time, with the float model as teacher:

1. The calibration texts (``data``; default the packaged calibration/en.txt, never the validation's held text) are
   cut into chunks of ``seq_len`` tokens; the inputs of block 0 are captured for every chunk.
2. For block i: every linear weight W [out, in] is fake-quantized on the int4 grid ``edgellm export --quantize
   int4`` uses: symmetric, blocks of 32 along the input, one scale per block rounded to bfloat16 (what
   ai-edge-quantizer stores), ints k in -8..7: W_q = s * clamp(round(W / s), -8, 7). The latent W and the scales
   (s = s0 * exp(t), t learned) are trained with Adam, rounding passed straight through, to minimise
   ||block_q(x_q) - block(x)||^2 / ||block(x)||^2: x_q the inputs after the blocks already quantized, x the
   float model's, so each block also makes up for the error of the ones before it.
3. The block's weights are fixed at s * k (float32, exact) and its outputs on x_q become block i+1's inputs.

Initial grid: GPTQ's (``init="gptq"``: edgellm.quantize.gptq with down_proj included, its scales read back with
ai-edge-quantizer's dequantized_weight_recovery) or round-to-nearest on each block's max|w| / 7 (``"rtn"``).

The result is an HF folder whose decoder linears all sit on such grids (down_proj included). ``edgellm export
--quantize int4`` recovers each block's grid from the float values exactly (edgellm.quantize.int4.recover_q4_grid:
the weights are its Q4_1 blocks with minimum s * min(k)) and ai-edge-quantizer writes the same ints and scales:
every decoder linear is int4 in the flatbuffer, on the trained values bit for bit. A scale is at least 2^-14 so that
every s * k is a normal float16 number (the recovery reads float16 minimums).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from edgellm.errors import ConfigError, config_fields
from edgellm.manifest import COMPRESS_FILE, COMPRESS_FORMAT, sha256_file

RECIPES = ("int4", "int8")  # int4: causal LMs (block-wise, here); int8: encoders (compress/qat_int8.py)
ASKED = ("int4", "int8-dynamic", "int8")  # what --quantization-aware names
INITS = ("rtn", "gptq")
BLOCK = 32  # edgellm.quantize.int4.BLOCK (not imported: that module imports torch at the top)
MIN_SCALE = 2.0 ** -14  # the smallest normal float16: every s * k stays exact in float16
METHOD = "blockwise-reconstruction"
DEFAULTS = {"int4": {"num_samples": 128, "max_steps": 200, "lr": 3e-4},  # what None stands for, per recipe
            "int8": {"num_samples": None, "max_steps": 600, "lr": 5e-6}}


@dataclass(frozen=True, kw_only=True)
class QatConfig:
    quantization_aware: str = "int4"  # the export recipe whose grid is trained on: int4 (causal LMs), int8 (encoders)
    data: str | None = None  # training texts (None: the packaged calibration/en.txt)
    text_column: str | None = None  # column of a .jsonl/.csv/.tsv/datasets data source
    num_samples: int | None = None  # texts read from data (None: int4 128, int8 every text)
    seq_len: int = 128  # int4: tokens per training chunk
    max_steps: int | None = None  # int4: Adam steps per decoder block (None: 200); int8: steps in all (None: 600)
    max_minutes: float | None = None  # wall-time budget for the whole run, shared evenly by the blocks still to do
    batch_size: int = 4  # int4: chunks per step
    lr: float | None = None  # int4: Adam learning rate of the latent weights (the log-scales take 10 x), None: 3e-4
    # (SmolLM2 block 0, 30 steps: relative error 0.0096 -> 0.0077 at 1e-5, 0.0050 at 1e-4, 0.0046 at 5e-4);
    # int8: AdamW's, None: 5e-6 (MiniLM: 5e-5 moved the weights a grid step within 25 steps and lost cosine)
    init: str = "rtn"  # rtn | gptq: the grid training starts from (rtn measured better on the tiny llama)
    seed: int = 0
    overwrite: bool = False  # replace OUTPUT_DIR (only a folder edgellm wrote)

    def __post_init__(self):
        if self.quantization_aware not in ASKED:
            raise ConfigError(f"quantization_aware {self.quantization_aware!r} is not a recipe; choose one of "
                              f"{', '.join(ASKED)}")
        if self.quantization_aware not in RECIPES:
            raise ConfigError(f"quantization-aware fine-tuning for {self.quantization_aware} is not built yet "
                              f"(only {', '.join(RECIPES)}); use --quantization-aware int4 (causal LMs) or int8 "
                              f"(encoders), or export {self.quantization_aware} post-training")
        for name in ("num_samples", "seq_len", "max_steps", "batch_size"):
            value = getattr(self, name)
            if value is None and name in ("num_samples", "max_steps"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        if self.seq_len < 2:
            raise ConfigError(f"seq_len must be at least 2 tokens; got {self.seq_len}")
        for name in ("lr", "max_minutes"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or \
                    not math.isfinite(value):
                raise ConfigError(f"{name} must be a positive number; got {value!r}")
        if self.init not in INITS:
            raise ConfigError(f"init {self.init!r} is not known; choose one of {', '.join(INITS)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer; got {self.seed!r}")
        for name, value in DEFAULTS[self.quantization_aware].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.data is not None and not isinstance(self.data, (str, os.PathLike)):
            raise ConfigError(f"data must be a path; got {type(self.data).__name__}")
        if not isinstance(self.overwrite, bool):
            raise ConfigError(f"overwrite must be True or False; got {self.overwrite!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["data"] = None if self.data is None else str(self.data)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "QatConfig":
        return cls(**config_fields(cls, dict(data) if isinstance(data, Mapping) else data))


@dataclass(frozen=True, kw_only=True)
class QatResult:
    output_dir: Path
    recipe: str
    blocks: list[dict[str, Any]] = field(default_factory=list)  # per decoder block: steps, loss first/last
    weights: int = 0  # decoder linear weights put on grids
    wall_s: float = 0.0
    loss_curve: list = field(default_factory=list)  # int8: [step, mean loss] points

    def summary(self) -> str:
        if self.recipe == "int8":
            first, last = (self.loss_curve[0][1], self.loss_curve[-1][1]) if self.loss_curve else (0.0, 0.0)
            steps = self.loss_curve[-1][0] if self.loss_curve else 0
            return (f"quantization-aware int8: {self.weights} linear layers trained through the static int8 graph, "
                    f"{steps} steps, loss {first:.4g} -> {last:.4g} in {self.wall_s:.1f} s ({self.output_dir})")
        first = sum(b["loss_start"] for b in self.blocks) / max(len(self.blocks), 1)
        last = sum(b["loss_end"] for b in self.blocks) / max(len(self.blocks), 1)
        return (f"quantization-aware {self.recipe}: {self.weights} decoder linears on the export's grid, "
                f"{len(self.blocks)} blocks, mean relative block error {first:.4g} -> {last:.4g} in "
                f"{self.wall_s:.1f} s ({self.output_dir})")


# ---------------------------------------------------------------------------------------------------- the grid
def fake_quant_int4(weight, log_scale, scale0):
    """W [out, in], scale0 [out, in / 32] (t = log_scale the same shape) -> W_q on the int4 grid, differentiable
    in W and t (straight-through rounding of k and of the bfloat16 scale)."""
    import torch

    s = (scale0 * torch.exp(log_scale)).clamp_min(MIN_SCALE)
    s = s + (s.to(torch.bfloat16).float() - s).detach()
    out_f, in_f = weight.shape
    x = weight.reshape(out_f, in_f // BLOCK, BLOCK) / s[..., None]
    k = torch.clamp(x + (torch.round(x) - x).detach(), -8, 7)
    return (k * s[..., None]).reshape(out_f, in_f)


def grid_of(weight, log_scale, scale0):
    """(k int8 [out, in], s float32 [out, in / 32]) that ``fake_quant_int4`` evaluates to (no gradients)."""
    import torch

    with torch.no_grad():
        s = (scale0 * torch.exp(log_scale)).clamp_min(MIN_SCALE).to(torch.bfloat16).float()
        out_f, in_f = weight.shape
        k = torch.clamp(torch.round(weight.reshape(out_f, in_f // BLOCK, BLOCK) / s[..., None]), -8, 7)
    return k.reshape(out_f, in_f).to(torch.int8), s


def grid_weight(k, s):
    """s * k as float32 [out, in]: exact (a bfloat16 scale times an integer in -8..7)."""
    import torch

    out_f, in_f = k.shape
    return (k.reshape(out_f, in_f // BLOCK, BLOCK).float() * s[..., None]).reshape(out_f, in_f).to(torch.float32)


def initial_scales(weight):
    """Round-to-nearest scales: each block's max|w| / 7, float32 [out, in / 32]."""
    out_f, in_f = weight.shape
    return (weight.detach().abs().reshape(out_f, in_f // BLOCK, BLOCK).amax(-1) / 7).clamp_min(MIN_SCALE)


def recovered_scales(weight):
    """The scales ai-edge-quantizer's dequantized_weight_recovery reads from weights already on a symmetric
    block-32 grid (GPTQ's), float32 [out, in / 32]."""
    import numpy as np
    import torch
    from ai_edge_quantizer.algorithms.uniform_quantize import dequantized_weight_recovery

    w = weight.detach().numpy().astype(np.float32)
    _, scales = dequantized_weight_recovery.get_zp_scale_from_dequantized_symmetric_weights(w, 1, BLOCK)
    return torch.from_numpy(np.asarray(scales, np.float32).reshape(w.shape[0], -1)).clamp_min(MIN_SCALE)


class _Quantized:
    """A block's linear layers with their weights parametrized onto the int4 grid while it trains."""

    def __init__(self, block, scales: Mapping[str, Any]):
        import torch
        from torch.nn.utils import parametrize

        class FakeQuant(torch.nn.Module):
            def __init__(self, scale0):
                super().__init__()
                self.register_buffer("scale0", scale0)
                self.log_scale = torch.nn.Parameter(torch.zeros_like(scale0))

            def forward(self, weight):
                return fake_quant_int4(weight, self.log_scale, self.scale0)

        self.block = block
        self.linears = {n: m for n, m in block.named_modules() if isinstance(m, torch.nn.Linear)}
        for name, m in self.linears.items():
            parametrize.register_parametrization(m, "weight", FakeQuant(scales[name]))

    def parameters(self):
        latent = [m.parametrizations.weight.original for m in self.linears.values()]
        scales = [m.parametrizations.weight[0].log_scale for m in self.linears.values()]
        return latent, scales

    def finish(self) -> None:
        """Fix every weight at s * k (float32, exact) and drop the parametrization."""
        import torch
        from torch.nn.utils import parametrize

        for m in self.linears.values():
            fq = m.parametrizations.weight[0]
            k, s = grid_of(m.parametrizations.weight.original, fq.log_scale, fq.scale0)
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
            with torch.no_grad():
                m.weight.copy_(grid_weight(k, s))
            m.weight.requires_grad_(False)


# ---------------------------------------------------------------------------------------------------- the verb
def qat(model: str | os.PathLike, output_dir: str | os.PathLike, config: QatConfig | None = None, *,
        progress: Callable[[str], None] | None = None, **options) -> QatResult:
    """Fine-tune the causal LM ``model`` (HF folder or .gguf) so its decoder linears sit on the ``int4`` export
    grid, into the HF folder ``output_dir`` (built in a temporary sibling, renamed into place).

    ``config`` or its fields as keywords: ``qat(src, out, quantization_aware="int4", max_steps=50)``."""
    from edgellm.bundle.outdir import atomic_output_dir, check_output_dir
    from edgellm.calibrate import load_texts
    from edgellm.convert.decoder.source import read_decoder_source
    from edgellm.errors import require

    if config is None:
        config = QatConfig(**options)
    elif options:
        raise ConfigError(f"pass a QatConfig or keywords, not both (got {', '.join(options)})")
    start = time.perf_counter()
    say = progress or (lambda _line: None)
    if config.quantization_aware == "int8":
        from edgellm.compress.qat_int8 import train_int8

        folder, doc = train_int8(model, output_dir, config, say=say, start=start)
        grid = doc["grid"]
        return QatResult(output_dir=folder, recipe="int8",
                         weights=grid["static_layers"] + len(grid["dynamic_layers"]), wall_s=doc["wall_s"],
                         loss_curve=doc["training"]["loss_curve"])
    source = read_decoder_source(model)
    output_dir = check_output_dir(output_dir, overwrite=config.overwrite, source=source.folder)
    samples = load_texts(config.data, text_column=config.text_column, num_samples=config.num_samples,
                         seed=config.seed)
    if len(samples) == 0:
        raise ConfigError(f"{samples.source} holds no text samples; give a file with at least one")
    torch = require("torch", "convert")
    from edgellm.convert.decoder import load_reference
    from edgellm.convert.source import load_tokenizer
    from edgellm.quantize.int4 import check_int4_blocks

    tokenizer = load_tokenizer(source)
    teacher = load_reference(source)
    check_int4_blocks(teacher)
    chunks = _chunks(tokenizer, samples.texts, config.seq_len)
    if not chunks:
        raise ConfigError(f"{samples.source} gives no chunk of {config.seq_len} tokens; give more text or a "
                          "smaller --seq-len")
    say(f"loaded {source.model_type}: {len(chunks)} chunks of {config.seq_len} tokens from {samples.source}")
    torch.manual_seed(config.seed)
    report = train_blockwise(teacher, chunks, config, say=say, start=start)
    with atomic_output_dir(output_dir, overwrite=config.overwrite, source=source.folder) as tmp:
        student = report.pop("model")
        student.config.use_cache = True
        _drop_gguf_loader(student)
        student.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _copy_extras(source, tmp)
        wall = time.perf_counter() - start
        doc = {
            "format": COMPRESS_FORMAT, "method": f"quantization-aware {config.quantization_aware}",
            "source": {"path": str(source.path), "model_type": source.model_type, "sha256": source.weight_sha256()},
            "config": config.to_dict(),
            "grid": {"recipe": config.quantization_aware, "bits": 4, "symmetric": True, "block_size": BLOCK,
                     "scale": "per block of 32 inputs, bfloat16", "layers": "every decoder linear (down_proj too)"},
            "training": {"method": METHOD, "teacher": "the float model (block outputs)", "init": config.init,
                         "loss": "||block_q(x_q) - block(x)||^2 / ||block(x)||^2", **report},
            "data": {"source": samples.source, "sha256": _data_sha256(samples), "samples": len(samples),
                     "chunks": len(chunks), "tokens": len(chunks) * config.seq_len},
            "wall_s": round(wall, 3),
        }
        (tmp / COMPRESS_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return QatResult(output_dir=output_dir, recipe=config.quantization_aware, blocks=report["blocks"],
                     weights=report["weights"], wall_s=wall)


def _drop_gguf_loader(model) -> None:
    """A model loaded from a .gguf carries transformers' GGUF loader, which refuses save_pretrained; its weights
    are plain float tensors by now, so the folder is written as an ordinary float checkpoint."""
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
        model.is_quantized = False
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config


def _chunks(tokenizer, texts, seq_len: int) -> list[list[int]]:
    """The texts' tokens (each with the tokenizer's specials), concatenated and cut into seq_len pieces."""
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text if isinstance(text, str) else " ".join(text))["input_ids"])
    return [ids[i:i + seq_len] for i in range(0, len(ids) - seq_len + 1, seq_len)]


def _data_sha256(samples) -> str:
    import hashlib

    src = Path(samples.source)
    if src.is_file():
        return sha256_file(src)
    return hashlib.sha256("\n".join(map(str, samples.texts)).encode("utf-8")).hexdigest()


def _copy_extras(source, dest: Path) -> None:
    """A HF folder's other files (generation_config, chat template) that save_pretrained did not write."""
    if source.gguf:
        return
    for item in source.folder.iterdir():
        if item.is_file() and not (dest / item.name).exists() and not item.name.startswith(".") and \
                item.suffix not in (".safetensors", ".bin", ".gguf") and item.name not in (COMPRESS_FILE,
                                                                                         "edgellm.json"):
            shutil.copy2(item, dest / item.name)


class _Stop(Exception):
    pass


def _block_inputs(model, chunks) -> tuple[list, list[dict]]:
    """Per chunk: (hidden states entering block 0 [1, T, H], the keyword arguments the blocks are called with)."""
    import torch

    layers = model.model.layers
    hidden, kwargs = [], []

    def grab(_module, args, kw):
        hidden.append((args[0] if args else kw.pop("hidden_states")).detach())
        kwargs.append({k: v for k, v in kw.items() if k != "hidden_states" and k not in ("past_key_values",
                                                                                          "past_key_value")})
        raise _Stop

    handle = layers[0].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            for chunk in chunks:
                try:
                    model(torch.tensor([chunk]), use_cache=False)
                except _Stop:
                    pass
    finally:
        handle.remove()
    return hidden, kwargs


def _run(block, x, kw):
    out = block(x, **kw)
    return out[0] if isinstance(out, tuple) else out


def train_blockwise(teacher, chunks, config: QatConfig, *, say=lambda _l: None, start: float | None = None
                    ) -> dict[str, Any]:
    """Block-wise reconstruction (module docstring) of a copy of ``teacher``; returns {"model": the student,
    "blocks": per-block record, "weights": linears on grids, "init": ...}. ``teacher`` is left as it is."""
    import copy

    import torch

    from edgellm.signals import check

    start = time.perf_counter() if start is None else start
    student = copy.deepcopy(teacher).eval()
    for p in student.parameters():
        p.requires_grad_(False)
    init_report = None
    if config.init == "gptq":
        from edgellm.quantize.gptq import GptqConfig, gptq_decoder

        init_report = gptq_decoder(student, chunks, GptqConfig(skip=()))
        say(f"GPTQ grids for {init_report['weights']} linears in {init_report['seconds']} s")
    x_fp, kwargs = _block_inputs(teacher, chunks)
    x_q = [x.clone() for x in x_fp]
    t_layers, s_layers = teacher.model.layers, student.model.layers
    g = torch.Generator().manual_seed(config.seed)
    blocks, weights = [], 0
    for i in range(len(s_layers)):
        check()
        with torch.no_grad():
            target = [_run(t_layers[i], x, kw) for x, kw in zip(x_fp, kwargs)]
        block = s_layers[i]
        linears = {n: m for n, m in block.named_modules() if isinstance(m, torch.nn.Linear)}
        scales = {n: recovered_scales(m.weight) if config.init == "gptq" else initial_scales(m.weight)
                  for n, m in linears.items()}
        initial = {}
        for name, m in linears.items():
            k, s = grid_of(m.weight, torch.zeros_like(scales[name]), scales[name])
            initial[name] = grid_weight(k, s)
        quantized = _Quantized(block, scales)
        latent, log_scales = quantized.parameters()
        for p in latent + log_scales:
            p.requires_grad_(True)
        optimizer = torch.optim.Adam([{"params": latent, "lr": config.lr},
                                      {"params": log_scales, "lr": config.lr * 10}])
        norms = [float(t.pow(2).mean()) for t in target]
        steps = config.max_steps
        if config.max_minutes is not None:
            left = config.max_minutes * 60 - (time.perf_counter() - start)
            per_block = left / (len(s_layers) - i)
        else:
            per_block = None

        def loss_on(idx):
            return sum(float((_run(block, x_q[j], kwargs[j]) - target[j]).pow(2).mean()) / norms[j]
                       for j in idx) / len(idx)

        every = list(range(len(chunks)))
        with torch.no_grad():
            loss_start = loss_on(every)
        t0 = time.perf_counter()
        done = 0
        for step in range(steps):
            check()
            if per_block is not None and time.perf_counter() - t0 > per_block:
                break
            batch = torch.randperm(len(chunks), generator=g)[:config.batch_size].tolist()
            loss = sum((_run(block, x_q[j], kwargs[j]) - target[j]).pow(2).mean() / norms[j] for j in batch)
            loss = loss / len(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done = step + 1
        quantized.finish()
        for p in block.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            loss_end = loss_on(every)
            kept = "trained"
            if loss_end > loss_start:  # training made it worse (too high a learning rate): the initial grid stays
                for name, m in linears.items():
                    m.weight.copy_(initial[name])
                loss_end, kept = loss_on(every), "initial"
            x_q = [_run(block, x, kw) for x, kw in zip(x_q, kwargs)]
            x_fp = target
        weights += len(linears)
        blocks.append({"block": i, "steps": done, "loss_start": round(loss_start, 8), "loss_end": round(loss_end, 8),
                       "kept": kept, "seconds": round(time.perf_counter() - t0, 2)})
        say(f"block {i + 1}/{len(s_layers)}: relative error {loss_start:.4g} -> {loss_end:.4g} in {done} steps "
            f"({time.perf_counter() - start:.0f} s)")
    return {"model": student, "blocks": blocks, "weights": weights,
            **({"gptq_init": {k: init_report[k] for k in ("weights", "repaired_blocks", "seconds")}}
               if init_report else {})}
