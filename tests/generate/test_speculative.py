"""Exact speculative decoding (edgellm.generate.speculative): the verify_<T> signatures, greedy text identical to
plain greedy decoding (every decoder family, lookup and draft exports), speculative sampling keeping the target's
distribution, the CLI and bench, bad input."""

import json

import numpy as np
import pytest

from edgellm import cli
from edgellm.archs.decoders import supported_decoder_types
from edgellm.errors import ConfigError
from edgellm.generate import GenerateConfig, Llm, SamplingConfig, load_llm
from edgellm.generate import speculative
from edgellm.generate.runner import CacheLayout
from edgellm.generate.speculative import LookupDrafter, Policy, accept
from tiny_llm import cached_export, make_llm

VERIFY = (2, 4, 8)
CACHE = 64


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """(target export, draft export, plain export without verify signatures) of tiny llamas; the draft is another
    random llama (other seed) with the same tokenizer."""
    from edgellm.export import ExportConfig, export

    base = tmp_path_factory.mktemp("spec")
    model, plain = cached_export(tmp_path_factory)
    target = base / "target"
    config = dict(task="text-generation", quantize="fp32", cache_length=CACHE, prefill_lengths=(8,),
                  decode_windows=(32,), verify_lengths=VERIFY)
    export(model, target, ExportConfig(**config))
    draft_model = make_llm(base / "draft_model", num_hidden_layers=1)
    draft = base / "draft"
    export(draft_model, draft, ExportConfig(**{**config, "verify_lengths": ()}))
    return target, draft, plain


@pytest.fixture
def always_draft(monkeypatch):
    """The policy drafts as many tokens as allowed every step (its cost model backs off on the tiny models, whose
    calls are all overhead), so every path of the acceptance code runs."""
    monkeypatch.setattr(Policy, "choose", lambda self: self.max_draft)


PROMPTS = ["hello world. what time is it? hello world. what time", "what is the weather", "hello world. " * 3]


def _greedy(llm, ids, n=24, **kw):
    return list(llm.tokens(ids, GenerateConfig(max_new_tokens=n, stop_at_eos=False, **kw)))


@pytest.mark.slow  # exports tiny models (validation included): minutes on a loaded machine
# ----------------------------------------------------------------------------------------------- the export
def test_verify_signatures_in_the_export_and_manifest(exports):
    target, _, plain = exports
    m = json.loads((target / "edgellm.json").read_text())
    assert m["llm"]["verify_lengths"] == list(VERIFY)
    sig = {s["name"]: s for s in m["signatures"]}
    for t in VERIFY:
        outs = {o["name"]: o["shape"] for o in sig[f"verify_{t}"]["outputs"]}
        assert outs["logits"] == [t, 160] and outs["k_new_0"] == [2, t, 8]
    assert json.loads((plain / "edgellm.json").read_text())["llm"]["verify_lengths"] == []
    # LiteRT-LM runs prefill/decode only: the bundle leaves the verify signatures out
    from edgellm.bundle.litertlm import _variant

    from ai_edge_litert.tools import flatbuffer_utils
    names = [s.signatureKey.decode() if isinstance(s.signatureKey, bytes) else s.signatureKey for s in
             flatbuffer_utils.read_model_from_bytearray(_variant((target / "model.tflite").read_bytes())[0])
             .signatureDefs]
    assert not [n for n in names if n.startswith("verify")] and "decode" in names


@pytest.mark.slow  # exports tiny models (validation included): minutes on a loaded machine
@pytest.mark.parametrize("mode", ["compiled", "inplace", "copy"])
def test_verify_logits_equal_decode_steps_and_rejected_rows_are_harmless(exports, mode):
    target, _, _ = exports
    runner = load_llm(target, mode=mode).runner
    ids = [1, 61, 58, 96, 127, 12, 40, 33, 70, 71, 72, 73, 80]
    runner.reset()
    runner.prefill(ids[:5])
    steps = np.stack([runner.decode(t, position=5 + i).copy() for i, t in enumerate(ids[5:])])
    rows = [np.array(c).copy() for c in (*runner.k, *runner.v)]
    runner.reset()
    runner.prefill(ids[:5])
    got = np.concatenate([runner.verify(ids[5:8], position=5).copy(),  # 3 tokens: verify_4 with one padding row
                          runner.verify(ids[8:], position=8).copy()])  # 5 tokens: verify_8
    # bit for bit, logits and the K/V rows stored: the same sums in the same order as decode's (a last-bit
    # difference moves an int8 export's rounding and, at a near tie, the greedy text)
    np.testing.assert_array_equal(got, steps)
    for want, have in zip(rows, (*runner.k, *runner.v)):
        np.testing.assert_array_equal(np.array(have), want)
    # four rejected drafts written at 6..9, then the accepted text goes on from 6: the same logits as before, bit
    # for bit (verify adds its new rows onto the cache rows they land on: the runner must zero the rejected ones)
    runner.reset()
    runner.prefill(ids[:5])
    runner.verify([ids[5], 3, 3, 3, 3], position=5)
    np.testing.assert_array_equal(runner.verify(ids[6:11], position=6), steps[1:6])  # verify_8 again (inplace: its
    np.testing.assert_array_equal(runner.decode(ids[11], position=11), steps[6])  # own copy holds the rejected rows)
    with pytest.raises(ConfigError, match="do not fit a verify signature"):
        runner.verify([1] * 9, position=0)
    with pytest.raises(ConfigError, match="do not fit the KV cache"):
        runner.verify([1] * 4, position=CACHE - 3)


@pytest.mark.slow  # exports tiny models (validation included): minutes on a loaded machine
# ----------------------------------------------------------------------------------------------- greedy: exact
@pytest.mark.parametrize("prompt", PROMPTS)
def test_lookup_greedy_identical_to_plain(exports, always_draft, prompt):
    target, _, _ = exports
    llm = load_llm(target)
    ids = llm.encode_prompt(prompt, chat=False)
    plain = _greedy(llm, ids)
    assert len(set(plain)) > 3
    assert _greedy(llm, ids, speculative="lookup") == plain
    s = llm.last_stats
    assert s.speculative == "lookup" and s.verify_steps > 0 and s.drafted_tokens > 0
    assert s.to_dict()["mean_accepted_tokens_per_step"] == s.mean_accepted_tokens_per_step >= 1.0


@pytest.mark.slow  # exports tiny models (validation included): minutes on a loaded machine
def test_draft_export_greedy_identical_to_plain(exports, always_draft):
    target, draft, _ = exports
    llm = load_llm(target)
    for prompt in PROMPTS:
        ids = llm.encode_prompt(prompt, chat=False)
        plain = _greedy(llm, ids)
        for k in (1, 3, 7):
            assert _greedy(llm, ids, speculative=f"draft:{draft}", draft_tokens=k) == plain, (prompt, k)
    # the target drafting for itself: every draft accepted, k + 1 tokens per verify step
    ids = llm.encode_prompt(PROMPTS[1], chat=False)
    plain = _greedy(llm, ids)
    assert _greedy(llm, ids, speculative=f"draft:{target}", draft_tokens=3) == plain
    s = llm.last_stats
    assert s.acceptance_rate == 1.0 and s.mean_accepted_tokens_per_step > 3


class _Oracle(LookupDrafter):
    """Drafts the plain greedy continuation with every third draft token wrong: acceptance stops at each place."""

    truth: list[int] = []

    def propose(self, ids, k):
        cont = self.truth[len(ids):len(ids) + k]
        return [t if (len(ids) + j) % 3 else (t + 1) % 160 for j, t in enumerate(cont)], None


@pytest.mark.slow  # exports tiny models (validation included): minutes on a loaded machine
def test_partial_acceptance_at_every_place(exports, always_draft, monkeypatch):
    target, _, _ = exports
    llm = load_llm(target)
    ids = llm.encode_prompt(PROMPTS[1], chat=False)
    plain = _greedy(llm, ids, n=30)
    _Oracle.truth = ids + plain
    monkeypatch.setattr(speculative, "LookupDrafter", _Oracle)
    assert _greedy(llm, ids, n=30, speculative="lookup") == plain
    s = llm.last_stats
    assert 0.15 < s.acceptance_rate < 0.9 and s.mean_accepted_tokens_per_step > 1.5


class TorchRunner:
    """LlmRunner's contract (prefill, decode, verify on an external KV cache) on edgellm's own export modules in
    PyTorch (convert.decoder.layers.DecoderForExport, the graphs the export traces): every family without a
    LiteRT conversion each."""

    def __init__(self, model, spec, cache: int):
        import torch

        from edgellm.convert.decoder.layers import DecoderForExport

        self.torch = torch
        self.decode_module = DecoderForExport(model, spec, cache_length=cache, with_logits=True).eval()
        self.verify_module = DecoderForExport(model, spec, cache_length=cache, with_logits=True,
                                              all_logits=True).eval()
        m = self.decode_module
        self.k = [torch.zeros(m.num_kv_heads, cache, m.head_dim) for _ in m.model.model.layers]
        self.v = [torch.zeros(m.num_kv_heads, m.head_dim, cache) for _ in m.model.model.layers]
        self.layout = CacheLayout(num_layers=len(self.k), cache_length=cache, k_shape=(), v_shape=(),
                                  prefill_lengths=(), vocab_size=m.model.config.vocab_size, verify_lengths=VERIFY)

    def _call(self, module, tokens, position):
        torch = self.torch
        kv = {f"k_cache_{i}": k for i, k in enumerate(self.k)} | {f"v_cache_{i}": v for i, v in enumerate(self.v)}
        with torch.no_grad():
            out = module(torch.tensor([tokens], dtype=torch.int32),
                         torch.arange(position, position + len(tokens), dtype=torch.int32), kv)
        for i in range(len(self.k)):
            self.k[i][:, position:position + len(tokens)] = out[f"k_new_{i}"]
            self.v[i][:, :, position:position + len(tokens)] = out[f"v_new_{i}"]
        return out["logits"].numpy()

    def prefill(self, tokens, *, start=0):
        if tokens:
            self._call(self.decode_module, list(tokens), start)

    def decode(self, token, *, position):
        return self._call(self.decode_module, [token], position)[0]

    def verify(self, tokens, *, position):
        for k, v in zip(self.k, self.v):  # verify_<T>'s contract: the rows its new rows land on are zero
            k[:, position:position + len(tokens)] = 0
            v[:, :, position:position + len(tokens)] = 0
        return self._call(self.verify_module, list(tokens), position)


@pytest.mark.parametrize("model_type", supported_decoder_types())
def test_every_family_greedy_identical_on_the_export_graph(tmp_path, always_draft, monkeypatch, model_type):
    """verify_<T>'s graph (logits of every position) and the acceptance loop on each family's tiny model: lookup
    drafts, and drafts right except every third token, give plain greedy decoding's tokens."""
    from edgellm.convert.decoder import load_reference, read_decoder_source

    folder = make_llm(tmp_path / model_type, model_type, tokenizer=False, 
                      initializer_range=0.5 if model_type == "gemma" else 0.2)  # gemma at 0.2 repeats one token
    source = read_decoder_source(folder)
    llm = Llm.__new__(Llm)  # an Llm around the PyTorch runner (no export folder)
    llm.runner = TorchRunner(load_reference(source), source.spec, 48)
    llm.eos_token_ids, llm._speculative_costs, llm.last_stats = frozenset(), {}, None
    ids = [1, 30, 31, 32, 33, 34, 30, 31, 32, 40, 41, 30, 31]
    # verify's logits of every position are decode's, step by step (the check that can fail on any family, also
    # where the random model's greedy text repeats one token)
    runner = llm.runner
    runner.prefill(ids[:5])
    steps = np.stack([runner.decode(t, position=5 + i) for i, t in enumerate(ids[5:])])
    runner.prefill(ids[:5])
    got = np.concatenate([runner.verify(ids[5:9], position=5), runner.verify(ids[9:], position=9)])
    np.testing.assert_allclose(got, steps, atol=1e-4)
    assert np.abs(np.diff(steps, axis=0)).max() > 1e-2  # the logits do depend on the tokens
    plain = _greedy(llm, ids, n=20)
    assert _greedy(llm, ids, n=20, speculative="lookup") == plain
    _Oracle.truth = ids + plain
    monkeypatch.setattr(speculative, "LookupDrafter", _Oracle)
    assert _greedy(llm, ids, n=20, speculative="lookup") == plain
    assert 0 < llm.last_stats.acceptance_rate < 1 and llm.last_stats.verify_steps > 3


# ----------------------------------------------------------------------------------------------- sampling
def test_accept_rule_keeps_the_target_distribution():
    """The acceptance rule alone, exactly: for a target p and a draft q over 5 tokens, the emitted token's
    frequency over 20,000 draws matches p (chi-square), for sampled (q) and deterministic (one-hot) drafts."""
    rng = np.random.default_rng(0)
    p_logits = np.log(np.array([0.05, 0.4, 0.3, 0.2, 0.05]))
    q = np.array([0.5, 0.1, 0.1, 0.1, 0.2])
    sampling = SamplingConfig(temperature=1.0)
    p = np.exp(p_logits) / np.exp(p_logits).sum()
    for deterministic in (False, True):
        counts = np.zeros(5)
        for _ in range(20_000):
            d = 0 if deterministic else int(rng.choice(5, p=q))
            a, nxt = accept(np.stack([p_logits, p_logits]), [d], None if deterministic else [q], sampling, rng)
            counts[d if a else nxt] += 1
        chi2 = float(((counts - 20_000 * p) ** 2 / (20_000 * p)).sum())
        assert chi2 < 18.5, (deterministic, counts / 40_000, p)  # 4 degrees of freedom, p-value 0.001
    # the test can fail: accepting every draft token gives q's distribution, far from p
    counts = np.bincount(rng.choice(5, 40_000, p=q), minlength=5)
    assert float(((counts - 40_000 * p) ** 2 / (40_000 * p)).sum()) > 1000


def _joint(llm, ids, sampling, n):
    """Exact probabilities of every n-token continuation under the target (plain decoding, sampling config)."""
    from edgellm.generate.sampling import distribution

    out = {}

    def walk(prefix, prob):
        if len(prefix) == n:
            out[tuple(prefix)] = prob
            return
        llm.runner.reset()
        llm.runner.prefill((ids + prefix)[:-1])
        p = distribution(llm.runner.decode((ids + prefix)[-1], position=len(ids) + len(prefix) - 1), sampling)
        for t in np.flatnonzero(p):
            walk(prefix + [int(t)], prob * p[t])

    walk([], 1.0)
    return out


@pytest.mark.slow  # exports tiny models (validation included): minutes on a loaded machine
def test_speculative_sampling_keeps_the_target_distribution(exports, always_draft, monkeypatch):
    """3 sampled tokens (temperature 1, top-k 3: 27 continuations), 1500 generations each way: the speculative
    ones' frequencies match the exact joint distribution (chi-square, p-value 0.001), with drafts both accepted and
    rejected. Deterministic drafts: the greedy continuation with every third token wrong (lookup's copies of the
    random model's text are rarely in its top 3, so they would all be rejected); sampled ones: the draft export and
    the target itself as its own draft."""
    target, draft, _ = exports
    llm = load_llm(target)
    ids = llm.encode_prompt("hello world. what time is it? hello world. what", chat=False)
    sampling = SamplingConfig(temperature=1.0, top_k=3, seed=0)
    exact = _joint(llm, ids, sampling, 3)
    _Oracle.truth = ids + _greedy(llm, ids, n=3)
    monkeypatch.setattr(speculative, "LookupDrafter", _Oracle)
    assert 1 - 1e-9 < sum(exact.values()) < 1 + 1e-9
    # lookup: accepted and rejected drafts; the other random model: its top 3 are never the target's, every draft
    # is rejected (the residual draw); the target drafting for itself: every draft accepted (the bonus draw)
    for mode, share in (("lookup", "some"), (f"draft:{draft}", "none"), (f"draft:{target}", "all")):
        counts, drafted, accepted = {}, 0, 0
        for seed in range(1500):
            config = GenerateConfig(max_new_tokens=3, stop_at_eos=False, speculative=mode,
                                    sampling=SamplingConfig(temperature=1.0, top_k=3, seed=seed))
            key = tuple(llm.tokens(ids, config))
            counts[key] = counts.get(key, 0) + 1
            drafted += llm.last_stats.drafted_tokens
            accepted += llm.last_stats.accepted_tokens
        assert set(counts) <= set(exact)
        chi2 = sum((counts.get(k, 0) - 1500 * pk) ** 2 / (1500 * pk) for k, pk in exact.items())
        assert chi2 < 54.1, (mode, chi2)  # 26 degrees of freedom, p-value 0.001
        assert drafted and {"some": 0 < accepted < drafted, "none": accepted == 0,
                            "all": accepted == drafted}[share], (mode, accepted, drafted)


# ----------------------------------------------------------------------------------------------- the policy
def test_policy_backs_off_when_drafts_fail_and_tries_again_later():
    policy = Policy(max_draft=7, verify_lengths=VERIFY)
    assert policy.choose() == 0  # decode is timed first
    policy.time("decode", 0.020)
    policy.time(2, 0.022), policy.time(4, 0.026), policy.time(8, 0.040)
    for _ in range(5):
        policy.observe(7, 7)
    assert policy.choose() == 7  # drafts accepted: as many as verify_8 checks
    failures = 0
    while policy.choose():
        policy.observe(policy.choose(), 0)
        failures += 1
    assert failures <= 25  # every draft rejected: plain decoding (after 5 full acceptances it takes ~19 steps)
    steps = 0
    while policy.choose() == 0:
        policy.observe(0, 0)
        steps += 1
    assert 3 <= steps <= 40  # the evidence fades: it probes again


def test_lookup_drafter_takes_the_longest_recent_match():
    d = LookupDrafter()
    assert d.propose([5, 6, 7, 8, 9, 5, 6], 3) == ([7, 8, 9], None)
    assert d.propose([5, 6, 7, 8, 9, 5, 6, 7, 1, 5, 6, 7], 2) == ([1, 5], None)  # 3-gram "5 6 7", latest first
    assert LookupDrafter().propose([1, 2, 3], 4) == ([], None)


@pytest.mark.slow  # exports tiny models (validation included): minutes on a loaded machine
# ----------------------------------------------------------------------------------------------- CLI and bench
def test_cli_generate_speculative_prints_the_same_text(exports, capsys):
    target, _, _ = exports
    args = [str(target), "--prompt", PROMPTS[0], "--max-new-tokens", "16"]
    assert cli.main(["generate", *args]) == 0
    plain = capsys.readouterr().out
    assert cli.main(["generate", *args, "--speculative", "lookup", "--draft-tokens", "3", "--stats"]) == 0
    out = capsys.readouterr()
    assert out.out == plain and "lookup: acceptance" in out.err


@pytest.mark.slow  # exports tiny models (validation included): minutes on a loaded machine
def test_bench_row_says_which_mode(exports, capsys):
    target, _, _ = exports
    assert cli.main(["bench", str(target), "--prompt-tokens", "8", "--new-tokens", "16", "--format", "json",
                     "--speculative", "lookup", "--quiet"]) == 0
    row = json.loads(capsys.readouterr().out)["results"][0]
    assert row["speculative"] == "lookup" and 0 <= row["acceptance_rate"] <= 1
    assert row["mean_accepted_tokens_per_step"] >= 1.0
    assert cli.main(["bench", str(target), "--prompt-tokens", "8", "--new-tokens", "16", "--quiet",
                     "--speculative", "lookup"]) == 0
    assert "litert+lookup" in capsys.readouterr().out


@pytest.mark.slow  # exports tiny models (validation included): minutes on a loaded machine
@pytest.mark.parametrize("args, match", [
    (["--speculative", "lookup"], "no verify_<T> signatures .* re-export it"),
    (["--speculative", "medusa"], "speculative must be 'lookup' or 'draft:PATH'"),
    (["--speculative", "lookup", "--draft-tokens", "0"], "draft_tokens must be an integer >= 1"),
    (["--draft-tokens", "2"], "draft_tokens is for speculative decoding"),
])
def test_cli_bad_input_one_line_exit_2(exports, capsys, args, match):
    _, _, plain = exports
    assert cli.main(["generate", str(plain), "--prompt", "hello", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    import re
    assert re.search(match, err), err


@pytest.mark.slow  # exports tiny models (validation included): minutes on a loaded machine
def test_bad_draft_tokens_and_draft_exports(exports, tmp_path):
    target, draft, plain = exports
    llm = load_llm(target)
    ids = llm.encode_prompt("hello", chat=False)
    with pytest.raises(ConfigError, match="--draft-tokens 8 is more than the export verifies in one call"):
        list(llm.tokens(ids, GenerateConfig(speculative="lookup", draft_tokens=8)))
    with pytest.raises(ConfigError, match="--draft-tokens 99 is more than"):
        list(llm.tokens(ids, GenerateConfig(speculative="lookup", draft_tokens=99)))
    # a draft with another tokenizer (its vocabulary differs), a draft with a shorter cache
    from dataclasses import replace

    class Other:
        def get_vocab(self, with_added_tokens=True):
            return {"other": 0}

    other = load_llm(draft)
    other.tokenizer._tok = Other()
    monkey_loaded = {str(tmp_path / "other"): other}
    import edgellm.generate as generate_module

    real_llm = generate_module.Llm
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(generate_module, "Llm", lambda path, **kw: monkey_loaded.get(str(path)) or real_llm(path, **kw))
        llm._drafts.clear()
        with pytest.raises(ConfigError, match="another tokenizer or vocabulary"):
            list(llm.tokens(ids, GenerateConfig(speculative=f"draft:{tmp_path / 'other'}")))
    short = load_llm(draft)
    short.runner.layout = replace(short.runner.layout, cache_length=32)
    monkey_loaded[str(tmp_path / "short")] = short
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(generate_module, "Llm", lambda path, **kw: monkey_loaded.get(str(path)) or real_llm(path, **kw))
        llm._drafts.clear()
        with pytest.raises(ConfigError, match="KV cache of 32, shorter than the target's 64"):
            list(llm.tokens(ids, GenerateConfig(speculative=f"draft:{tmp_path / 'short'}")))


def test_configs_round_trip():
    config = GenerateConfig(speculative="draft:out/x", draft_tokens=3)
    assert GenerateConfig.from_dict(config.to_dict()) == config
    from edgellm.bench.config import BenchConfig

    with pytest.raises(ConfigError, match="for --runtime litert"):
        BenchConfig(speculative="lookup", runtime="litertlm")
    with pytest.raises(ConfigError, match="speculative must be"):
        BenchConfig(speculative="draft:")
