"""Next-token choice from logits: greedy, or temperature + top-k + top-p sampling with a seed.

Order (as in transformers' generate): logits / temperature -> keep the top_k largest -> keep the smallest set
whose probability reaches top_p -> renormalize -> draw. Example: probabilities (0.5, 0.3, 0.15, 0.05) with
top_p=0.75 keep the first two (0.5 + 0.3 >= 0.75) and draw from (0.625, 0.375).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgellm.errors import ConfigError, config_fields


@dataclass(frozen=True, kw_only=True)
class SamplingConfig:
    temperature: float = 0.0  # 0 = greedy (argmax); else logits are divided by it, in (0, 100]
    top_k: int = 0  # keep the k most likely tokens; 0 = all
    top_p: float = 1.0  # nucleus: keep the smallest set reaching this probability, in (0, 1]
    seed: int | None = None  # same seed + same export + same prompt = same text

    def __post_init__(self):
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t <= 100:
            raise ConfigError(f"temperature must be a number in [0, 100] (0 = greedy); got {t!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ConfigError(f"top_k must be an integer >= 0 (0 = no top-k); got {self.top_k!r}")
        p = self.top_p
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise ConfigError(f"top_p must be a number in (0, 1] (1 = no nucleus filtering); got {p!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise ConfigError(f"seed must be an integer >= 0; got {self.seed!r}")

    @classmethod
    def from_flags(cls, *, greedy: bool = False, temperature: float | None = None, top_k: int | None = None,
                   top_p: float | None = None, seed: int | None = None) -> "SamplingConfig":
        """The config `edgellm generate`'s flags ask for; None = flag not given. Greedy (the default) excludes the
        sampling flags; top_k, top_p and seed sample, so they need a temperature > 0.

        >>> SamplingConfig.from_flags(temperature=0.7, top_p=0.9, seed=1)
        SamplingConfig(temperature=0.7, top_k=0, top_p=0.9, seed=1)
        """
        given = {k: v for k, v in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p),
                                   ("seed", seed)) if v is not None}
        if greedy and given:
            raise ConfigError(f"--greedy excludes --{', --'.join(k.replace('_', '-') for k in given)}; pass one or "
                              "the other")
        if given and "temperature" not in given:
            raise ConfigError("--top-k, --top-p and --seed sample, which needs --temperature > 0 (e.g. 0.7)")
        if given and given["temperature"] == 0:
            raise ConfigError("--temperature 0 is greedy decoding; pass --greedy, or a temperature > 0 to sample")
        return cls(**given)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SamplingConfig":
        return cls(**config_fields(cls, data))


class Sampler:
    """Callable: logits [V] -> token id, with its own random generator (seeded by the config)."""

    def __init__(self, config: SamplingConfig):
        self.config = config
        self.rng = np.random.default_rng(config.seed)

    def __call__(self, logits: np.ndarray) -> int:
        c = self.config
        if c.greedy:
            return int(np.argmax(logits))
        x = logits.astype(np.float64) / c.temperature
        ids = np.arange(x.size)
        if 0 < c.top_k < x.size:
            ids = np.argpartition(-x, c.top_k - 1)[:c.top_k]
            x = x[ids]
        order = np.argsort(-x, kind="stable")
        ids, x = ids[order], x[order]
        p = np.exp(x - x[0])
        p /= p.sum()
        if c.top_p < 1:
            keep = int(np.searchsorted(np.cumsum(p), c.top_p) + 1)  # smallest prefix reaching top_p
            ids, p = ids[:keep], p[:keep] / p[:keep].sum()
        return int(ids[self.rng.choice(p.size, p=p)])


def distribution(logits: np.ndarray, config: SamplingConfig) -> np.ndarray:
    """The probabilities [V] (float64) that ``Sampler`` draws from for these logits: temperature, top-k, top-p,
    renormalized; zero outside the kept set. Greedy: one-hot at the argmax. Speculative sampling compares the
    target's and the draft's (edgellm.generate.speculative)."""
    p = np.zeros(logits.shape[-1], np.float64)
    if config.greedy:
        p[int(np.argmax(logits))] = 1.0
        return p
    x = logits.astype(np.float64) / config.temperature
    ids = np.arange(x.size)
    if 0 < config.top_k < x.size:
        ids = np.argpartition(-x, config.top_k - 1)[:config.top_k]
        x = x[ids]
    order = np.argsort(-x, kind="stable")
    ids, x = ids[order], x[order]
    q = np.exp(x - x[0])
    q /= q.sum()
    if config.top_p < 1:
        keep = int(np.searchsorted(np.cumsum(q), config.top_p) + 1)
        ids, q = ids[:keep], q[:keep] / q[:keep].sum()
    p[ids] = q
    return p
