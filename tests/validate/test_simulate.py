"""validate/simulate.py: the export's int8 activation rounding in PyTorch, on every path a device may take."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generate"))
from tiny_llm import CACHE, make_llm  # noqa: E402

torch = pytest.importorskip("torch")

from edgellm.validate.decoder import NEAR_TIE_MARGIN, judge  # noqa: E402
from edgellm.validate.report import LLM, tolerance_for  # noqa: E402
from edgellm.validate.simulate import (jittered_qd8, on_4bit_grid, rounding_paths, simulate,  # noqa: E402
                                       simulated, simulation_metrics, tflite_builtin_qd8, xnnpack_qd8)


def test_rounding_rules_by_hand():
    # row [-1, 1/256, 5/256, 127/128]: range 255/128, so the multiplier is 128 and the zero point 0; the inputs
    # land on 0.5 and 2.5, which XNNPACK rounds half to even (0, 2) and TFLite's builtin kernels away from zero (1, 3)
    row = torch.tensor([[-1.0, 1 / 256, 5 / 256, 127 / 128]])
    q, scale = xnnpack_qd8(row)
    assert q.tolist() == [[-128.0, 0.0, 2.0, 127.0]] and scale.item() == 1 / 128
    q, scale = tflite_builtin_qd8(row)
    assert q.tolist() == [[-128.0, 1.0, 3.0, 127.0]] and scale.item() == 1 / 128
    # a row without 0 in its range is widened to include it: [1, 2] -> [0, 2], multiplier 127.5
    q, scale = xnnpack_qd8(torch.tensor([[1.0, 2.0]]))
    assert q.tolist() == [[128.0, 255.0]] and scale.item() == pytest.approx(2 / 255)


def test_jitter_is_deterministic_and_moves_values_by_about_one_ulp():
    torch.manual_seed(0)
    x = torch.randn(4096, 256)  # ~1M values; one in ~10^4 lies within an ulp-sized move of a rounding boundary
    a, b = jittered_qd8(0)(x), jittered_qd8(0)(x)
    assert torch.equal(a[0], b[0])  # the same value moves the same way every call, as on one CPU
    exact = xnnpack_qd8(x)[0]
    moved = (jittered_qd8(1)(x)[0] != exact).float().mean().item()
    assert 0 < moved < 1e-3  # a few values cross an int8 step; nearly all do not


def test_4bit_grid_detection():
    levels = torch.randn(8, 2, 16)  # 16 values per block of 32
    grid = levels.gather(2, torch.randint(0, 16, (8, 2, 32))).reshape(8, 64)
    assert on_4bit_grid(grid) and not on_4bit_grid(torch.randn(8, 64)) and not on_4bit_grid(torch.randn(8, 48))


def _reference(tmp_path):
    from edgellm.convert.decoder import load_reference, read_decoder_source
    from edgellm.convert.source import load_tokenizer

    source = read_decoder_source(make_llm(tmp_path / "llm"))
    return load_tokenizer(source), load_reference(source)


def test_simulated_model_is_close_to_float_and_restored_after(tmp_path):
    _, model = _reference(tmp_path)
    ids = torch.tensor([[1, 7, 9, 12, 30, 41]])
    with torch.no_grad():
        before = model(ids).logits
        with simulated(model, "int8-dynamic") as use:
            exact = model(ids).logits
            use(jittered_qd8(3))
            jitter = model(ids).logits
        after = model(ids).logits
    assert torch.equal(before, after)  # weights and forwards restored
    assert not torch.equal(exact, before) and not torch.equal(exact, jitter)
    cos = torch.nn.functional.cosine_similarity(exact.flatten(), before.flatten(), dim=0).item()
    assert cos > 0.99


def test_simulate_reports_every_path_and_the_gates_read_them(tmp_path):
    from edgellm.validate.decoder import reference_outputs

    tokenizer, model = _reference(tmp_path)
    expected = reference_outputs(model, tokenizer, CACHE)
    results = simulate(model, "int8-dynamic", expected, tokenizer)
    assert [r.name for r in results] == list(rounding_paths())
    sim = simulation_metrics(results, expected.chat_prompts)
    assert len(sim["paths"]) == 4 and 0 <= sim["chat_kl_max"] and 0 < sim["chat_top1_min"] <= 1
    assert all(len(p["first_token_same"]) == len(expected.chat_prompts) for p in sim["paths"])


def _metrics(**simulated):
    base = {"greedy_match_min": 1.0, "top1": 1.0, "perplexity_ratio": 1.0,
            "quiz": {"correct": 30, "reference_correct": 30, "total": 50, "slack": 2}}
    paths = [{"name": "xnnpack", "chat_top1": 0.99, "chat_kl": 0.005, "first_token_same": [True], "quiz_correct": 30},
             {"name": "jitter-0", "chat_top1": 0.97, "chat_kl": 0.009, "first_token_same": [True], "quiz_correct": 29}]
    sim = {"paths": paths, "first_token_forks": [], "chat_top1_min": 0.97, "chat_kl_max": 0.009}
    for key, value in simulated.items():
        if key in ("chat_top1", "chat_kl", "quiz_correct"):
            paths[1][key] = value
        else:
            sim[key] = value
    return {**base, "simulated": sim}


def test_judge_fails_a_recipe_that_only_one_rounding_path_breaks():
    tol = tolerance_for(LLM, "int8-dynamic")
    assert judge(_metrics(), tol) == ()
    fork = judge(_metrics(first_token_forks=[{"prompt": "What is the capital of France?", "path": "jitter-0"}]), tol)
    assert len(fork) == 1 and "jitter-0" in fork[0] and "France" in fork[0]
    quiz = judge(_metrics(quiz_correct=27), tol)
    assert len(quiz) == 1 and "27/50" in quiz[0] and "jitter-0" in quiz[0]
    kl = judge(_metrics(chat_kl=tol.max_chat_kl + 0.01), tol)
    assert len(kl) == 1 and "KL" in kl[0] and "jitter-0" in kl[0]
    top1 = judge(_metrics(chat_top1=tol.min_chat_top1 - 0.05), tol)
    assert len(top1) == 1 and "top-1" in top1[0]


def test_near_ties_under_a_path_are_reported_not_gated():
    class Path_:
        def __init__(self, name, first):
            self.name, self.first_tokens = name, first
            self.chat_top1, self.chat_kl, self.quiz_correct = 1.0, 0.0, None

        def to_dict(self):
            return {"name": self.name, "chat_top1": 1.0, "chat_kl": 0.0, "quiz_correct": None}

    results = [Path_("xnnpack", ((True, 3.0), (False, NEAR_TIE_MARGIN / 2))),
               Path_("jitter-0", ((False, 3.0), (True, NEAR_TIE_MARGIN / 2)))]
    sim = simulation_metrics(results, ["A?", "B?"])
    assert sim["first_token_forks"] == [{"prompt": "A?", "path": "jitter-0"}] and sim["near_ties"] == ["B?"]
    assert sim["quiz_correct_min"] is None and np.isclose(sim["chat_top1_min"], 1.0)


def test_batched_greedy_matches_one_prompt_at_a_time(tmp_path):
    from edgellm.validate.decoder import batched_greedy, torch_greedy

    _, model = _reference(tmp_path)
    prompts = [[1, 7, 9], [1, 12, 30, 41, 8, 22], [1, 5]]
    assert batched_greedy(model, prompts, 6, batch=2) == [torch_greedy(model, p, 6) for p in prompts]


def test_batched_greedy_keeps_no_autograd_graph(tmp_path):
    """Gradients off: with them the cache chains every step's activations (14 GB at 0.5B parameters)."""
    import torch

    from edgellm.validate.decoder import batched_greedy

    _, model = _reference(tmp_path)
    seen = []
    hook = model.register_forward_hook(lambda module, args, out: seen.append(out.logits.requires_grad))
    assert any(p.requires_grad for p in model.parameters())
    batched_greedy(model, [[1, 7, 9], [1, 5]], 3)
    hook.remove()
    assert seen == [False] * 3 and torch.is_grad_enabled()


def test_q4_1_offsets_see_the_float_input_and_the_grid_the_rounded_one(tmp_path):
    """A Q4_1 layer is split as the export splits it: symmetric grid x int8 input + float block offsets."""
    from edgellm.quantize.int4 import Int4SplitLinear, Q4Grid, block_offsets

    _, model = _reference(tmp_path)
    name, layer = next((n, m) for n, m in model.named_modules() if n.endswith("mlp.up_proj"))
    out_f, in_f = layer.weight.shape
    torch.manual_seed(0)
    sym = torch.randint(-8, 8, (out_f, in_f)).float() * 0.01
    c = torch.randn(out_f, in_f // 32) * 0.05
    layer.weight.data = sym + c.repeat_interleave(32, dim=1)  # w = symmetric grid + per-block offset
    x = torch.randn(3, in_f)
    q, scale = xnnpack_qd8(x)
    want = (q @ sym.T) * scale + x.reshape(3, in_f // 32, 32).sum(-1) @ c.T
    rounded_whole = (q @ layer.weight.detach().T) * scale
    with torch.no_grad(), simulated(model, "int4", {name: (sym, c)}) as use:
        use(xnnpack_qd8)
        got = layer(x)
    assert torch.allclose(got, want, atol=1e-5) and not torch.allclose(got, rounded_whole, atol=1e-4)

    rng = np.random.default_rng(0)
    grid = Q4Grid(scale=rng.random((out_f, in_f // 32), dtype=np.float32) * 0.01,
                  k=rng.integers(-8, 8, (out_f, in_f)).astype(np.int8),
                  minimum=rng.standard_normal((out_f, in_f // 32)).astype(np.float32) * 0.05)
    holder = torch.nn.Module()
    holder.up = Int4SplitLinear(torch.nn.Linear(in_f, out_f, bias=False), grid)
    found = block_offsets(holder)
    assert list(found) == ["up"] and np.array_equal(found["up"][0].numpy(), grid.symmetric_weight())
    assert np.array_equal(found["up"][1].numpy(), grid.offset) and block_offsets(None) == {}

