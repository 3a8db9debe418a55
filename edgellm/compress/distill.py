"""Knowledge distillation of a local HF folder into a smaller HF folder: the ``distill`` verb.

A student (the teacher's every k-th layer, optionally narrower: ``compress/student.py``; or a given HF folder with
the teacher's vocabulary) is trained on CPU to imitate the frozen teacher with ``compress/loss.py``'s loss, in the
loop ``compress/train.py`` shares with the other compression stages:

- causal LMs: alpha * next-token cross-entropy + (1 - alpha) * T^2 * KL(teacher || student) on the logits;
- encoders (no labels): a hidden-state term, cosine (default) or MSE, per token and mean-pooled, through a learned
  projection where the widths differ, plus the soft term where the model has logits (a classification head).

Data: the texts ``load_texts`` reads (txt, jsonl, csv/tsv, a datasets folder; default the packaged
calibration/en.txt) or, for causal LMs, ``data="teacher"``: replies the teacher samples to the calibration
sentences sent through its chat template. Each epoch visits the texts in an order drawn from ``(seed, epoch)``,
so the batch of a step is a function of the step alone.

OUTPUT_DIR holds ``distill.ckpt`` (student, projection, optimizer, RNG state, step, loss curve, the data's tokens)
and ``compress.json``, rewritten atomically every ``checkpoint_every`` steps and on Ctrl-C/SIGTERM; ``resume=True``
continues from it bit-for-bit. At the end the folder is swapped in whole for the finished HF folder (weights,
config, the teacher's tokenizer and sentence-transformers files, compress.json, and the checkpoint, kept so that a
longer run can resume it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from edgellm.errors import ConfigError, config_fields
from edgellm.manifest import COMPRESS_FILE, COMPRESS_FORMAT

CHECKPOINT_FILE = "distill.ckpt"
CHECKPOINT_FORMAT = "edgellm.distill-checkpoint/1"
TEACHER_DATA = "teacher"  # data="teacher": causal LMs sample their own training text
TEACHER_SAMPLES = 64  # texts sampled from the teacher when num_samples is not given
_RESUME_FIXED = ("student", "student_layers", "student_hidden", "data", "text_column", "num_samples", "max_length",
                 "temperature", "alpha", "lr", "batch_size", "seed", "hidden_loss", "warmup_steps",
                 "lr_schedule", "freeze_embeddings")  # what a resumed run must share with the checkpoint


@dataclass(frozen=True, kw_only=True)
class DistillConfig:
    student: str | None = None  # HF folder of the student (the teacher's tokenizer and vocabulary, not wider)
    student_layers: int | None = None  # or: the teacher's every k-th layer, this many of them
    student_hidden: int | None = None  # with student_layers: a narrower width (a multiple of the head size)
    data: str | None = None  # text file/datasets folder, "teacher" (causal LMs), None: calibration/en.txt
    text_column: str | None = None  # column of a .jsonl/.csv/.tsv/datasets data source
    num_samples: int | None = None  # texts used (None: all of a file; 64 sampled from the teacher)
    max_length: int = 128  # tokens per text (longer ones are cut)
    epochs: int | None = None  # passes over the data (the default end: 1 epoch) ...
    max_steps: int | None = None  # ... or optimizer steps ...
    max_minutes: float | None = None  # ... or minutes of training (counted over resumes)
    temperature: float = 2.0  # T of the soft term
    alpha: float = 0.5  # weight of the hard (next-token) term; 1 - alpha weighs the soft term
    hidden_loss: str = "cosine"  # encoders: cosine | mse hidden-state term
    lr: float = 1e-4  # AdamW learning rate
    warmup_steps: int = 0  # linear warm-up steps, then a constant rate (a longer run continues a shorter one)
    lr_schedule: str = "constant"  # or "linear": after warm-up, down to 0 at the end of the run (steps or minutes)
    batch_size: int = 16  # texts per step
    freeze_embeddings: bool = False  # keep the input embeddings as they start (the largest matrix: faster on CPU)
    seed: int = 0  # data order (and the teacher's sampling)
    checkpoint_every: int = 100  # steps between checkpoints
    resume: bool = False  # continue from OUTPUT_DIR's checkpoint
    overwrite: bool = False  # replace OUTPUT_DIR (only a folder edgellm wrote)

    def __post_init__(self):
        from edgellm.compress.loss import HIDDEN_KINDS, LossConfig
        from edgellm.compress.train import TrainConfig

        if (self.student is None) == (self.student_layers is None):
            raise ConfigError("give the student as a folder (student) or as a layer count of the teacher "
                              "(student_layers), one of them")
        if self.student is not None and not isinstance(self.student, (str, os.PathLike)):
            raise ConfigError(f"student must be a path to an HF folder; got {type(self.student).__name__}")
        if self.student_hidden is not None and self.student_layers is None:
            raise ConfigError("student_hidden goes with student_layers (a student made from the teacher)")
        for name in ("student_layers", "student_hidden", "num_samples", "epochs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        for name in ("max_length", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        if sum(v is not None for v in (self.epochs, self.max_steps, self.max_minutes)) > 1:
            raise ConfigError("give one end of training: epochs, max_steps or max_minutes")
        if self.max_minutes is not None and (isinstance(self.max_minutes, bool) or
                                             not isinstance(self.max_minutes, (int, float)) or
                                             not self.max_minutes > 0):
            raise ConfigError(f"max_minutes must be a number above 0; got {self.max_minutes!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0; got {self.seed!r}")
        if self.data is not None and not isinstance(self.data, (str, os.PathLike)):
            raise ConfigError(f"data must be a path or 'teacher'; got {type(self.data).__name__}")
        if self.hidden_loss not in HIDDEN_KINDS:
            raise ConfigError(f"hidden_loss {self.hidden_loss!r} is not known; choose {' or '.join(HIDDEN_KINDS)}")
        for name in ("resume", "overwrite", "freeze_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False; got {getattr(self, name)!r}")
        if self.resume and self.overwrite:
            raise ConfigError("resume continues OUTPUT_DIR's checkpoint and overwrite replaces it; give one")
        LossConfig(temperature=self.temperature, alpha=self.alpha)  # their own checks
        TrainConfig(lr=self.lr, max_steps=self.max_steps or 1, warmup_steps=self.warmup_steps,
                    checkpoint_every=self.checkpoint_every, lr_schedule=self.lr_schedule)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for name in ("student", "data"):
            d[name] = None if d[name] is None else str(d[name])
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DistillConfig":
        return cls(**config_fields(cls, dict(data) if isinstance(data, Mapping) else data))


@dataclass(frozen=True, kw_only=True)
class DistillResult:
    output_dir: Path
    steps: int
    epochs: float  # passes over the data done
    params_teacher: int
    params_student: int
    loss_first: float | None  # mean loss of the first curve point
    loss_last: float | None  # mean loss of the last curve point
    losses: dict[str, Any] = field(default_factory=dict)  # which terms, and their kinds
    train_s: float = 0.0  # training time over all runs
    wall_s: float = 0.0  # this run
    fidelity: dict[str, Any] | None = None  # held-text figures, teacher (before) and student (after): measure.py
    latency_ms: dict[str, Any] | None = None  # PyTorch latency of the teacher and the student

    def summary(self) -> str:
        from edgellm.compress import measure

        loss = "" if self.loss_first is None else f", loss {self.loss_first:.4f} -> {self.loss_last:.4f}"
        line = (f"distilled {self.params_teacher / 1e6:.2f} M -> {self.params_student / 1e6:.2f} M parameters in "
                f"{self.steps} steps ({self.epochs:.2f} epochs, {self.train_s / 60:.1f} min of training){loss} "
                f"({self.output_dir})")
        if self.latency_ms is not None:
            line += "\n" + measure.summary({"fidelity": self.fidelity, "latency_ms": self.latency_ms},
                                            against="the teacher's")
        return line


def distill(teacher: str | os.PathLike, output_dir: str | os.PathLike, config: DistillConfig | None = None, *,
            progress: Callable[[str], None] | None = None, **options) -> DistillResult:
    """Distill the HF folder ``teacher`` into a student written to ``output_dir``.

    ``config`` or its fields as keywords: ``distill(src, out, student_layers=3, max_minutes=30)``.
    """
    from edgellm.quiet import quiet_third_party

    if config is None:
        config = DistillConfig(**options)
    elif options:
        raise ConfigError(f"pass a DistillConfig or keywords, not both (got {', '.join(options)})")
    with quiet_third_party():  # transformers' "Loading weights" bars, torchao's kernel notes
        return _distill(teacher, output_dir, config, progress)


def _distill(teacher, output_dir, config: DistillConfig, progress) -> DistillResult:
    import torch

    from edgellm.compress import train as training
    from edgellm.compress.families import family_of
    from edgellm.compress.loss import LossConfig, distill_loss
    from edgellm.compress.prune import _model_type, _source_dir

    start = time.perf_counter()
    say = progress or (lambda _line: None)
    source = _source_dir(teacher)
    out = _check_output(output_dir, config, source)
    family = family_of(_model_type(source))
    teacher_sha = _weights_sha256(source)
    saved = _read_checkpoint(out, config, teacher_sha) if config.resume else None
    if config.data == TEACHER_DATA and not family.decoder:
        raise ConfigError(f"data 'teacher' samples text from a causal LM; {family.model_type!r} is an encoder: "
                          "give a text file")
    if config.student is not None:
        _check_student_folder(source, _source_dir(config.student))
    tokenizer = _tokenizer(source)
    teacher_model = _load(source, family.decoder)
    student, kept = _student(teacher_model, family, config)
    _check_student(teacher_model, student, family)
    if config.freeze_embeddings:
        student.get_input_embeddings().requires_grad_(False)
    if saved is None:
        ids, data_doc = _data(config, family, tokenizer, teacher_model, say)
    else:
        ids, data_doc = saved["ids"], saved["data"]
        if data_doc["sha256"] != _data_sha256_now(config, data_doc):
            raise ConfigError(f"the data {data_doc['source']} changed since the checkpoint (sha256 differs); "
                              "resume with the same data or start again with --overwrite")
    loss_config = LossConfig(temperature=config.temperature, alpha=config.alpha,
                             hidden=None if family.decoder else config.hidden_loss)
    projection = _projection(teacher_model, student, loss_config)
    state = None
    if saved is not None:
        student.load_state_dict(saved["student"])
        if projection is not None:
            projection.load_state_dict(saved["projection"])
        state = training.TrainState.from_dict(saved["train_state"])
    steps_per_epoch = -(-len(ids) // config.batch_size)
    train_config = training.TrainConfig(
        lr=config.lr, warmup_steps=config.warmup_steps, checkpoint_every=config.checkpoint_every,
        lr_schedule=config.lr_schedule, max_steps=config.max_steps if config.max_steps is not None else
        None if config.max_minutes is not None else (config.epochs or 1) * steps_per_epoch,
        max_seconds=None if config.max_minutes is None else config.max_minutes * 60)
    losses = _loss_doc(loss_config, family, student, projection)
    params_teacher, params_student = _num_params(teacher_model), _num_params(student)
    say(f"teacher {family.model_type} {params_teacher / 1e6:.2f} M parameters, student {params_student / 1e6:.2f} M "
        f"({'layers ' + ','.join(map(str, kept)) if kept else config.student}); {len(ids)} texts, "
        f"{steps_per_epoch} steps per epoch" + (f"; resuming at step {state.step}" if state else ""))
    pad = _pad_id(tokenizer)
    causal = family.decoder
    takes_types = "token_type_ids" in inspect.signature(student.forward).parameters and \
        "token_type_ids" in inspect.signature(teacher_model.forward).parameters

    def batch_at(step: int) -> dict:
        return _batch(ids, step, config.batch_size, config.seed, pad, takes_types)

    def loss_fn(s_out, t_out, batch):
        return distill_loss(s_out, t_out, batch, loss_config, causal=causal, projection=projection)

    def base_doc(state: "training.TrainState") -> dict[str, Any]:
        return {
            "format": COMPRESS_FORMAT, "method": "distill",
            "teacher": {"path": str(source), "model_type": family.model_type, "sha256": teacher_sha,
                        "parameters": params_teacher},
            "student": {"from": str(config.student or "teacher"), "layers_kept": kept,
                        "num_hidden_layers": student.config.num_hidden_layers,
                        "hidden_size": student.config.hidden_size, "parameters": params_student},
            "config": config.to_dict(), "loss": losses, "data": data_doc,
            "steps": state.step, "epochs": round(state.step / steps_per_epoch, 4), "tokens": state.tokens,
            "loss_curve": state.loss_curve(), "train_s": round(state.seconds, 3),
        }

    first = [saved is None]

    def checkpoint(state: "training.TrainState") -> None:
        payload = {"format": CHECKPOINT_FORMAT, "teacher_sha256": teacher_sha, "config": config.to_dict(),
                   "student": student.state_dict(), "ids": ids, "data": data_doc,
                   "projection": None if projection is None else projection.state_dict(),
                   "train_state": state.to_dict()}
        doc = {**base_doc(state), "status": "checkpoint"}
        _save_checkpoint(out, payload, doc, fresh=first[0])
        first[0] = False

    torch.manual_seed(config.seed)
    state = training.train(teacher_model, student, batch_at, loss_fn, train_config,
                           extra_params=() if projection is None else list(projection.parameters()),
                           state=state, checkpoint=checkpoint, progress=say)
    from edgellm.compress import measure

    measured = measure.after(student, measure.before(teacher_model, tokenizer, decoder=family.decoder),
                             project=projection, reference=teacher_model)
    wall = time.perf_counter() - start
    doc = {**base_doc(state), "status": "done", **measured, "wall_s": round(wall, 3)}
    _write_final(out, source, student, doc, config)
    curve = state.loss_curve()
    return DistillResult(output_dir=out, steps=state.step, epochs=state.step / steps_per_epoch,
                         params_teacher=params_teacher, params_student=params_student,
                         loss_first=curve[0][1] if curve else None, loss_last=curve[-1][1] if curve else None,
                         losses=losses, train_s=state.seconds, wall_s=wall, **measured)


# ---------------------------------------------------------------------------------------------------- checks
def _check_output(output_dir, config: DistillConfig, source: Path) -> Path:
    from edgellm.bundle.outdir import check_output_dir

    if not isinstance(output_dir, (str, os.PathLike)):
        raise ConfigError(f"output folder must be a path; got {type(output_dir).__name__}")
    out = Path(output_dir).expanduser()
    if config.resume:
        if not (out / CHECKPOINT_FILE).is_file():
            raise ConfigError(f"{str(out)!r} holds no {CHECKPOINT_FILE} to resume; run without --resume to start")
        return out
    if (out / CHECKPOINT_FILE).is_file() and not config.overwrite:
        raise ConfigError(f"{str(out)!r} holds a distillation checkpoint; pass --resume to continue it or "
                          "--overwrite to start again")
    return check_output_dir(out, overwrite=config.overwrite, source=source)


def _read_checkpoint(out: Path, config: DistillConfig, teacher_sha: dict) -> dict[str, Any]:
    import torch

    path = out / CHECKPOINT_FILE
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged file
        raise ConfigError(f"{path} cannot be read as a checkpoint ({type(e).__name__}); start again with "
                          "--overwrite") from e
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not an edgellm distillation checkpoint; start again with --overwrite")
    if saved["teacher_sha256"] != teacher_sha:
        raise ConfigError(f"{str(out)!r} was distilled from another teacher (weights sha256 differ); resume with "
                          "the teacher it started from, or choose another output folder")
    before = saved["config"]
    now = config.to_dict()
    before = {"lr_schedule": "constant", **before}  # checkpoints older than the setting ran at a constant rate
    changed = [f"{k} {before.get(k)!r} -> {now[k]!r}" for k in _RESUME_FIXED if before.get(k) != now[k]]
    if changed:
        raise ConfigError(f"resume needs the settings the checkpoint was made with; changed: {'; '.join(changed)}")
    return saved


def _check_student_folder(teacher: Path, student: Path) -> None:
    t_tok, s_tok = _tokenizer(teacher), _tokenizer(student)
    if t_tok.get_vocab() != s_tok.get_vocab():
        raise ConfigError(f"the student {str(student)!r} has another tokenizer than the teacher ({len(s_tok)} vs "
                          f"{len(t_tok)} tokens, or other ids); a student must share the teacher's tokenizer")


def _check_student(teacher, student, family) -> None:
    t_cfg, s_cfg = teacher.config, student.config
    if getattr(s_cfg, "vocab_size", None) != getattr(t_cfg, "vocab_size", None):
        raise ConfigError(f"the student's vocabulary has {s_cfg.vocab_size} entries, the teacher's "
                          f"{t_cfg.vocab_size}; a student must share the teacher's vocabulary")
    t_width = getattr(t_cfg, "hidden_size", None)
    s_width = getattr(s_cfg, "hidden_size", None) or getattr(s_cfg, "dim", None)
    if t_width and s_width and s_width > t_width:
        raise ConfigError(f"the student is wider than the teacher (hidden size {s_width} > {t_width}); give a "
                          "student at most as wide")
    if family.decoder != bool(getattr(s_cfg, "is_decoder", False) or _is_causal(student)):
        raise ConfigError("teacher and student must both be causal LMs or both encoders")


def _is_causal(model) -> bool:
    return hasattr(model, "generate") and getattr(model, "lm_head", None) is not None


# ---------------------------------------------------------------------------------------------------- models
def _tokenizer(folder: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{str(folder)!r} has no tokenizer transformers can load ({e}); a distillation needs "
                          "the teacher's tokenizer files in the folder") from e


def _load(folder: Path, decoder: bool):
    import transformers

    from edgellm.convert.lowrank import register_for

    register_for(transformers.AutoConfig.from_pretrained(folder))  # a pruned or factorised folder
    if decoder:
        auto = transformers.AutoModelForCausalLM
    else:
        config = transformers.AutoConfig.from_pretrained(folder)
        names = getattr(config, "architectures", None) or []
        auto = next((getattr(transformers, n) for n in names if hasattr(transformers, n)), transformers.AutoModel)
    return auto.from_pretrained(folder).eval()


def _student(teacher, family, config: DistillConfig):
    import torch

    from edgellm.compress.student import from_teacher

    torch.manual_seed(config.seed)
    if config.student is not None:
        return _load(Path(config.student).expanduser(), family.decoder), []
    return from_teacher(teacher, family, config.student_layers, config.student_hidden)


def _projection(teacher, student, loss_config):
    """A bias-free Linear from the student's width to the teacher's where they differ (encoders' hidden term)."""
    import torch

    if loss_config.hidden is None or student.config.hidden_size == teacher.config.hidden_size:
        return None
    proj = torch.nn.Linear(student.config.hidden_size, teacher.config.hidden_size, bias=False)
    with torch.no_grad():  # start as the embedding of the student's dims into the teacher's leading ones
        proj.weight.zero_()
        proj.weight[: student.config.hidden_size].copy_(torch.eye(student.config.hidden_size))
    return proj


def _loss_doc(loss_config, family, student, projection) -> dict[str, Any]:
    return {
        "formula": "alpha*hard + (1-alpha)*T^2*KL(softmax(z_t/T)||softmax(z_s/T)) + hidden",
        "temperature": loss_config.temperature, "alpha": loss_config.alpha,
        "hard": "next-token cross-entropy" if family.decoder else None,
        "soft": "T^2 KL on logits" if family.decoder or "logits" in _output_names(student) else None,
        "hidden": None if loss_config.hidden is None else
        {"kind": loss_config.hidden, "on": "last hidden state, per token and mean-pooled",
         "projection": None if projection is None else
         f"learned Linear {projection.in_features} -> {projection.out_features} (not exported)"},
    }


def _output_names(model) -> set[str]:
    return {"logits"} if type(model).__name__.endswith(("ForSequenceClassification", "ForTokenClassification",
                                                        "ForMaskedLM")) else set()


def _num_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _weights_sha256(folder: Path) -> dict[str, str]:
    from edgellm.compress.prune import _weight_files
    from edgellm.manifest import sha256_file

    return {p.name: sha256_file(p) for p in _weight_files(folder) if p.name != CHECKPOINT_FILE}


# ---------------------------------------------------------------------------------------------------- data
def _data(config: DistillConfig, family, tokenizer, teacher, say) -> tuple[list[list[int]], dict[str, Any]]:
    """(token ids per text, the data's record for compress.json)."""
    from edgellm.calibrate import load_texts
    from edgellm.compress.prune import _data_sha256

    if config.data == TEACHER_DATA:
        return _sample_teacher(config, tokenizer, teacher, say)
    samples = load_texts(config.data, text_column=config.text_column, num_samples=config.num_samples,
                         seed=config.seed)
    if isinstance(samples.texts[0], (tuple, list)):
        raise ConfigError("distillation reads one text per sample; name one text_column")
    limit = _max_length(config, teacher)
    ids = [tokenizer(t, truncation=True, max_length=limit)["input_ids"] for t in samples.texts]
    ids = [x for x in ids if len(x) >= 2]
    if not ids:
        raise ConfigError(f"{samples.source} gives no text of 2 tokens or more; give real sentences")
    return ids, {"source": str(samples.source), "sha256": _data_sha256(samples), "texts": len(ids),
                 "tokens": sum(map(len, ids)), "max_length": limit}


def _data_sha256_now(config: DistillConfig, data_doc: dict) -> str:
    """The sha256 of the data file now (a resumed run must read the same file); sampled data: as recorded."""
    from edgellm.manifest import sha256_file

    src = Path(data_doc["source"])
    return sha256_file(src) if config.data != TEACHER_DATA and src.is_file() else data_doc["sha256"]


def _max_length(config: DistillConfig, model) -> int:
    positions = getattr(model.config, "max_position_embeddings", None) or config.max_length
    offset = 2 if model.config.model_type in ("roberta", "xlm-roberta") else 0
    return max(2, min(config.max_length, positions - offset))


def _sample_teacher(config: DistillConfig, tokenizer, teacher, say) -> tuple[list[list[int]], dict[str, Any]]:
    """Replies the teacher samples (temperature 1, seeded) to the calibration sentences, chat-templated."""
    import torch

    from edgellm.calibrate import load_texts
    from edgellm.signals import check

    count = config.num_samples or TEACHER_SAMPLES
    prompts = load_texts(None, num_samples=count, seed=config.seed)
    limit = _max_length(config, teacher)
    generator_state = torch.get_rng_state()
    torch.manual_seed(config.seed)
    ids = []
    try:
        for i, text in enumerate(prompts.texts):
            check()
            if getattr(tokenizer, "chat_template", None):
                prompt = tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                                       add_generation_prompt=True, tokenize=True, return_dict=False)
                prompt = list(prompt["input_ids"] if isinstance(prompt, Mapping) else prompt)
            else:
                prompt = tokenizer(text)["input_ids"]
            prompt = prompt[: limit // 2]
            with torch.no_grad():
                out = teacher.generate(torch.tensor([prompt]),
                                       attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                       do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                       max_new_tokens=limit - len(prompt), pad_token_id=_pad_id(tokenizer))
            ids.append([int(t) for t in out[0]])
            if (i + 1) % 8 == 0:
                say(f"sampled {i + 1}/{len(prompts.texts)} texts from the teacher")
    finally:
        torch.set_rng_state(generator_state)
    digest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()
    return ids, {"source": TEACHER_DATA, "prompts": str(prompts.source), "sha256": digest, "texts": len(ids),
                 "tokens": sum(map(len, ids)), "max_length": limit,
                 "sampling": "temperature 1, chat template" if getattr(tokenizer, "chat_template", None) else
                 "temperature 1"}


def _pad_id(tokenizer) -> int:
    for pid in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if pid is not None:
            return int(pid)
    return 0


def _batch(ids: list[list[int]], step: int, batch_size: int, seed: int, pad: int, token_types: bool) -> dict:
    """The batch of ``step``: epoch ``step // steps_per_epoch`` visits the texts in the order
    ``default_rng([seed, epoch]).permutation``; right-padded to the batch's longest text."""
    import numpy as np
    import torch

    per_epoch = -(-len(ids) // batch_size)
    epoch, index = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(len(ids))
    rows = [ids[i] for i in order[index * batch_size:(index + 1) * batch_size]]
    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        input_ids[r, :len(row)] = torch.tensor(row)
        mask[r, :len(row)] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask}
    if token_types:
        batch["token_type_ids"] = torch.zeros_like(input_ids)
    return batch


# ---------------------------------------------------------------------------------------------------- writing
def _save_checkpoint(out: Path, payload: dict, doc: dict, *, fresh: bool) -> None:
    """The checkpoint and compress.json: the first of a fresh run as a new folder swapped in whole, later ones
    each file atomically (the checkpoint first: compress.json never names a step the checkpoint lacks).

    Not ``atomic_output_dir``: it re-raises a pending Ctrl-C before the swap, and the checkpoint written on
    Ctrl-C must land. OUTPUT_DIR was checked (absent, empty, or ours with overwrite) before training."""
    import shutil
    import tempfile

    import torch

    from edgellm.bundle.outdir import _replace
    from edgellm.files import umask, write_atomically

    buf = io.BytesIO()
    torch.save(payload, buf)
    text = json.dumps(doc, indent=2) + "\n"
    if fresh:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        try:
            tmp.chmod(0o777 & ~umask())
            (tmp / CHECKPOINT_FILE).write_bytes(buf.getvalue())
            (tmp / COMPRESS_FILE).write_text(text, encoding="utf-8")
            _replace(tmp, out)  # signals held during the swap
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return
    write_atomically(out / CHECKPOINT_FILE, buf.getvalue())
    write_atomically(out / COMPRESS_FILE, text)


def _write_final(out: Path, source: Path, student, doc: dict, config: DistillConfig) -> None:
    """The finished HF folder, built beside ``out`` and swapped in whole; the checkpoint is linked into it."""
    from edgellm.bundle.outdir import atomic_output_dir
    from edgellm.compress.prune import _copy_extras

    with atomic_output_dir(out, overwrite=True, source=source) as tmp:
        _copy_extras(source, tmp)
        (tmp / CHECKPOINT_FILE).unlink(missing_ok=True)  # a teacher that is itself a distill output
        student.save_pretrained(tmp)
        _fit_pooling(tmp, student.config.hidden_size)
        (tmp / COMPRESS_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        try:
            os.link(out / CHECKPOINT_FILE, tmp / CHECKPOINT_FILE)
        except OSError:
            import shutil

            shutil.copy2(out / CHECKPOINT_FILE, tmp / CHECKPOINT_FILE)


def _fit_pooling(folder: Path, width: int) -> None:
    """A sentence-transformers Pooling module of the teacher's width, set to the student's."""
    for path in folder.glob("*_Pooling/config.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("word_embedding_dimension") not in (None, width):
            data["word_embedding_dimension"] = width
            path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------- recovery
RECOVERY_LR = 5e-5
RECOVERY_BATCH = 8


def recover(teacher: str | os.PathLike, student, steps: int, *, texts, tokenizer, max_length: int = 128,
            seed: int = 0, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the in-memory ``student`` (a pruned model) for ``steps`` steps to imitate the HF folder ``teacher``
    it was pruned from, on ``texts``, with the distillation loss (no checkpoint); its record for compress.json."""
    import torch

    from edgellm.compress import train as training
    from edgellm.compress.families import family_of
    from edgellm.compress.loss import LossConfig, distill_loss
    from edgellm.compress.prune import _model_type

    source = Path(teacher)
    family = family_of(_model_type(source))
    teacher_model = _load(source, family.decoder)
    limit = max(2, min(max_length, (getattr(teacher_model.config, "max_position_embeddings", None) or max_length)
                       - (2 if family.model_type in ("roberta", "xlm-roberta") else 0)))
    ids = [x for x in (tokenizer(t, truncation=True, max_length=limit)["input_ids"] for t in texts) if len(x) >= 2]
    if not ids:
        raise ConfigError("the data gives no text of 2 tokens or more to recover on; give real sentences")
    loss_config = LossConfig(hidden=None if family.decoder else "cosine")
    pad = _pad_id(tokenizer)
    takes_types = "token_type_ids" in inspect.signature(student.forward).parameters

    def loss_fn(s_out, t_out, batch):
        return distill_loss(s_out, t_out, batch, loss_config, causal=family.decoder)

    torch.manual_seed(seed)
    start = time.perf_counter()
    state = training.train(teacher_model, student,
                           lambda step: _batch(ids, step, RECOVERY_BATCH, seed, pad, takes_types), loss_fn,
                           training.TrainConfig(lr=RECOVERY_LR, max_steps=steps, checkpoint_every=steps),
                           progress=progress)
    student.eval()
    return {"method": "distill", "steps": state.step, "batch_size": RECOVERY_BATCH, "lr": RECOVERY_LR,
            "loss": _loss_doc(loss_config, family, student, None), "loss_curve": state.loss_curve(),
            "train_s": round(time.perf_counter() - start, 3)}
