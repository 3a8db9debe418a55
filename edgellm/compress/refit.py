"""Least-squares refit of the linear that reads pruned units, so the layer's output changes as little as it can.

Structured pruning removes input columns of one linear per block (the FFN's down projection, the attention output
projection). Dropping the columns alone loses what the removed units added; the kept columns and the bias can take
over the part of it that is linear in the kept units. With X the linear's inputs over the calibration tokens (and a
column of ones where the linear has a bias), K the kept columns and W the original weight, the refit solves

    W_K' = argmin || X W^T - X_K W_K'^T ||^2 + lambda || W_K' ||^2      (lambda: 1% of X_K's mean squared norm)

from the Gram matrix X^T X alone, gathered in one pass over the data (``input_grams``; prune.py gathers a few
layers per pass where all of them would not fit in ``GRAM_BYTES``), one linear at a time (``fitted``, applied by
``set_columns``; ``refit_columns`` does both): the same closed form as SparseGPT/OBS-style weight reconstruction,
but for whole units.

Which units go is chosen on the same Gram matrix (``obs_drop``): optimal brain surgeon for blocks of columns. With
H = X^T X (damped) and the current weight W, removing unit S costs tr(W_S [H^-1]_SS^-1 W_S^T) of squared output
error once the other columns are refit; the cheapest unit goes, W and H^-1 are updated as if it were refit, and the
next is chosen, until the amount is reached. A unit whose removal the others can make up for goes before one that
is merely small.

In post-LN encoders each token's row is weighted by 1 / the variance of the LayerNorm input the linear's output
feeds (``input_grams(..., norms=...)``), the error the normalised output sees. Removed decoder layers have no
columns to refit: ``absorb_removed`` instead refits the down projection of the kept block before each run of them to
also add what the run added to the residual stream. Why and what it measured: docs/compression.md.
"""

from __future__ import annotations

from typing import Any, Sequence

REFIT = ("least squares: the linear reading the pruned units refit on its kept inputs (and bias) to its original "
         "outputs over the calibration tokens, ridge 1% of the mean diagonal; in post-LN encoders each token "
         "weighted by 1 / variance of the LayerNorm input it feeds")
OBS_SCORE = ("optimal brain surgeon saliency of the unit's input columns of the linear reading it (down projection / "
             "attention output): the squared output error its removal adds after the least-squares refit, units "
             "removed one at a time, greedily")
SPREAD = ("; spread over the layers: each layer's units ranked in that greedy order with the error each removal "
          "adds, and the total split between layers at the least summed error (at least one unit kept per layer)")
DAMP = 0.01
ABSORB = ("least squares: the down projection of the kept block before each run of removed blocks refit to add "
          "what the run added to the residual stream (its output minus its input) over the calibration tokens, "
          "ridge 100% of the mean diagonal")
ABSORB_DAMP = 1.0  # held perplexity of SmolLM2 minus 6 of 30 blocks: 78.9 at 0.01, 76.7 at 0.1, 76.6 at 1.0


GRAM_BYTES = 1 << 30  # Gram matrices gathered in one pass over the data, at most (a 1B model's FFN: 0.5 GB a layer)


def input_grams(model: Any, linears: Sequence[Any], tokenizer: Any, texts: Sequence[str], max_length: int,
                norms: Sequence[Any] | None = None) -> list:
    """Per linear: the float64 Gram matrix of its inputs over every calibration token, with a trailing column of
    ones (its last row holds the input sums, its corner the token count).

    ``norms[i]``, where not None, is the LayerNorm that normalises linear i's output plus the residual (post-LN
    encoders): each token's row is then weighted by 1 / var_t of that LayerNorm's input, so the Gram measures the
    squared error the block's normalised output sees (an output error e at token t leaves the LayerNorm as about
    gamma * e / sigma_t), not the raw one."""
    import torch

    from edgellm.compress.importance import _run, _with_hooks, tokens

    grams: list = [None] * len(linears)
    norms = list(norms) if norms is not None else [None] * len(linears)
    pending: dict = {}

    def add(i, x, weight=None):
        g = x.T @ x if weight is None else (x * weight[:, None]).T @ x
        grams[i] = g if grams[i] is None else grams[i] + g

    def pre(i):
        def hook(_module, args):
            x = tokens(args[0].detach()).double()
            x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)
            if norms[i] is None:
                add(i, x)
            else:
                pending[i] = x  # weighted once the LayerNorm sees this token's residual sum
        return hook

    def norm_pre(i):
        def hook(module, args):
            h = tokens(args[0].detach()).double()
            add(i, pending.pop(i), 1.0 / (h.var(-1, unbiased=False) + module.eps))
        return hook

    def register():
        handles = [lin.register_forward_pre_hook(pre(i)) for i, lin in enumerate(linears)]
        return handles + [norm.register_forward_pre_hook(norm_pre(i)) for i, norm in enumerate(norms)
                          if norm is not None]

    _with_hooks(register, lambda: _run(model, tokenizer, texts, max_length))
    return grams


def absorb_removed(model: Any, layers: Sequence[Any], down: Sequence[Any], drop: Sequence[int], tokenizer: Any,
                   texts: Sequence[str], max_length: int) -> dict[str, list[int]]:
    """Before blocks ``drop`` of a pre-LN decoder are removed: for each run a..b of them with a kept block p = a - 1
    before it, refit ``down[p]`` (the block's down projection, whose output is added to the residual stream) to
    also add what the run added, h_out(b) - h_in(a), as far as a linear map of its own inputs can. Returns
    {"p": [a, ..., b]} for the runs absorbed (a run starting at block 0 has no block before it and is not)."""
    import torch

    from edgellm.compress.importance import _run, _with_hooks, block_input, tokens

    runs: list[list[int]] = []
    for i in sorted(drop):
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    runs = [run for run in runs if run[0] > 0]
    done: dict[str, list[int]] = {}
    size = (down[0].in_features ** 2 + down[0].in_features * down[0].out_features) * 8
    per_pass = max(1, GRAM_BYTES // size)
    for start in range(0, len(runs), per_pass):
        chunk = runs[start:start + per_pass]
        grams: list = [None] * len(chunk)
        cross: list = [None] * len(chunk)
        seen: dict = {}

        def hooks():
            handles = []
            for j, run in enumerate(chunk):
                handles.append(down[run[0] - 1].register_forward_pre_hook(
                    lambda _m, args, j=j: seen.__setitem__(("x", j), tokens(args[0].detach()).double())))
                handles.append(layers[run[0]].register_forward_pre_hook(
                    lambda _m, args, kwargs, j=j: seen.__setitem__(("in", j),
                                                                   tokens(block_input(args, kwargs)).double()),
                    with_kwargs=True))
                handles.append(layers[run[-1]].register_forward_hook(
                    lambda _m, _args, out, j=j: add(j, out[0] if isinstance(out, tuple) else out)))
            return handles

        def add(j, out):
            x = seen.pop(("x", j))
            delta = tokens(out.detach()).double() - seen.pop(("in", j))
            g, c = x.T @ x, x.T @ delta
            grams[j] = g if grams[j] is None else grams[j] + g
            cross[j] = c if cross[j] is None else cross[j] + c

        _with_hooks(hooks, lambda: _run(model, tokenizer, texts, max_length))
        for j, run in enumerate(chunk):
            linear, g = down[run[0] - 1], grams[j]
            idx = torch.arange(g.shape[0])
            g[idx, idx] += ABSORB_DAMP * float(torch.diagonal(g).mean())
            extra = torch.linalg.solve(g, cross[j])  # [in, out]: what x @ extra adds to the stream
            linear.weight = torch.nn.Parameter((linear.weight.data.double() + extra.T).to(linear.weight.dtype))
            done[str(run[0] - 1)] = run
    return done


def refit_columns(linear: Any, keep: Any, gram: Any) -> None:
    """Keep the input columns ``keep`` of ``linear`` with the weight (and bias) that best reproduce its original
    outputs on the inputs ``gram`` was gathered from."""
    set_columns(linear, keep, *fitted(linear, keep, gram))


def fitted(linear: Any, keep: Any, gram: Any) -> tuple[Any, Any]:
    """(weight [out, len(keep)], bias or None) of the least-squares refit of ``linear`` on its columns ``keep``."""
    import torch

    n = linear.in_features
    w = linear.weight.data.double()  # [out, n]
    rows = torch.cat([keep.long(), torch.tensor([n])]) if linear.bias is not None else keep.long()
    g_kk = gram[rows][:, rows].clone()
    damp = DAMP * float(torch.diagonal(g_kk)[: len(keep)].mean())
    idx = torch.arange(len(keep))
    g_kk[idx, idx] += damp
    w_full = torch.cat([w, linear.bias.data.double()[:, None]], 1) if linear.bias is not None else w
    full = torch.arange(n + 1) if linear.bias is not None else torch.arange(n)
    target = gram[rows][:, full] @ w_full.T  # X_K~^T X~ W~^T: [kept (+1), out]
    solution = torch.linalg.solve(g_kk, target)  # [kept (+1), out]
    dtype = linear.weight.dtype
    bias = solution[len(keep)].contiguous().to(dtype) if linear.bias is not None else None
    return solution[: len(keep)].T.contiguous().to(dtype), bias


def set_columns(linear: Any, keep: Any, weight: Any, bias: Any) -> None:
    import torch

    linear.weight = torch.nn.Parameter(weight)
    if bias is not None:
        linear.bias = torch.nn.Parameter(bias)
    linear.in_features = len(keep)


def _hessian(linear: Any, gram: Any) -> tuple[Any, int]:
    """(damped X^T X over the columns a refit may use, number of weight columns): the ones column only where the
    linear has a bias to absorb it."""
    import torch

    n = linear.in_features
    h = (gram if linear.bias is not None else gram[:n, :n]).clone()
    idx = torch.arange(n)
    h[idx, idx] += DAMP * float(torch.diagonal(h)[:n].mean())
    return h, n


def obs_drop(linear: Any, gram: Any, unit: int, count: int) -> list[int]:
    """The ``count`` units (blocks of ``unit`` adjacent input columns of ``linear``) whose removal, each followed by
    a least-squares refit of the rest, adds the least squared output error; chosen greedily, sorted."""
    return sorted(obs_order(linear, gram, unit, count)[0])


def obs_order(linear: Any, gram: Any, unit: int, count: int) -> tuple[list[int], list[float]]:
    """(the first ``count`` units in the order greedy OBS removes them, the squared output error each removal adds
    once the rest are refit): ``obs_drop``'s choice, with its cost curve for ``spread``."""
    import torch

    h, n = _hessian(linear, gram)
    hinv = torch.linalg.inv(h)
    w = linear.weight.data.double()
    w = torch.cat([w, torch.zeros(w.shape[0], h.shape[0] - n, dtype=w.dtype)], 1)  # the bias column, if any
    units = n // unit
    alive = torch.ones(units, dtype=torch.bool)
    cols = torch.arange(n).reshape(units, unit)
    order, costs = [], []
    for _ in range(count):
        blocks = hinv[cols[:, :, None], cols[:, None, :]]  # [units, unit, unit]: the diagonal blocks of H^-1
        blocks[~alive] = torch.eye(unit, dtype=blocks.dtype)  # removed units' blocks are zero now
        inv = torch.linalg.inv(blocks)
        w_units = w[:, cols]  # [out, units, unit]
        saliency = torch.einsum("oui,uij,ouj->u", w_units, inv, w_units)
        saliency[~alive] = float("inf")
        u = int(torch.argmin(saliency))
        s = cols[u]
        update = inv[u] @ hinv[s, :]  # [unit, n(+1)]
        w = w - w[:, s] @ update
        hinv = hinv - hinv[:, s] @ update
        alive[u] = False
        order.append(u)
        costs.append(float(saliency[u]))
    return order, costs


def spread(costs: Sequence[Sequence[float]], total: int) -> list[int]:
    """How many units each layer gives up so that ``total`` go at the least summed cost, ``costs[i][k]`` being the
    error layer i's (k+1)-th removal adds (``obs_order``; a layer gives up at most len(costs[i])). Exact: dynamic
    programming over the layers. E.g. costs [[1, 5], [2, 3]], total 2 -> [1, 1] (1 + 2 beats 1 + 5 and 2 + 3)."""
    best: dict[int, tuple[float, list[int]]] = {0: (0.0, [])}
    for curve in costs:
        cumulative = [0.0]
        for c in curve:
            cumulative.append(cumulative[-1] + c)
        step: dict[int, tuple[float, list[int]]] = {}
        for used, (cost, counts) in best.items():
            for k in range(min(len(curve), total - used) + 1):
                candidate = (cost + cumulative[k], counts + [k])
                if used + k not in step or candidate[0] < step[used + k][0]:
                    step[used + k] = candidate
        best = step
    if total not in best:
        raise ValueError(f"{total} units cannot go from layers that give up at most {[len(c) for c in costs]}")
    return best[total][1]
