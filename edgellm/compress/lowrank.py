"""Low-rank factorisation of linear layers: ``prune --method lowrank``.

Each block linear W [out, in] becomes ``LowRankLinear`` (edgellm/convert/lowrank.py): two thinner linears from W's
SVD, ``up(down(x))`` with down = sqrt(S_r) V_r^T [r, in] and up = U_r sqrt(S_r) [out, r], at the smallest rank r
whose singular values keep the share ``energy`` of sum(S^2). Worked example: S = (3, 2, 1), energies 9, 4, 1 of 14;
energy 0.9 keeps r = 2 (13/14 = 0.93 >= 0.9), energy 0.95 keeps r = 3.

A factorisation is kept only where it is smaller: r (in + out) < in * out. Past r = in * out / (in + out) (a
384 x 1536 MiniLM FFN linear: 307 of 384) two thin matrices hold more than the one they replace, so the layer stays
one nn.Linear (and one FULLY_CONNECTED op).
"""

from __future__ import annotations

from typing import Any, Iterable

ENERGY_NOTE = "rank keeping the share `amount` of each linear's energy (sum of squared singular values)"


def rank_for_energy(singular_values, energy: float) -> int:
    """The smallest r with sum(S[:r]^2) >= energy * sum(S^2), at least 1 (singular values in falling order)."""
    import torch

    s2 = singular_values.double() ** 2
    total = float(s2.sum())
    if total == 0.0:
        return 1
    share = torch.cumsum(s2, 0) / total
    return min(len(share), int((share < energy - 1e-12).sum()) + 1)


def block_linears(model, family) -> list[str]:
    """Qualified names of every nn.Linear inside the transformer blocks (attention and FFN)."""
    import torch

    layers = family.layers(model)
    prefix = next(name for name, module in model.named_modules() if module is layers)
    return [f"{prefix}.{name}" for name, module in layers.named_modules() if isinstance(module, torch.nn.Linear)]


def factorise(model, names: Iterable[str], energy: float) -> dict[str, dict[str, Any]]:
    """Replace each named nn.Linear of ``model`` by its SVD factors at the rank keeping ``energy``; in place.

    Returns {name: {"rank", "full_rank", "energy_kept", "params_before", "params_after", "factorised"}}."""
    import torch

    from edgellm.convert.lowrank import get_module, low_rank_linear_class, set_module

    cls = low_rank_linear_class()
    record = {}
    with torch.no_grad():
        for name in names:
            linear = get_module(model, name)
            w = linear.weight.data.double()  # [out, in]
            out_f, in_f = w.shape
            u, s, vh = torch.linalg.svd(w, full_matrices=False)  # u [out, k], s [k], vh [k, in]
            r = rank_for_energy(s, energy)
            bias = out_f if linear.bias is not None else 0
            before = out_f * in_f + bias
            after = r * (in_f + out_f) + bias
            kept = float((s[:r] ** 2).sum() / max(float((s ** 2).sum()), 1e-300))
            entry = {"rank": r, "full_rank": len(s), "energy_kept": round(kept, 6), "params_before": before}
            if after >= before:
                record[name] = {**entry, "params_after": before, "factorised": False}
                continue
            root = s[:r].sqrt()
            module = cls(in_f, out_f, r, bias > 0, dtype=linear.weight.dtype)
            module.down.weight.copy_((root[:, None] * vh[:r]).to(linear.weight.dtype))  # [r, in]
            module.up.weight.copy_((u[:, :r] * root[None, :]).to(linear.weight.dtype))  # [out, r]
            if bias:
                module.up.bias.copy_(linear.bias.data)
            set_module(model, name, module)
            record[name] = {**entry, "params_after": after, "factorised": True}
    return record
