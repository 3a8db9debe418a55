"""edgellm.generate on the tiny llama export: runner modes, chunked prefill, sampling, chat, CLI, bad input."""

import subprocess
import sys

import numpy as np
import pytest

from edgellm import cli
from edgellm.errors import ConfigError, MissingDependencyError, ModelFileError
from edgellm.generate import GenerateConfig, SamplingConfig, load_llm
from edgellm.generate.sampling import Sampler


def hf_greedy(model_dir, ids, n):
    """transformers' own generate: greedy, stopping at EOS."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             do_sample=False, max_new_tokens=n)
    return [t for t in out[0, len(ids):].tolist()]


@pytest.mark.parametrize("prompt, chunks", [("what is the weather", 1), ("hello world. " * 9, 3)])
def test_greedy_tokens_identical_to_transformers_generate(tiny_llm_export, prompt, chunks):
    model_dir, export = tiny_llm_export
    llm = load_llm(export)
    ids = llm.encode_prompt(prompt, chat=False)
    got = list(llm.tokens(ids, GenerateConfig(max_new_tokens=24)))
    want = hf_greedy(model_dir, ids, 24)
    eos = min(llm.eos_token_ids)
    assert got == [t for t in want[:len(got)]] and (len(got) == 24 or want[len(got)] == eos)
    assert len(set(got)) > 3  # not one repeated token: the check can fail
    # the prompt but its last token is prefilled, in chunks of up to prefill_8: one chunk, or three
    assert -(-(len(ids) - 1) // max(llm.layout.prefill_lengths)) == chunks, len(ids)


def test_compiled_inplace_and_copy_runners_give_identical_logits(tiny_llm_export):
    _, export = tiny_llm_export
    ids = [1, 61, 58, 96, 127, 12, 40, 33, 70, 71, 72]
    logits = {}
    for mode in ("compiled", "inplace", "copy"):
        llm = load_llm(export, mode=mode)
        llm.runner.prefill(ids[:-1])
        steps, token = [], ids[-1]
        for pos in range(len(ids) - 1, len(ids) + 7):
            out = llm.runner.decode(token, position=pos).copy()
            steps.append(out)
            token = int(out.argmax())
        logits[mode] = np.stack(steps)
    np.testing.assert_array_equal(logits["inplace"], logits["copy"])
    np.testing.assert_array_equal(logits["compiled"], logits["copy"])
    assert load_llm(export).runner.mode == "compiled"  # auto picks it where ai-edge-litert has CompiledModel


def test_prefill_after_decode_brings_the_prefill_cache_up_to_date(tiny_llm_export):
    """A second turn: prefill_8 runs again after decode steps wrote rows its own copy of the cache lacks."""
    _, export = tiny_llm_export
    ids = [1, 61, 58, 96, 127, 12, 40, 33, 70, 71, 72]
    turn2 = [5, 90, 91, 92, 93, 94, 95, 96, 97, 98]
    logits = {}
    for mode in ("compiled", "inplace", "copy"):
        runner = load_llm(export, mode=mode).runner
        runner.prefill(ids[:-1])
        pos, token = len(ids) - 1, ids[-1]
        for _ in range(4):
            token = int(runner.decode(token, position=pos).argmax())
            pos += 1
        runner.prefill(turn2[:-1], start=pos)  # 9 tokens: prefill_8 from row `pos` on, then one decode
        pos += len(turn2) - 1
        logits[mode] = runner.decode(turn2[-1], position=pos).copy()
    np.testing.assert_array_equal(logits["inplace"], logits["copy"])
    np.testing.assert_array_equal(logits["compiled"], logits["copy"])
    assert runner.layout.k_axis == 1 and runner.layout.v_axis == 2  # K [kvh, C, D], V [kvh, D, C]


def test_compiled_runner_shares_one_cache_and_auto_falls_back(tiny_llm_export, monkeypatch):
    from edgellm.generate import runner as runner_module

    _, export = tiny_llm_export
    runner = load_llm(export, mode="compiled").runner
    decode_views = runner._views["decode"][1]
    for name in runner.signatures:  # every signature reads decode's cache buffers: one cache, no copies to sync
        views = runner._views[name][1]
        assert all(np.shares_memory(views[f"kv_k_cache_{i}"], decode_views[f"kv_k_cache_{i}"])
                   for i in range(runner.layout.num_layers))
    assert runner._valid == {}

    def unavailable(*args):
        raise runner_module._CompiledUnavailable("no ai-edge-litert CompiledModel (test)")

    monkeypatch.setattr(runner_module, "_CompiledSignatures", unavailable)
    fallback = load_llm(export).runner
    assert fallback.mode == "inplace" and "CompiledModel" in fallback.fallback_reason
    with pytest.raises(MissingDependencyError, match="mode 'inplace'"):
        load_llm(export, mode="compiled")


def test_weight_cache_file_is_made_once_and_gives_the_same_logits(tiny_llm_export, tmp_path, capsys):
    _, export = tiny_llm_export
    ids = [1, 61, 58, 96, 127, 12, 40, 33, 70]

    def logits(**kw):
        runner = load_llm(export, **kw).runner
        runner.prefill(ids[:-1])
        return runner.decode(ids[-1], position=len(ids) - 1).copy()

    cache = tmp_path / "smol.xnnpack"
    plain = logits()
    first = logits(weight_cache=cache)
    made = cache.stat()
    assert made.st_size > 0
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(logits(weight_cache=cache), plain)  # read back, not rebuilt
    assert cache.stat().st_mtime_ns == made.st_mtime_ns
    with pytest.raises(ConfigError, match="weight cache"):
        load_llm(export, mode="inplace", weight_cache=cache)
    assert cli.main(["generate", str(export), "--prompt", "hi", "--weight-cache", str(tmp_path / "no" / "c")]) == 2
    assert "existing folder" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_sampling_is_seeded_and_top_k_1_is_greedy(tiny_llm_export):
    _, export = tiny_llm_export
    llm = load_llm(export)
    ids = llm.encode_prompt("what is", chat=False)

    def run(**kw):
        return list(llm.tokens(ids, GenerateConfig(max_new_tokens=12, stop_at_eos=False,
                                                   sampling=SamplingConfig(**kw))))

    a, b = run(temperature=1.5, top_p=0.95, seed=3), run(temperature=1.5, top_p=0.95, seed=3)
    assert a == b and a != run(temperature=1.5, top_p=0.95, seed=4)
    assert run(temperature=0.7, top_k=1, seed=0) == run()


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    draws = {Sampler(SamplingConfig(temperature=1.0, top_p=0.75, seed=s))(logits) for s in range(200)}
    assert draws == {0, 1}


@pytest.mark.parametrize("kwargs, match", [
    ({"temperature": -1}, "temperature must be"), ({"temperature": float("nan")}, "temperature must be"),
    ({"top_k": -2}, "top_k must be"), ({"top_p": 0}, "top_p must be"), ({"top_p": 1.5}, "top_p must be"),
    ({"seed": -1}, "seed must be")])
def test_sampling_params_out_of_range(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SamplingConfig(**kwargs)


def test_config_round_trip():
    c = GenerateConfig(max_new_tokens=7, chat=True, sampling=SamplingConfig(temperature=0.5, top_k=3, seed=1))
    assert GenerateConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="max_new_tokens"):
        GenerateConfig(max_new_tokens=0)


def test_prompt_longer_than_the_cache(tiny_llm_export):
    llm = load_llm(tiny_llm_export[1])
    with pytest.raises(ConfigError, match=r"prompt has \d+ tokens but the KV cache holds 64"):
        list(llm.generate("hello world " * 40))


def test_generation_stops_when_the_cache_is_full(tiny_llm_export):
    llm = load_llm(tiny_llm_export[1])
    ids = llm.encode_prompt("what is", chat=False)
    out = list(llm.tokens(ids, GenerateConfig(max_new_tokens=500, stop_at_eos=False)))
    assert len(ids) - 1 + len(out) == 64 and llm.last_stats.stop_reason == "cache_full"


def test_chat_template_renders_like_transformers(tiny_llm_export):
    from transformers import AutoTokenizer

    model_dir, export = tiny_llm_export
    llm = load_llm(export)
    hf = AutoTokenizer.from_pretrained(model_dir)
    messages = [{"role": "user", "content": "hello world"}]
    assert llm.tokenizer.render_chat(messages) == hf.apply_chat_template(messages, tokenize=False,
                                                                         add_generation_prompt=True)
    assert llm.encode_prompt("hello world", chat=True) == hf.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True)["input_ids"]


def test_cli_generate_streams_greedy_text(tiny_llm_export, capsys):
    _, export = tiny_llm_export
    llm = load_llm(export)
    want = "".join(llm.generate("what is the weather", GenerateConfig(max_new_tokens=10)))
    assert cli.main(["generate", str(export), "--prompt", "what is the weather", "--max-new-tokens", "10"]) == 0
    assert capsys.readouterr().out == want + "\n" and want.strip()
    assert cli.main(["generate", str(export), "--prompt", "hello", "--chat", "--temperature", "0.8",
                     "--top-k", "20", "--top-p", "0.9", "--seed", "1", "--max-new-tokens", "5", "--stats"]) == 0
    assert "tokens/s" in capsys.readouterr().err


@pytest.mark.parametrize("args, match", [
    (["--greedy", "--temperature", "0.5"], "--greedy excludes --temperature"),
    (["--top-k", "5"], "needs --temperature"),
    (["--temperature", "0"], "is greedy decoding"),
    (["--temperature", "0.5", "--top-p", "2"], "top_p must be"),
    (["--max-new-tokens", "0"], "max_new_tokens must be"),
])
def test_cli_generate_bad_flags(tiny_llm_export, capsys, args, match):
    assert cli.main(["generate", str(tiny_llm_export[1]), "--prompt", "hi", *args]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_cli_generate_bad_folders(tmp_path, tiny_bert_export, capsys):
    assert cli.main(["generate", str(tmp_path), "--prompt", "hi"]) == 2
    assert "has no edgellm.json" in capsys.readouterr().err
    assert cli.main(["generate", str(tiny_bert_export), "--prompt", "hi"]) == 2
    assert "needs one made with --task text-generation" in capsys.readouterr().err


def test_missing_tokenizer_json(tiny_llm_export, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_llm_export[1], broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(ModelFileError, match="has no tokenizer.json"):
        load_llm(broken)


def test_generate_runs_without_torch_or_transformers(tiny_llm_export):
    """A fresh process: load, chat-render and generate, then check nothing heavy was imported on the way."""
    code = ("import sys; from edgellm.generate import load_llm, GenerateConfig; "
            "llm = load_llm(sys.argv[1]); text = ''.join(llm.generate('hello', GenerateConfig(chat=True, "
            "max_new_tokens=4))); "
            "bad = [m for m in ('torch', 'transformers', 'litert_torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code, str(tiny_llm_export[1])], check=True)


@pytest.mark.parametrize("n, lengths, room, plan", [
    (63, (32, 128), 256, [(32, 32), (32, 31)]),  # 64 rows of work, not one padded 128
    (128, (32, 128), 256, [(128, 128)]),
    (20, (8,), 64, [(8, 8), (8, 8), (8, 4)]),
    (5, (8,), 6, [(1, 1)] * 5),  # prefill_8 would write padded rows past the cache: decode instead
    (0, (8,), 64, []),
])
def test_prefill_plan(n, lengths, room, plan):
    from edgellm.generate.runner import plan_prefill

    assert plan_prefill(n, lengths, room=room) == plan
    assert sum(take for _, take in plan) == n
