"""Quantization-aware fine-tuning of an encoder for the static ``int8`` recipe (``qat --quantization-aware int8``).

The student is the encoder itself, trained against its own float copy (the teacher) through a PyTorch simulation
of the graph ``edgellm export --quantize int8`` builds:

1. Smoothing as the export does it (convert.encoder.smooth_linear_inputs, the recipe's alpha, on the calibration
   samples the export reads by default): each linear layer's input is divided by s, its weight scaled by s.
2. Weights on the export's grid: per output channel, symmetric, narrow int8 (scale max|w| / 127, ints -127..127,
   what ai-edge-quantizer writes); the embedding tables the graph looks up (not BERT's position table, which the
   converter folds into a constant) per row the same way.
3. Activations: the linear layers the recipe runs static get their input and output rounded to int8 per tensor,
   asymmetric, on the min/max the export's calibration would record (the float model over the calibration
   samples, padded to the sequence length); the architecture's outlier projections (archs.ArchSpec.outlier_linears,
   dynamic-range in the export) get their input rounded per token, as XNNPACK's dynamic kernels do.
   Rounding is passed straight through to the gradient. The ranges are measured again every
   ``RECALIBRATE_EVERY`` steps, as the weights move.

Loss: the distillation loss's hidden-state term (compress/loss.py): 1 - cosine per token and of the mean-pooled
vectors, against the float model's last hidden state, plus the soft term where the model has logits. Training runs
in compress/train.py's loop (AdamW, progress, Ctrl-C). The result is the encoder's HF folder with every weight
back in its unsmoothed form (W_q / s, float32); ``edgellm export --quantize int8`` smooths, calibrates and
quantizes it again. Its scales come out close to the training's but not equal (the activations moved), so the
weights land near the trained grid, not on it bit for bit.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from pathlib import Path
from typing import Any, Callable

from edgellm.errors import ConfigError

RECALIBRATE_EVERY = 50  # steps between measurements of the activation ranges
BATCH = 16  # texts per step
MAX_LENGTH = 128  # tokens per training text, and the calibration samples' sequence length (export's default)


# ---------------------------------------------------------------------------------------------------- the grid
def fake_quant_weight(w):
    """Per output channel (rows of [out, in]), symmetric narrow int8; straight-through."""
    import torch

    s = w.detach().abs().amax(1, keepdim=True).clamp_min(1e-9) / 127
    q = torch.clamp(torch.round(w / s), -127, 127) * s
    return w + (q - w).detach()


def fake_quant_tensor(x, low: float, high: float):
    """Per tensor, asymmetric int8 on [low, high] widened to hold 0 (ai-edge-quantizer's activation grid)."""
    import torch

    return _asymmetric(x, torch.tensor(min(low, 0.0)), torch.tensor(max(high, 0.0)))


def fake_quant_rows(x):
    """Per row (token), asymmetric int8 on each row's own range: a dynamic-range FULLY_CONNECTED's input."""
    rows = x.detach()
    return _asymmetric(x, rows.amin(-1, keepdim=True).clamp(max=0), rows.amax(-1, keepdim=True).clamp(min=0))


def _asymmetric(x, low, high):
    """int8 on [low, high] (low <= 0 <= high, tensors that broadcast against x): scale (high - low) / 255, zero
    point round(-128 - low / scale); straight-through."""
    import torch

    scale = (high - low).clamp_min(1e-9) / 255
    zero = torch.round(-128 - low / scale)
    q = (torch.clamp(torch.round(x / scale) + zero, -128, 127) - zero) * scale
    return x + (q - x).detach()


def scope_names(module) -> dict[str, str]:
    """{module path: the scope litert-torch names its tensors by}: class and attribute names down the path, the
    containers (ModuleList, ModuleDict, Sequential) left out, e.g. ``model.encoder.layer.0.output.dense`` ->
    ``.../transformers.models.bert.modeling_bert.BertEncoder_encoder/transformers.models.bert.modeling_bert.
    BertLayer_0/transformers.models.bert.modeling_bert.BertOutput_output/torch.nn.modules.linear.Linear_dense``:
    what the architecture's outlier regex is written against (a tensor name is the scope, then ``;`` and more)."""
    import torch

    containers = (torch.nn.ModuleList, torch.nn.ModuleDict, torch.nn.Sequential)
    scopes = {"": f"{type(module).__module__}.{type(module).__qualname__}"}
    for name, m in module.named_modules():
        if name:
            parent, _, attr = name.rpartition(".")
            scopes[name] = scopes[parent] if isinstance(m, containers) else \
                f"{scopes[parent]}/{type(m).__module__}.{type(m).__qualname__}_{attr}"
    return scopes


class Int8Simulation:
    """The static int8 graph in PyTorch: patches every nn.Linear and nn.Embedding of ``wrapper`` (an
    EncoderForExport) in place. ``mode``: "float" (as it is), "calibrate" (float, records the static layers'
    input/output ranges), "int8" (the simulation)."""

    def __init__(self, wrapper, outlier_regex: str | None):
        import torch

        self.mode = "float"
        self.ranges: dict[str, list[float]] = {}
        self._buffers = {b.untyped_storage().data_ptr() for b in wrapper.buffers()}
        scopes = scope_names(wrapper)
        outlier = re.compile(outlier_regex) if outlier_regex else None
        self.dynamic = []
        for name, m in wrapper.named_modules():
            if isinstance(m, torch.nn.Linear):
                dynamic = bool(outlier and outlier.fullmatch(scopes[name] + ";"))
                if dynamic:
                    self.dynamic.append(name)
                m.forward = self._linear(name, m, dynamic)
            elif isinstance(m, torch.nn.Embedding):
                m.forward = self._embedding(m)

    def _linear(self, name, m, dynamic):
        import torch.nn.functional as F

        def forward(x):
            if self.mode == "float":
                return F.linear(x, m.weight, m.bias)
            if self.mode == "calibrate":
                y = F.linear(x, m.weight, m.bias)
                if not dynamic:
                    r = self.ranges.setdefault(name, [math.inf, -math.inf, math.inf, -math.inf])
                    r[:] = [min(r[0], float(x.min())), max(r[1], float(x.max())),
                            min(r[2], float(y.min())), max(r[3], float(y.max()))]
                return y
            w = fake_quant_weight(m.weight)
            if dynamic:
                return F.linear(fake_quant_rows(x), w, m.bias)
            low, high, out_low, out_high = self.ranges[name]
            return fake_quant_tensor(F.linear(fake_quant_tensor(x, low, high), w, m.bias), out_low, out_high)

        return forward

    def _embedding(self, m):
        import torch.nn.functional as F

        def forward(ids):
            # A table indexed by a buffer (BERT's position_ids) is read at constant rows: the converter folds the
            # lookup into a float constant, so only tables indexed by the inputs become int8 EMBEDDING_LOOKUPs.
            constant = ids.untyped_storage().data_ptr() in self._buffers
            w = m.weight if self.mode != "int8" or constant else fake_quant_weight(m.weight)
            return F.embedding(ids, w, m.padding_idx, m.max_norm, m.norm_type, m.scale_grad_by_freq, m.sparse)

        return forward

    def calibrate(self, wrapper, inputs: dict) -> None:
        import torch

        self.ranges, mode, self.mode = {}, self.mode, "calibrate"
        try:
            with torch.no_grad():
                for i in range(0, next(iter(inputs.values())).shape[0], BATCH):
                    wrapper(**{k: v[i:i + BATCH] for k, v in inputs.items()})
        finally:
            self.mode = mode


# ---------------------------------------------------------------------------------------------------- the verb
def train_int8(model, output_dir: Path, config, *, say: Callable[[str], None], start: float
               ) -> tuple[Path, dict[str, Any]]:
    """Write the fine-tuned encoder ``model`` (HF folder) into ``output_dir`` (built in a temporary sibling,
    renamed into place); returns (the folder, its compress.json document). ``config``: a compress.qat.QatConfig."""
    import numpy as np
    import torch

    from edgellm.bundle.outdir import atomic_output_dir, check_output_dir
    from edgellm.calibrate import load_samples, load_texts
    from edgellm.compress.loss import LossConfig, distill_loss
    from edgellm.compress.prune import _copy_extras
    from edgellm.compress.qat import _data_sha256
    from edgellm.compress.train import TrainConfig, train
    from edgellm.convert import read_source, resolve_task
    from edgellm.convert.encoder import load_reference, smooth_linear_inputs
    from edgellm.manifest import COMPRESS_FILE, COMPRESS_FORMAT
    from edgellm.quantize import get_recipe

    source = read_source(model)
    output_dir = check_output_dir(output_dir, overwrite=config.overwrite, source=source.path)
    task = resolve_task(source, "auto")
    recipe = get_recipe("int8")
    texts = load_texts(config.data, text_column=config.text_column, num_samples=config.num_samples,
                       seed=config.seed)
    if len(texts) == 0:
        raise ConfigError(f"{texts.source} holds no text samples; give a file with at least one")
    length = min(MAX_LENGTH, source.max_sequence_length)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.path)  # loaded once: calibration samples and training batches
    calibration = load_samples(None, tokenizer, sequence_length=length)
    teacher = load_reference(source, task)
    student = copy.deepcopy(teacher)
    inputs = {k: torch.from_numpy(v) for k, v in calibration.inputs().items()}
    if not source.arch.token_type_ids:
        inputs.pop("token_type_ids", None)
    smoothing = smooth_linear_inputs(student, inputs, recipe.smooth_alpha)
    sim = Int8Simulation(student, source.arch.outlier_linears)
    sim.calibrate(student, inputs)
    say(f"loaded {source.model_type} ({task}): {len(texts)} training texts, {len(sim.ranges)} static int8 and "
        f"{len(sim.dynamic)} dynamic-range linear layers, {smoothing['groups']} smoothed inputs")

    rows = [t if isinstance(t, str) else " ".join(t) for t in texts.texts]

    def batch_at(step: int) -> dict:
        epoch, at = divmod(step * BATCH, len(rows))
        order = np.random.default_rng([config.seed, epoch]).permutation(len(rows))
        picked = [rows[order[(at + i) % len(rows)]] for i in range(min(BATCH, len(rows)))]
        enc = tokenizer(picked, padding=True, truncation=True, max_length=length, return_tensors="pt")
        return {k: v for k, v in enc.items() if k in inputs}

    loss_config = LossConfig(alpha=0.0, hidden="cosine")

    def loss_fn(s_out, t_out, batch):
        return distill_loss(s_out, t_out, batch, loss_config, causal=False)

    sim.mode = "int8"
    for p in student.parameters():
        p.requires_grad_(True)
    recalibrations = []

    def recalibrate(state) -> None:
        if state.step % RECALIBRATE_EVERY == 0 and state.step < config.max_steps:
            sim.calibrate(student, inputs)
            recalibrations.append(state.step)

    max_seconds = None if config.max_minutes is None else config.max_minutes * 60
    state = train(teacher.model, student.model, batch_at, loss_fn,
                  TrainConfig(lr=config.lr, max_steps=config.max_steps, max_seconds=max_seconds),
                  after_step=recalibrate, progress=say)

    final = copy.deepcopy(teacher.model)  # no hooks, no smoothing buffers: the folder loads as the teacher did
    weights = dict(final.named_parameters())
    with torch.no_grad():
        for name, p in student.model.named_parameters():
            weights[name].copy_(p)
        for name, m in student.model.named_modules():  # the weights on their grids, the smoothing taken out
            if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
                w = fake_quant_weight(m.weight)
                if hasattr(m, "input_inverse_scale"):
                    w = w * m.input_inverse_scale[None, :]
                weights[f"{name}.weight"].copy_(w)
    with atomic_output_dir(output_dir, overwrite=config.overwrite, source=source.path) as tmp:
        _copy_extras(source.path, tmp)
        final.save_pretrained(tmp)
        wall = time.perf_counter() - start
        doc = {
            "format": COMPRESS_FORMAT, "method": "quantization-aware int8",
            "source": {"path": str(source.path), "model_type": source.model_type, "sha256": source.weight_sha256()},
            "config": config.to_dict(),
            "grid": {"recipe": "int8", "weights": "int8 per output channel, symmetric, -127..127; embedding "
                     "tables per row", "activations": "int8 per tensor, asymmetric, calibrated min/max (static "
                     "layers); per token (the architecture's dynamic-range projections)",
                     "smoothing": smoothing, "static_layers": len(sim.ranges), "dynamic_layers": sim.dynamic},
            "training": {"method": "quantization-aware distillation from the float model",
                         "loss": loss_config.to_dict(), "steps": state.step, "batch_size": BATCH,
                         "max_length": length, "ranges_measured_again_at": recalibrations,
                         "loss_curve": state.loss_curve(), "seconds": round(state.seconds, 2)},
            "data": {"source": texts.source, "sha256": _data_sha256(texts), "samples": len(texts),
                     "calibration_samples": int(calibration.input_ids.shape[0])},
            "wall_s": round(wall, 3),
        }
        (tmp / COMPRESS_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return output_dir, doc
