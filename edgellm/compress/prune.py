"""Structured pruning of a local HF folder into a smaller HF folder: the ``prune`` verb.

Methods (``amount`` is the share removed, in (0, 1)):

- ``ffn``: the same count of FFN neurons removed from every layer (``intermediate_size`` is one number in the
  config), in each layer the ones whose removal the others can best make up for (OBS saliency on the data, then a
  least-squares refit of the down projection: edgellm/compress/refit.py; ``refit=False``: the lowest mean
  |activation|, only cut). BERT-style: rows of ``intermediate.dense`` and columns of ``output.dense``; llama-style:
  rows of ``gate_proj``/``up_proj`` and columns of ``down_proj``. E.g. intermediate_size 48, amount 0.25 -> 12
  neurons removed per layer, 36 kept.
- ``heads``: decoders (llama, mistral, qwen2, qwen3): whole KV groups removed, the same count in every layer, so
  ``num_key_value_heads`` and ``num_attention_heads`` shrink together and ``head_dim`` is written explicitly:
  4 query heads over 2 KV heads, amount 0.5 -> 2 query heads over 1 KV head. Chosen and refit as FFN neurons are
  (``refit=False``: ranked by the group's attention output norm on the data). BERT-style encoders:
  round(amount x all heads) attention heads removed (rows of query/key/value, columns of
  ``attention.output.dense``), chosen and refit the same way and spread over the layers where they cost least
  (refit.spread), so layers may keep different counts (``refit=False``: the same count from every layer, by the
  head's output norm). transformers 5 has no ``prune_heads`` and a BERT config ties the head size to
  ``hidden_size / num_attention_heads``, so the config keeps its head count and the new linear sizes go in the
  ``quantization_config`` edgellm's loader reads (``shapes``, edgellm/convert/lowrank.py): the folder loads back
  through edgellm (``edgellm export`` as it is; Python: ``edgellm.convert.lowrank.register()`` before
  ``from_pretrained``). MiniLM, 6 layers of 12 heads of 32, amount 0.5 -> 36 heads removed, e.g. 8 from layer 0:
  its query/key/value [128, 384], attention.output.dense [384, 128].
- ``layers``: whole blocks removed (``num_hidden_layers`` and, where present, ``layer_types`` shrink), the ones
  with the lowest block influence (1 - cosine of hidden state in and out) on the data. Decoders (pre-LN): the down
  projection of the kept block before each run of removed ones is refit to also add what the run added to the
  residual stream (refit.absorb_removed; ``refit=False``: only removed). Post-LN encoders: only removed.
- ``lowrank``: every block linear replaced by two thinner ones from its SVD, at the rank that keeps the share
  ``amount`` of its energy (sum of squared singular values; here ``amount`` is what is *kept*), where that is smaller
  (edgellm/compress/lowrank.py). config.json records the ranks as a ``quantization_config`` that edgellm registers
  with transformers (edgellm/convert/lowrank.py), so the folder loads back and exports as two FULLY_CONNECTED ops.
- ``magnitude``: unstructured; the smallest-|w| share of every block linear set to zero. The LiteRT CPU interpreter
  does not run zeros faster and the file is not smaller: this only prepares a model for sparse runtimes.

Recovery: ``recover_steps`` N > 0 trains the pruned model for N steps to imitate the unpruned one on the data, with
the distillation loss (``edgellm/compress/distill.py``, ``recover``); not with ``magnitude``, whose zeros training
would fill again.

The output folder is the pruned HF model (``save_pretrained``), every other file of the source (tokenizer,
sentence-transformers modules) copied, and ``compress.json`` recording what was done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from edgellm.compress import importance, measure
from edgellm.compress.families import Family, family_of
from edgellm.compress.refit import (ABSORB, GRAM_BYTES, OBS_SCORE, REFIT, SPREAD, absorb_removed, fitted,
                                    input_grams, obs_order, set_columns, spread)
from edgellm.errors import ConfigError, config_fields
from edgellm.manifest import COMPRESS_FILE, COMPRESS_FORMAT, sha256_file

METHODS = ("heads", "ffn", "layers", "lowrank", "magnitude")
DEFAULT_SAMPLES = 4096  # texts used when num_samples is not given and the data holds more
# A refit (and the OBS choice) wants several calibration tokens per input of the linear it fits: MiniLM with 64
# texts of calibration/en.txt scored cosine 0.847 (heads 0.5) / 0.905 (ffn 0.3), with all 408: 0.948 / 0.967.
TOKENS_PER_INPUT = 4
FORMAT = COMPRESS_FORMAT
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack")
_NOT_COPIED = {"config.json", COMPRESS_FILE, "edgellm.json", "model.safetensors.index.json",
               "pytorch_model.bin.index.json"}
MAGNITUDE_NOTE = ("unstructured zeros: the LiteRT CPU interpreter does not run them faster and the file is not "
                  "smaller")


@dataclass(frozen=True, kw_only=True)
class PruneConfig:
    method: str  # heads | ffn | layers | lowrank | magnitude
    amount: float  # share removed (structured: of each layer's units, of all encoder heads, of the layers;
    #                magnitude: of each linear's weights)
    data: str | None = None  # calibration texts for the importance scores (None: the packaged calibration/en.txt)
    text_column: str | None = None  # column of a .jsonl/.csv/.tsv/datasets data source
    num_samples: int | None = None  # texts the importance scores (and recovery) use; None: all, at most 4096
    max_length: int = 128  # tokens per text (longer ones are cut)
    overwrite: bool = False  # replace OUTPUT_DIR (only a folder edgellm wrote)
    recover_steps: int = 0  # steps of distillation from the unpruned model after pruning (0: none)
    refit: bool = True  # heads/ffn: refit the linear reading the pruned units; decoder layers: absorb (refit.py)

    def __post_init__(self):
        if isinstance(self.recover_steps, bool) or not isinstance(self.recover_steps, int) or self.recover_steps < 0:
            raise ConfigError(f"recover_steps must be an integer >= 0; got {self.recover_steps!r}")
        if self.recover_steps and self.method == "magnitude":
            raise ConfigError("recover_steps does not go with magnitude pruning: training would fill its zeros "
                              "again; drop --recover-steps")
        if self.method not in METHODS:
            raise ConfigError(f"method {self.method!r} is not known; choose one of {', '.join(METHODS)}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, (int, float)) or not 0 < self.amount < 1:
            raise ConfigError(f"amount must be a share strictly between 0 and 1, e.g. 0.25; got {self.amount!r}")
        for name in ("num_samples", "max_length"):
            value = getattr(self, name)
            if name == "num_samples" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        if self.data is not None and not isinstance(self.data, (str, os.PathLike)):
            raise ConfigError(f"data must be a path; got {type(self.data).__name__}")
        if self.method in ("magnitude", "lowrank") and not self.recover_steps and (
                self.data is not None or self.text_column is not None):
            raise ConfigError(f"{self.method} pruning reads no data; drop --data/--text-column")
        if not isinstance(self.overwrite, bool):
            raise ConfigError(f"overwrite must be True or False; got {self.overwrite!r}")
        if not isinstance(self.refit, bool):
            raise ConfigError(f"refit must be True or False; got {self.refit!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["data"] = None if self.data is None else str(self.data)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PruneConfig":
        return cls(**config_fields(cls, dict(data) if isinstance(data, Mapping) else data))


@dataclass(frozen=True, kw_only=True)
class PruneResult:
    output_dir: Path
    method: str
    amount: float
    params_before: int
    params_after: int
    bytes_before: int  # weight files of the source
    bytes_after: int  # weight files written
    removed: dict[str, Any] = field(default_factory=dict)  # what went, per layer (or the layers removed)
    sparsity: float | None = None  # magnitude: share of zeros in the block linears
    recovery: dict[str, Any] | None = None  # recover_steps: what the recovery distillation did
    fidelity: dict[str, Any] | None = None  # held-text figures before and after (compress/measure.py)
    latency_ms: dict[str, Any] | None = None  # PyTorch latency before and after, and what was timed
    wall_s: float = 0.0

    def summary(self) -> str:
        line = (f"pruned {self.method} {self.amount:g}: {self.params_before / 1e6:.3f} M -> "
                f"{self.params_after / 1e6:.3f} M parameters, {self.bytes_before / 1e6:.2f} MB -> "
                f"{self.bytes_after / 1e6:.2f} MB in {self.wall_s:.1f} s ({self.output_dir})")
        if self.sparsity is not None:
            line += f"\nsparsity {self.sparsity:.1%} of block linear weights; {MAGNITUDE_NOTE}"
        if self.recovery and self.recovery.get("loss_curve"):
            curve = self.recovery["loss_curve"]
            line += (f"\nrecovered by distillation from the unpruned model: {self.recovery['steps']} steps, loss "
                     f"{curve[0][1]:.4f} -> {curve[-1][1]:.4f}")
        if self.latency_ms is not None:
            line += "\n" + measure.summary({"fidelity": self.fidelity, "latency_ms": self.latency_ms})
        return line


def prune(model: str | os.PathLike, output_dir: str | os.PathLike, config: PruneConfig | None = None, *,
          progress: Callable[[str], None] | None = None, **options) -> PruneResult:
    """Prune the HF folder ``model`` into ``output_dir`` (built in a temporary sibling, renamed into place).

    ``config`` or its fields as keywords: ``prune(src, out, method="ffn", amount=0.3)``.
    """
    from edgellm.quiet import quiet_third_party

    if config is None:
        config = PruneConfig(**options)
    elif options:
        raise ConfigError(f"pass a PruneConfig or keywords, not both (got {', '.join(options)})")
    with quiet_third_party():  # transformers' "Loading weights" bars and past_key_values notes
        return _prune(model, output_dir, config, progress)


def _prune(model, output_dir, config: PruneConfig, progress) -> PruneResult:
    from edgellm.bundle.outdir import atomic_output_dir, check_output_dir

    start = time.perf_counter()
    say = progress or (lambda _line: None)
    source = _source_dir(model)
    output_dir = check_output_dir(output_dir, overwrite=config.overwrite, source=source,
                                  needed_bytes=_weight_bytes(source))
    family = family_of(_model_type(source))
    _refuse_factorised(source)
    samples = None
    if config.method not in ("magnitude", "lowrank") or config.recover_steps:
        from edgellm.calibrate import load_texts

        samples = load_texts(config.data, text_column=config.text_column, num_samples=config.num_samples)
        if config.num_samples is None and len(samples) > DEFAULT_SAMPLES:  # a seeded subset of a large file
            samples = load_texts(config.data, text_column=config.text_column, num_samples=DEFAULT_SAMPLES)
        if len(samples) == 0:
            raise ConfigError(f"{samples.source} holds no text samples; give a file with at least one")
    hf = _load(source, family)
    params_before = _num_params(hf)
    tokenizer = _tokenizer(source)
    if samples is not None and tokenizer is None:
        raise ConfigError(f"{source} has no tokenizer to read --data with; save the model's tokenizer into it")
    say(f"loaded {family.model_type} ({params_before / 1e6:.2f} M parameters)")
    probe = None if tokenizer is None else measure.before(hf, tokenizer, decoder=family.decoder)
    record = _apply(hf, family, config, tokenizer, samples)
    say(f"{config.method} pruned")
    if config.recover_steps:
        from edgellm.compress.distill import recover

        record["recovery"] = recover(source, hf, config.recover_steps, texts=samples.texts, tokenizer=tokenizer,
                                     max_length=config.max_length, progress=say)
    measured = {}
    if probe is not None:  # the source loaded again to time it in turn with the pruned model
        measured = measure.after(hf, probe, reference=_load(source, family))
    params_after = _num_params(hf)
    with atomic_output_dir(output_dir, overwrite=config.overwrite, source=source) as tmp:
        _copy_extras(source, tmp)
        hf.save_pretrained(tmp)
        wall = time.perf_counter() - start
        result = PruneResult(output_dir=output_dir, method=config.method, amount=float(config.amount),
                             params_before=params_before, params_after=params_after,
                             bytes_before=_weight_bytes(source), bytes_after=_weight_bytes(tmp),
                             removed=record["removed"], sparsity=record.get("sparsity"), wall_s=wall,
                             recovery=record.get("recovery"), fidelity=measured.get("fidelity"),
                             latency_ms=measured.get("latency_ms"))
        doc = {
            "format": FORMAT,
            "source": {"path": str(source), "model_type": family.model_type,
                       "sha256": {p.name: sha256_file(p) for p in _weight_files(source)}},
            "method": config.method, "amount": float(config.amount), "config": config.to_dict(),
            "importance": record.get("importance"), "refit": record.get("refit") or None,
            "removed": record["removed"],
            "config_changes": record.get("config_changes", {}),
            "parameters": {"before": params_before, "after": params_after},
            "weight_bytes": {"before": result.bytes_before, "after": result.bytes_after},
            "fidelity": result.fidelity, "latency_ms": result.latency_ms,  # None: no tokenizer in the folder
            "data": None if samples is None else {"source": samples.source, "sha256": _data_sha256(samples),
                                                  "samples": len(samples),
                                                  "max_length": record.get("max_length", config.max_length)},
            "recovery": record.get("recovery"),
            "wall_s": round(wall, 3),
        }
        if config.method == "magnitude":
            doc["sparsity"] = record["sparsity"]
            doc["note"] = MAGNITUDE_NOTE
        (tmp / COMPRESS_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return result


# ---------------------------------------------------------------------------------------------------- source
def _source_dir(model: str | os.PathLike) -> Path:
    if not isinstance(model, (str, os.PathLike)):
        raise ConfigError(f"model must be a path to a Hugging Face model folder; got {type(model).__name__}")
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(f"{str(path)!r} is not a Hugging Face model folder (no config.json); pass the folder "
                          "save_pretrained wrote")
    return path


def _model_type(source: Path) -> str:
    try:
        data = json.loads((source / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{source / 'config.json'} cannot be read as JSON ({e}); fix or re-save the model") from e
    model_type = data.get("model_type") if isinstance(data, dict) else None
    if not isinstance(model_type, str):
        raise ConfigError(f"{source / 'config.json'} has no model_type; re-save the model with transformers")
    return model_type


def _weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))


def _weight_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in _weight_files(folder))




def _data_sha256(samples) -> str:
    src = Path(samples.source)
    if src.is_file():
        return sha256_file(src)
    return hashlib.sha256("\n".join(samples.texts).encode("utf-8")).hexdigest()  # a datasets folder: its texts


def _copy_extras(source: Path, dest: Path) -> None:
    """Every source file but the weights and config (tokenizer, sentence-transformers modules) into ``dest``."""
    for item in source.iterdir():
        if item.name in _NOT_COPIED or item.name.startswith(".") or item.name.endswith(_WEIGHT_SUFFIXES):
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name)
        elif item.is_file():
            shutil.copy2(item, dest / item.name)


def _load(source: Path, family: Family):
    import transformers

    from edgellm.convert.lowrank import register_for

    register_for(transformers.AutoConfig.from_pretrained(source))  # an encoder with heads pruned earlier
    if family.decoder:
        auto = transformers.AutoModelForCausalLM
    else:
        config = transformers.AutoConfig.from_pretrained(source)
        names = getattr(config, "architectures", None) or []
        auto = next((getattr(transformers, n) for n in names if hasattr(transformers, n)), transformers.AutoModel)
    return auto.from_pretrained(source).eval()


def _tokenizer(source: Path):
    """The folder's tokenizer, or None where it has none (magnitude and lowrank read no data)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError):
        return None


def _num_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------------- surgery
def _count(amount: float, total: int, what: str, *, keep_one: bool = True) -> int:
    n = int(round(amount * total))
    if n == 0:
        raise ConfigError(f"amount {amount:g} of {total} {what} removes none; raise the amount to at least "
                          f"{0.5 / total:.3g}")
    if keep_one and n >= total:
        raise ConfigError(f"amount {amount:g} would remove every one of the {total} {what}; keep at least one "
                          f"(amount below {(total - 0.5) / total:.3g})")
    return n


def _lowest(scores, n: int) -> list[int]:
    return sorted(sorted(range(len(scores)), key=lambda i: (scores[i], i))[:n])


def _apply(model, family: Family, config: PruneConfig, tokenizer, samples) -> dict[str, Any]:
    import torch

    texts = None if samples is None else list(samples.texts)
    cfg = model.config
    positions = getattr(cfg, "max_position_embeddings", None) or config.max_length
    offset = 2 if family.model_type in ("roberta", "xlm-roberta") else 0  # their positions start after padding_idx
    config = dataclasses.replace(config, max_length=max(1, min(config.max_length, positions - offset)))
    with torch.no_grad():
        if config.method == "magnitude":
            return _magnitude(model, family, config, cfg)
        if config.method == "lowrank":
            return _lowrank(model, family, config)
        heads = _prune_groups if family.decoder else _prune_encoder_heads
        run = {"ffn": _prune_ffn, "heads": heads, "layers": _prune_layers}[config.method]
        return {**run(model, family, config, tokenizer, texts), "max_length": config.max_length}


def _rows(linear, keep) -> None:
    import torch

    linear.weight = torch.nn.Parameter(linear.weight.data[keep].clone())
    if linear.bias is not None:
        linear.bias = torch.nn.Parameter(linear.bias.data[keep].clone())
    linear.out_features = len(keep)


def _cols(linear, keep) -> None:
    import torch

    linear.weight = torch.nn.Parameter(linear.weight.data[:, keep].clone())
    linear.in_features = len(keep)


def _prune_ffn(model, family, config, tokenizer, texts) -> dict[str, Any]:
    import torch

    size = model.config.intermediate_size
    n = _count(config.amount, size, "FFN neurons of a layer")
    layers = family.layers(model)
    outs, norms = [family.ffn_out(x) for x in layers], [family.ffn_out_norm(x) for x in layers]
    drops, cut, score = _choose(model, config, tokenizer, texts, outs, norms, 1, n,
                                lambda: importance.ffn_scores(model, family, tokenizer, texts, config.max_length),
                                importance.FFN_SCORE)
    removed = {}
    for i, layer in enumerate(layers):
        drop = drops[i]
        keep = torch.tensor([j for j in range(size) if j not in set(drop)])
        for lin in family.ffn_in(layer):
            _rows(lin, keep)
        cut(i, keep)
        removed[str(i)] = drop
    model.config.intermediate_size = size - n
    return {"removed": removed, "importance": score, "refit": config.refit and REFIT,
            "config_changes": {"intermediate_size": [size, size - n]}}


def _choose(model, config, tokenizer, texts, linears, norms, unit: int, n: int, scores: Callable[[], list],
            score: str, *, spread_total: int | None = None):
    """(per layer the units to drop, cut(i, keep), what ranked them) for units of ``unit`` adjacent input columns
    of each of ``linears`` (``norms``: the LayerNorm each one's output feeds, or None). config.refit: one pass over
    the data for each linear's input Gram matrix (refit.input_grams, tokens weighted through ``norms``), units chosen
    by OBS saliency and the linear refit by least squares (compress/refit.py); else ``scores()`` ranks them (lowest
    go) and the columns are only cut. ``n`` units go from every layer; with ``spread_total`` (refit only) that many
    go in all, spread over the layers where they cost least (refit.spread), at least one unit kept per layer."""
    import torch

    if not config.refit:
        return ([_lowest(s, n) for s in scores()], lambda i, keep: _cols(linears[i], keep), score)
    _warn_if_few_tokens(tokenizer, texts, config.max_length, max(x.in_features for x in linears))
    size = (max(x.in_features for x in linears) + 1) ** 2 * 8  # one float64 Gram matrix
    per_pass = max(1, GRAM_BYTES // size)  # a large model's Grams are gathered a few layers per pass
    if spread_total is not None:
        per_pass = len(linears)  # the choice needs every layer's cost curve, so every Gram at once
    orders, fits, curves, grams = [], [], [], []
    for start in range(0, len(linears), per_pass):
        chunk = linears[start:start + per_pass]
        chunk_grams = input_grams(model, chunk, tokenizer, texts, config.max_length, norms[start:start + per_pass])
        for linear, gram in zip(chunk, chunk_grams):
            if spread_total is None:  # fit now and let the Gram go
                orders.append(obs_order(linear, gram, unit, n)[0])
                fits.append(_fit(linear, gram, unit, orders[-1]))
            else:  # the whole cost curve; fit once the layers' counts are known
                curves.append(obs_order(linear, gram, unit, linear.in_features // unit - 1))
                grams.append(gram)
    if spread_total is not None:
        counts = spread([costs for _, costs in curves], spread_total)
        orders = [order[:k] for (order, _), k in zip(curves, counts)]
        fits = [_fit(linear, gram, unit, drop) for linear, gram, drop in zip(linears, grams, orders)]

    def cut(i, keep):
        assert torch.equal(keep, fits[i][0]), "the surgery keeps other columns than the refit"
        set_columns(linears[i], keep, *fits[i][1])

    return [sorted(drop) for drop in orders], cut, OBS_SCORE + (SPREAD if spread_total is not None else "")


def _warn_if_few_tokens(tokenizer, texts, max_length: int, inputs: int) -> None:
    """Warn where the refit's least squares would see fewer than TOKENS_PER_INPUT tokens per input column."""
    import warnings

    from edgellm.calibrate.samples import CalibrationWarning

    tokens = sum(len(tokenizer(t, truncation=True, max_length=max_length)["input_ids"]) for t in texts)
    if tokens < TOKENS_PER_INPUT * inputs:
        warnings.warn(f"the refit sees {tokens} tokens for linears of {inputs} inputs: the pruned model will be "
                      f"far from the original; give at least {TOKENS_PER_INPUT * inputs} tokens of text (a larger "
                      f"--data, or a larger --num-samples)", CalibrationWarning, stacklevel=2)


def _fit(linear, gram, unit: int, drop: list[int]):
    """(kept columns, refit weight and bias) of ``linear`` without the units ``drop``."""
    import torch

    keep = torch.tensor([u * unit + j for u in range(linear.in_features // unit) if u not in set(drop)
                         for j in range(unit)])
    return keep, fitted(linear, keep, gram)


def _prune_groups(model, family, config, tokenizer, texts) -> dict[str, Any]:
    import torch

    cfg = model.config
    heads = cfg.num_attention_heads
    kv = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    per_group = heads // kv
    n = _count(config.amount, kv, "KV groups of a layer")
    layers = family.layers(model)
    outs, norms = [family.attn_out(x) for x in layers], [family.attn_out_norm(x) for x in layers]
    drops, cut, score = _choose(
        model, config, tokenizer, texts, outs, norms, per_group * head_dim, n,
        lambda: importance.group_scores(model, family, tokenizer, texts, config.max_length, num_heads=heads,
                                        num_kv=kv, head_dim=head_dim), importance.HEADS_SCORE)
    removed = {}
    for i, layer in enumerate(layers):
        drop = drops[i]
        groups = [g for g in range(kv) if g not in set(drop)]
        kv_rows = torch.tensor([g * head_dim + d for g in groups for d in range(head_dim)])
        q_rows = torch.tensor([(g * per_group + h) * head_dim + d
                               for g in groups for h in range(per_group) for d in range(head_dim)])
        attn = layer.self_attn
        _rows(attn.q_proj, q_rows)
        _rows(attn.k_proj, kv_rows)
        _rows(attn.v_proj, kv_rows)
        cut(i, q_rows)
        removed[str(i)] = {"kv_groups": drop,
                           "query_heads": [g * per_group + h for g in drop for h in range(per_group)]}
    new_kv = kv - n
    cfg.num_key_value_heads = new_kv
    cfg.num_attention_heads = new_kv * per_group
    cfg.head_dim = head_dim
    return {"removed": removed, "importance": score, "refit": config.refit and REFIT,
            "config_changes": {"num_attention_heads": [heads, new_kv * per_group],
                               "num_key_value_heads": [kv, new_kv], "head_dim": [head_dim, head_dim]}}


def _prune_encoder_heads(model, family, config, tokenizer, texts) -> dict[str, Any]:
    """Heads removed from the encoder's layers: with the refit, round(amount x all heads) of them, spread over the
    layers where they cost least (a layer may keep more heads than another); without it, the same count from every
    layer."""
    import torch

    from edgellm.convert.lowrank import mark_shapes

    cfg = model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    layers = family.layers(model)
    heads = [layer.attention.self.query.out_features // head_dim for layer in layers]  # fewer if pruned before
    outs, norms = [family.attn_out(x) for x in layers], [family.attn_out_norm(x) for x in layers]
    if config.refit:
        n = _count(config.amount, sum(heads), "attention heads")
        if n > sum(heads) - len(layers):
            raise ConfigError(f"amount {config.amount:g} would remove {n} of the {sum(heads)} attention heads, "
                              f"leaving a layer without any; keep at least one per layer (amount at most "
                              f"{(sum(heads) - len(layers)) / sum(heads):.3g})")
        scores, spread_total = None, n
    else:
        if len(set(heads)) > 1:
            raise ConfigError(f"the layers have different head counts ({heads}): --no-refit removes the same count "
                              f"from every layer; prune this model with the refit (drop --no-refit)")
        n, spread_total = _count(config.amount, heads[0], "attention heads of a layer"), None

        def scores():
            return importance.group_scores(model, family, tokenizer, texts, config.max_length, num_heads=heads[0],
                                           num_kv=heads[0], head_dim=head_dim)
    drops, cut, score = _choose(model, config, tokenizer, texts, outs, norms, head_dim, n, scores,
                                importance.ENCODER_HEADS_SCORE, spread_total=spread_total)
    removed, resized, kept = {}, [], []
    for i, layer in enumerate(layers):
        drop = drops[i]
        rows = torch.tensor([h * head_dim + d for h in range(heads[i]) if h not in set(drop)
                             for d in range(head_dim)])
        attn = layer.attention.self
        for lin in (attn.query, attn.key, attn.value):
            _rows(lin, rows)
        cut(i, rows)
        attn.num_attention_heads, attn.all_head_size = heads[i] - len(drop), len(rows)
        removed[str(i)] = drop
        kept.append(heads[i] - len(drop))
        prefix = next(name for name, m in model.named_modules() if m is layer)
        resized += [f"{prefix}.attention.self.{k}" for k in ("query", "key", "value")]
        resized.append(f"{prefix}.attention.output.dense")
    changed = mark_shapes(model, resized)
    return {"removed": removed, "importance": score, "refit": config.refit and REFIT,
            "config_changes": {"attention heads per layer": [heads, kept], "quantization_config": [None, changed]}}


def _prune_layers(model, family, config, tokenizer, texts) -> dict[str, Any]:
    import torch

    layers = family.layers(model)
    total = len(layers)
    n = _count(config.amount, total, "layers")
    scores = importance.layer_scores(model, family, tokenizer, texts, config.max_length)
    drop = _lowest(scores, n)
    keep = [i for i in range(total) if i not in set(drop)]
    absorbed = None
    if config.refit and family.decoder:  # pre-LN: a block's output is added to the residual stream as it is
        _warn_if_few_tokens(tokenizer, texts, config.max_length, family.ffn_out(layers[0]).in_features)
        absorbed = absorb_removed(model, layers, [family.ffn_out(x) for x in layers], drop, tokenizer, texts,
                                  config.max_length)
    resized = _resized_modules(model)
    family.set_layers(model, torch.nn.ModuleList([layers[i] for i in keep]))
    changes: dict[str, Any] = {"num_hidden_layers": [total, len(keep)]}
    if resized:  # an encoder whose heads were pruned before: its resized linears have new names
        from edgellm.convert.lowrank import mark_shapes

        names = {id(m): name for name, m in model.named_modules()}
        config = model.config.quantization_config
        config = dict(config if isinstance(config, Mapping) else config.to_dict(), shapes={})
        model.config.quantization_config = config
        changes["quantization_config"] = [None, mark_shapes(model, [names[id(m)] for m in resized
                                                                   if id(m) in names])]
    if family.decoder:
        for new, layer in enumerate(family.layers(model)):
            if hasattr(layer.self_attn, "layer_idx"):
                layer.self_attn.layer_idx = new
            if hasattr(layer, "layer_idx"):
                layer.layer_idx = new
    types = getattr(model.config, "layer_types", None)
    if types:
        model.config.layer_types = [types[i] for i in keep]
        changes["layer_types"] = [list(types), list(model.config.layer_types)]
    model.config.num_hidden_layers = len(keep)
    removed = {"layers": drop, "scores": [round(s, 6) for s in scores]}
    if absorbed is not None:
        removed["absorbed_into"] = absorbed  # kept block (old index) -> the removed blocks its down projection adds
    return {"removed": removed, "importance": importance.LAYERS_SCORE, "refit": bool(absorbed) and ABSORB,
            "config_changes": changes}


def _resized_modules(model) -> list:
    """The modules a loaded model's ``shapes`` record names (an encoder with heads pruned before)."""
    from edgellm.convert.lowrank import _record

    return [model.get_submodule(name) for name in ((_record(model.config) or {}).get("shapes") or {})]


def _magnitude(model, family, config, _cfg) -> dict[str, Any]:
    import torch

    zeros = total = 0
    removed = {}
    for i, layer in enumerate(family.layers(model)):
        for name, module in layer.named_modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            w = module.weight.data
            k = int(round(config.amount * w.numel()))
            if k:
                idx = torch.argsort(w.abs().flatten(), stable=True)[:k]
                w.view(-1)[idx] = 0
            zeros += int((w == 0).sum())
            total += w.numel()
            removed[f"{i}.{name}"] = k
    return {"removed": removed, "importance": "|weight| (smallest set to zero)",
            "sparsity": zeros / max(total, 1)}


def _lowrank(model, family, config) -> dict[str, Any]:
    from edgellm.compress import lowrank
    from edgellm.convert.lowrank import mark

    record = lowrank.factorise(model, lowrank.block_linears(model, family), config.amount)
    done = {name: r for name, r in record.items() if r["factorised"]}
    if not done:
        ranks = sorted({(r["rank"], r["full_rank"]) for r in record.values()})
        raise ConfigError(f"amount {config.amount:g} keeps so much energy that no linear layer gets smaller (rank, "
                          f"full rank: {ranks[:3]}); lower --amount (the share of energy kept), e.g. 0.5")
    changed = mark(model, config.amount)
    return {"removed": record, "importance": lowrank.ENERGY_NOTE,
            "config_changes": {"quantization_config": [None, changed]}}


def _refuse_factorised(source: Path) -> None:
    from edgellm.convert.lowrank import is_factorised

    try:
        data = json.loads((source / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return  # _model_type already read it
    if is_factorised(data):
        raise ConfigError(f"{source} is already low-rank factorised (edgellm prune --method lowrank); prune the "
                          "unfactorised model, with lowrank last")
