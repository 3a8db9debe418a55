"""The training loop every compression stage shares: a student trained against a frozen teacher.

    state = train(teacher, student, batch_at, loss_fn, TrainConfig(lr=1e-4, max_steps=500),
                  weight_transform=None, state=None, checkpoint=save, progress=print)

- ``batch_at(step) -> dict``: the batch of a step, a pure function of the step (its caller derives the data order
  from a seed and the epoch), so a resumed run sees the same batches as an uninterrupted one.
- ``loss_fn(student_out, teacher_out, batch) -> (loss tensor, {name: float or None})``: e.g. ``loss.distill_loss``.
- ``weight_transform(name, weight) -> tensor``: applied to every student parameter before each forward (the
  forward then runs through ``torch.func.functional_call``); e.g. fake quantization with a straight-through
  estimator, ``w + (q(w) - w).detach()``. The optimizer still updates the float weights.
- ``extra_params``: trained along with the student and not part of it (a projection of the hidden-state term).
- ``state``: a ``TrainState`` from a checkpoint (optimizer moments, step, RNG state, loss curve, seconds) to resume
  bit-for-bit; the caller has loaded the student's (and extra params') weights of that checkpoint.
- ``after_step(state)``: called after every optimizer step (e.g. to measure quantization ranges again).
- ``checkpoint(state)``: called every ``checkpoint_every`` steps, at the end, and on Ctrl-C/SIGTERM before the
  exception goes on. SIGINT/SIGTERM are held during the optimizer update, so a checkpoint never holds half a step.

The student is run in eval mode (no dropout): distillation targets are the teacher's outputs, and a deterministic
forward makes resume exact without depending on dropout's RNG (whose state is saved all the same).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from edgellm.errors import ConfigError, config_fields

LR_SCHEDULES = ("constant", "linear")
CURVE_EVERY = 10  # steps per loss-curve point (the mean loss of those steps)
PROGRESS_SECONDS = 5.0  # at most one progress line per this many seconds


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    lr: float = 1e-4  # AdamW learning rate after warm-up
    max_steps: int | None = None  # stop after this many optimizer steps (counted over resumes)
    max_seconds: float | None = None  # stop once this much training time has passed (counted over resumes)
    warmup_steps: int = 0  # linear warm-up from 0 to lr; then constant, so a longer run continues a shorter one
    lr_schedule: str = "constant"  # after warm-up: "constant", or "linear" down to 0 at the end (steps or time)
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    grad_clip: float | None = 1.0  # max global gradient norm; None: no clipping
    checkpoint_every: int = 100  # steps between checkpoints

    def __post_init__(self):
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ConfigError(f"lr must be a number above 0, e.g. 1e-4; got {self.lr!r}")
        if self.max_steps is None and self.max_seconds is None:
            raise ConfigError("give max_steps or max_seconds: a training run needs an end")
        for name in ("max_steps", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        if self.max_seconds is not None and (isinstance(self.max_seconds, bool) or
                                             not isinstance(self.max_seconds, (int, float)) or
                                             not self.max_seconds > 0):
            raise ConfigError(f"max_seconds must be a number above 0; got {self.max_seconds!r}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be an integer >= 0; got {self.warmup_steps!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule {self.lr_schedule!r} is not known; choose {' or '.join(LR_SCHEDULES)}")
        if self.grad_clip is not None and not (isinstance(self.grad_clip, (int, float)) and self.grad_clip > 0):
            raise ConfigError(f"grad_clip must be a number above 0 or None; got {self.grad_clip!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        return cls(**config_fields(cls, dict(data) if isinstance(data, Mapping) else data))


def learning_rate(config: TrainConfig, step: int, seconds: float) -> float:
    """The rate of optimizer step ``step`` (0-based) after ``seconds`` of training: linear warm-up, then constant,
    or with ``lr_schedule="linear"`` falling in proportion to the share of the run done (of max_steps or of
    max_seconds, whichever is further along), to 0 at the end."""
    rate = config.lr * (min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0)
    if config.lr_schedule == "linear":
        done = max(step / config.max_steps if config.max_steps else 0.0,
                   seconds / config.max_seconds if config.max_seconds else 0.0)
        rate *= max(0.0, 1.0 - done)
    return rate


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    seconds: float = 0.0  # training time so far (over resumes)
    tokens: int = 0  # tokens the student was trained on
    curve: list = field(default_factory=list)  # [step, mean loss of the CURVE_EVERY steps up to it]
    pending: list = field(default_factory=list)  # losses since the last curve point
    optimizer: dict | None = None  # torch optimizer state_dict
    rng: Any = None  # torch CPU RNG state at the start of step ``step``

    def loss_curve(self) -> list:
        """The curve with the mean of the steps since its last point (a partial point) appended."""
        tail = [[self.step, round(sum(self.pending) / len(self.pending), 6)]] if self.pending else []
        return self.curve + tail

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # no deep copy of the moments

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainState":
        return cls(**dict(data))


def train(teacher, student, batch_at: Callable[[int], dict], loss_fn: Callable, config: TrainConfig, *,
          weight_transform: Callable | None = None, extra_params=(), state: TrainState | None = None,
          checkpoint: Callable[[TrainState], None] | None = None,
          after_step: Callable[[TrainState], None] | None = None,
          progress: Callable[[str], None] | None = None) -> TrainState:
    """Train ``student`` (in place) to imitate ``teacher`` until ``config``'s step or time budget is spent."""
    import torch

    from edgellm.bundle.outdir import _signals_held
    from edgellm.signals import Terminated, check

    state = state or TrainState()
    params = [p for p in student.parameters() if p.requires_grad] + list(extra_params)
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if state.optimizer is not None:
        opt.load_state_dict(state.optimizer)
    if state.rng is not None:
        torch.set_rng_state(state.rng)
    teacher.eval()
    student.eval()  # no dropout (see the module docstring); gradients flow all the same
    named = dict(student.named_parameters())
    say = progress or (lambda _line: None)
    start_seconds, start_step = state.seconds, state.step
    started = time.perf_counter()
    last_line = started

    def done() -> bool:
        return ((config.max_steps is not None and state.step >= config.max_steps) or
                (config.max_seconds is not None and state.seconds >= config.max_seconds))

    def snapshot() -> None:
        state.optimizer = opt.state_dict()
        if checkpoint is not None:
            checkpoint(state)

    try:
        while not done():
            check()
            state.rng = torch.get_rng_state()
            batch = batch_at(state.step)
            for group in opt.param_groups:
                group["lr"] = learning_rate(config, state.step, state.seconds)
            with torch.no_grad():
                teacher_out = teacher(**_inputs(batch), output_hidden_states=True)
            if weight_transform is None:
                student_out = student(**_inputs(batch), output_hidden_states=True)
            else:
                weights = {n: weight_transform(n, p) for n, p in named.items()}
                student_out = torch.func.functional_call(student, weights, args=(),
                                                         kwargs={**_inputs(batch), "output_hidden_states": True})
            loss, parts = loss_fn(student_out, teacher_out, batch)
            if not torch.isfinite(loss):
                raise ConfigError(f"the loss became {float(loss)} at step {state.step + 1}; lower the learning "
                                  f"rate (lr {config.lr:g}) and start again")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            with _signals_held():  # a step is applied whole or not at all
                opt.step()
                state.step += 1
                state.tokens += int(batch["attention_mask"].sum()) if "attention_mask" in batch else \
                    batch["input_ids"].numel()
                state.seconds = start_seconds + time.perf_counter() - started
                state.pending.append(float(loss.detach()))
                if len(state.pending) >= CURVE_EVERY:
                    state.curve.append([state.step, round(sum(state.pending) / len(state.pending), 6)])
                    state.pending = []
                state.rng = torch.get_rng_state()
            now = time.perf_counter()
            if now - last_line >= PROGRESS_SECONDS or done():
                last_line = now
                say(_line(state, config, parts, float(loss.detach()), start_step, now - started))
            if after_step is not None:
                after_step(state)
            if state.step % config.checkpoint_every == 0 and not done():
                snapshot()
    except (KeyboardInterrupt, Terminated):
        if state.step > start_step:
            with _signals_held():
                snapshot()
            say(f"checkpoint saved at step {state.step}; run again with --resume to continue")
        raise
    snapshot()
    return state


def _inputs(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The model's keyword inputs of a batch (``labels`` stays with the loss)."""
    return {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}


def _line(state: TrainState, config: TrainConfig, parts: dict, loss: float, start_step: int,
          elapsed: float) -> str:
    rate = (state.step - start_step) / max(elapsed, 1e-9)  # steps/s in this run
    tokens_s = state.tokens / max(state.seconds, 1e-9)
    left = []
    if config.max_steps is not None:
        left.append((config.max_steps - state.step) / max(rate, 1e-9))
    if config.max_seconds is not None:
        left.append(config.max_seconds - state.seconds)
    terms = " ".join(f"{k} {v:.4f}" for k, v in parts.items() if v is not None)
    total = f"/{config.max_steps}" if config.max_steps is not None else ""
    return (f"step {state.step}{total} loss {loss:.4f} ({terms}) {tokens_s:,.0f} tokens/s "
            f"{_clock(max(0.0, min(left)))} left")


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
