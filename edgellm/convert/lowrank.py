"""How a low-rank factorised HF folder (``edgellm prune --method lowrank``) loads back in transformers.

transformers builds a model from config.json's ``model_type``, and the checkpoint's parameter names must match its
modules. A factorised folder keeps its ``model_type`` (so archs/ and the exporters treat it as the model it is) and
records the factorisation with transformers' own hook for "replace modules before the weights are read": a
``quantization_config`` with ``quant_method`` ``edgellm-lowrank`` and the rank of each factorised module.
``register()`` (idempotent; ``register_for`` calls it for such a config; nothing registers at import time) adds
the matching quantizer class to transformers, which swaps those modules for ``LowRankLinear`` before it reads
``<module>.down.weight`` / ``<module>.up.weight``. The exporters call ``register_for`` on the config they read, so
``edgellm export`` takes the folder as it is; Python users call ``register()`` before ``from_pretrained``. Design
choice and alternatives: docs/compression.md.

The same record carries ``shapes``, {module: [in_features, out_features]}, for the plain ``nn.Linear`` modules whose
size the config cannot say: an encoder with attention heads pruned (``edgellm prune --method heads``) keeps
``num_attention_heads`` (a BERT config ties the head size to ``hidden_size / num_attention_heads``) while its
query/key/value have fewer output rows and ``attention.output.dense`` fewer input columns. The loader sizes those
modules first, then swaps the factorised ones. E.g. MiniLM with 6 of 12 heads kept:
``"shapes": {"encoder.layer.0.attention.self.query": [384, 192], ...}``.
"""

from __future__ import annotations

from typing import Any, Mapping

QUANT_METHOD = "edgellm-lowrank"

_REGISTERED = False


def _module_class():
    import torch

    class LowRankLinear(torch.nn.Module):
        """y = up(down(x)): W [out, in] ~ up.weight [out, r] @ down.weight [r, in]; the bias on ``up``.

        Exports as two FULLY_CONNECTED ops (one per nn.Linear)."""

        def __init__(self, in_features: int, out_features: int, rank: int, bias: bool, dtype=None):
            super().__init__()
            self.in_features, self.out_features, self.rank = in_features, out_features, rank
            self.down = torch.nn.Linear(in_features, rank, bias=False, dtype=dtype)
            self.up = torch.nn.Linear(rank, out_features, bias=bias, dtype=dtype)

        def forward(self, x):
            return self.up(self.down(x))

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"

    return LowRankLinear


_CLASS: Any = None


def low_rank_linear_class():
    """``LowRankLinear`` (made on first use so that importing this module does not import torch)."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _module_class()
    return _CLASS


def get_module(model, name: str):
    return model.get_submodule(name)


def set_module(model, name: str, module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def ranks_of(model) -> dict[str, int]:
    """{qualified module name: rank} of every LowRankLinear in ``model``."""
    cls = low_rank_linear_class()
    return {name: m.rank for name, m in model.named_modules() if isinstance(m, cls)}


def _record(config: Mapping[str, Any] | Any) -> dict[str, Any] | None:
    """The ``edgellm-lowrank`` quantization_config of a config (dict from config.json or a transformers config)."""
    q = config.get("quantization_config") if isinstance(config, Mapping) else \
        getattr(config, "quantization_config", None)
    if q is not None and not isinstance(q, Mapping):
        q = getattr(q, "to_dict", lambda: {})()
    return dict(q) if isinstance(q, Mapping) and q.get("quant_method") == QUANT_METHOD else None


def mark(model, energy: float) -> dict[str, Any]:
    """Record the factorised modules in ``model.config.quantization_config`` (what ``register``'s loader reads);
    resized modules already recorded (``mark_shapes``) are kept."""
    shapes = (_record(model.config) or {}).get("shapes") or {}
    config = {"quant_method": QUANT_METHOD, "energy": float(energy), "ranks": ranks_of(model)}
    if shapes:
        config["shapes"] = dict(shapes)
    model.config.quantization_config = config
    return config


def mark_shapes(model, names) -> dict[str, Any]:
    """Record the current [in_features, out_features] of the nn.Linear modules ``names`` (sized differently from
    what the config builds) in ``model.config.quantization_config``, alongside any ranks already there."""
    config = _record(model.config) or {"quant_method": QUANT_METHOD, "energy": None, "ranks": {}}
    shapes = dict(config.get("shapes") or {})
    for name in names:
        module = get_module(model, name)
        shapes[name] = [int(module.in_features), int(module.out_features)]
    config["shapes"] = shapes
    model.config.quantization_config = config
    return config


def is_factorised(config: Mapping[str, Any] | Any) -> bool:
    """True for a config (dict from config.json, or a transformers config) with modules factorised by ``mark``."""
    return bool(((_record(config) or {}).get("ranks")))


def needs_loader(config: Mapping[str, Any] | Any) -> bool:
    """True for a config whose folder loads only through ``register``'s loader (factorised or resized modules)."""
    return _record(config) is not None


def register() -> None:
    """Teach transformers the ``edgellm-lowrank`` quantization_config (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers.quantizers import auto
    from transformers.quantizers.base import HfQuantizer
    from transformers.utils.quantization_config import QuantizationConfigMixin

    if QUANT_METHOD in auto.AUTO_QUANTIZER_MAPPING:
        _REGISTERED = True
        return

    class LowRankConfig(QuantizationConfigMixin):
        def __init__(self, ranks: Mapping[str, int] | None = None, energy: float | None = None,
                     shapes: Mapping[str, Any] | None = None, **_kwargs):
            self.quant_method = QUANT_METHOD
            self.ranks = dict(ranks or {})
            self.energy = energy
            self.shapes = {name: [int(n) for n in shape] for name, shape in (shapes or {}).items()}

        def to_dict(self) -> dict[str, Any]:
            d = {"quant_method": QUANT_METHOD, "energy": self.energy, "ranks": dict(self.ranks)}
            if self.shapes:
                d["shapes"] = {name: list(shape) for name, shape in self.shapes.items()}
            return d

    class LowRankQuantizer(HfQuantizer):
        """Swaps the recorded nn.Linear modules for LowRankLinear before the factor weights are read."""

        requires_calibration = False

        def validate_environment(self, *args, **kwargs):
            return None

        def param_needs_quantization(self, model, param_name: str, **kwargs) -> bool:
            return False

        def _process_model_before_weight_loading(self, model, **kwargs):
            import torch

            for name, (n_in, n_out) in self.quantization_config.shapes.items():
                old = get_module(model, name)
                set_module(model, name, torch.nn.Linear(n_in, n_out, bias=old.bias is not None,
                                                        dtype=old.weight.dtype))
            cls = low_rank_linear_class()
            for name, rank in self.quantization_config.ranks.items():
                old = get_module(model, name)
                set_module(model, name, cls(old.in_features, old.out_features, int(rank), old.bias is not None,
                                            dtype=old.weight.dtype))
            return model

        def _process_model_after_weight_loading(self, model, **kwargs):
            return model

        def is_serializable(self, *args, **kwargs):
            return True

        @property
        def is_trainable(self):
            return True

    auto.register_quantization_config(QUANT_METHOD)(LowRankConfig)
    auto.register_quantizer(QUANT_METHOD)(LowRankQuantizer)
    _REGISTERED = True


def register_for(config: Mapping[str, Any] | Any) -> None:
    """``register()`` when ``config`` (config.json's dict or a transformers config) is a factorised or resized
    model's."""
    if needs_loader(config):
        register()
