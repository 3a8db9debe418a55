"""model.litertlm: the LiteRT-LM bundle every LLM export writes (edgellm.bundle.litertlm), its chat-template check,
and `edgellm bench --runtime litertlm` (edgellm.bench.litertlm)."""

import json
import sys

import numpy as np
import pytest

from edgellm import cli
from edgellm.runtime.modelfile import read_litertlm
from edgellm.bundle.litertlm import PARTS_TO_TEXT, as_parts, litertlm_chat_template, litertlm_variant
from edgellm.errors import MissingDependencyError


def _llm_metadata(path):
    from litert_lm_builder.runtime.proto import executor_metadata_pb2, llm_metadata_pb2

    sections, models = read_litertlm(path)
    data = path.read_bytes()
    kinds = {s.kind: data[s.begin:s.end] for s in sections}
    meta = llm_metadata_pb2.LlmMetadata.FromString(kinds["LlmMetadataProto"])
    executor = executor_metadata_pb2.ExecutorMetadata.FromString(kinds["ExecutorMetadataProto"])
    return sections, models, meta, executor


def test_export_writes_a_readable_litertlm_bundle(tiny_llm_export):
    _, export = tiny_llm_export
    manifest = json.loads((export / "edgellm.json").read_text())
    info = manifest["litertlm"]
    bundle = export / info["file"]
    assert info["file"] == "model.litertlm" and bundle.stat().st_size == info["size_bytes"]
    sections, models, meta, executor = _llm_metadata(bundle)
    assert {s.kind for s in sections} >= {"LlmMetadataProto", "ExecutorMetadataProto", "HF_Tokenizer_Zlib",
                                          "TFLiteModel"}
    # LlmMetadata: the tiny tokenizer puts <s> before plain text, so it is the start token; </s> (id 2) stops
    assert meta.start_token.token_str == "<s>" and [list(t.token_ids.ids) for t in meta.stop_tokens] == [[2]]
    assert meta.max_num_tokens == manifest["llm"]["cache_length"] == 64
    assert meta.jinja_prompt_template.startswith(PARTS_TO_TEXT)
    # ExecutorMetadata: one state buffer per cache tensor, input name == output name, edgellm's sequence axes
    buffers = executor.llm_executor_metadata.state_buffers
    layers = manifest["llm"]["kv_cache"]["num_layers"]
    assert len(buffers) == 2 * layers
    axes = {kv: info["kv_cache"][kv]["sequence_axis"] for kv in "kv"}
    assert axes == litertlm_variant((export / "model.tflite").read_bytes())[1]
    assert {(b.decode_input_name, b.decode_output_name, b.sequence_axis) for b in buffers} == \
        {(f"kv_cache_{kv}_{i}", f"kv_cache_{kv}_{i}", axes[kv]) for i in range(layers) for kv in "kv"}
    # edgellm inspect reads the bundle's TFLite section: LiteRT-LM's signature convention
    signatures = {s.name: s for s in models[0].signatures}
    assert set(signatures) == {"prefill_8", "decode"}
    decode = signatures["decode"]
    assert set(decode.inputs) == {"tokens", "input_pos"} | {b.decode_input_name for b in buffers}
    assert set(decode.outputs) == {"logits"} | {b.decode_output_name for b in buffers}
    assert cli.main(["inspect", str(bundle), "--no-runtime"]) == 0
    # the check, with the release it targets
    check = manifest["llm"]["chat_template_check"]["litertlm"]
    assert check["identical"] and check["litert_lm_version"]
    assert check["rewrites"] == ["content parts joined into text", "set bos_token, eos_token"]


def _write_rows(cache, new, axis, start, n):
    """cache with the first n rows of new written at start.. along the sequence axis (what our runner does)."""
    out = cache.copy()
    dst = [slice(None)] * cache.ndim
    src = [slice(None)] * cache.ndim
    dst[axis], src[axis] = slice(start, start + n), slice(0, n)
    out[tuple(dst)] = new[tuple(src)]
    return out


def test_variant_computes_what_our_runner_computes(tiny_llm_export):
    """The LiteRT-LM variant's full-cache outputs are the cache with our new rows written at input_pos[0], and its
    logits are ours (same weights, same ops)."""
    from ai_edge_litert.interpreter import Interpreter

    _, export = tiny_llm_export
    ours = Interpreter(model_content=(export / "model.tflite").read_bytes())
    variant, axes = litertlm_variant((export / "model.tflite").read_bytes())
    theirs = Interpreter(model_content=variant)
    rng = np.random.default_rng(0)
    a, b = ours.get_signature_runner("decode"), theirs.get_signature_runner("decode")
    details = a.get_input_details()
    layers = sum(1 for n in details if n.startswith("kv_k_cache_"))
    cache = {n: rng.standard_normal(d["shape"]).astype(np.float32) for n, d in details.items() if "cache" in n}
    pos = 5
    tokens, input_pos = np.array([[7]], np.int32), np.array([pos], np.int32)
    out_a = a(tokens=tokens, input_pos=input_pos, **cache)
    renamed = {n.replace("kv_k_cache_", "kv_cache_k_").replace("kv_v_cache_", "kv_cache_v_"): v
               for n, v in cache.items()}
    out_b = b(tokens=tokens, input_pos=input_pos, **renamed)
    np.testing.assert_array_equal(out_b["logits"][:, 0], out_a["logits"])
    for i in range(layers):
        for kv in "kv":
            want = _write_rows(cache[f"kv_{kv}_cache_{i}"], out_a[f"{kv}_new_{i}"], axes[kv], pos, 1)
            np.testing.assert_array_equal(out_b[f"kv_cache_{kv}_{i}"], want)


def test_variant_prefill_at_the_end_of_the_cache(tiny_llm_export):
    """prefill_8 at position 60 of a 64-row cache: 4 real rows land at 60..63, nothing else moves (a plain
    DYNAMIC_UPDATE_SLICE would clamp the start to 56 and shift them)."""
    from ai_edge_litert.interpreter import Interpreter

    _, export = tiny_llm_export
    ours = Interpreter(model_content=(export / "model.tflite").read_bytes()).get_signature_runner("prefill_8")
    variant, axes = litertlm_variant((export / "model.tflite").read_bytes())
    theirs = Interpreter(model_content=variant).get_signature_runner("prefill_8")
    rng = np.random.default_rng(1)
    cache = {n: rng.standard_normal(d["shape"]).astype(np.float32) for n, d in ours.get_input_details().items()
             if "cache" in n}
    tokens, start = np.arange(3, 11, dtype=np.int32)[None, :], 60
    input_pos = np.arange(start, start + 8, dtype=np.int32)
    out_a = ours(tokens=tokens, input_pos=input_pos, **cache)
    out_b = theirs(tokens=tokens, input_pos=input_pos,
                   **{n.replace("kv_k_cache_", "kv_cache_k_").replace("kv_v_cache_", "kv_cache_v_"): v
                      for n, v in cache.items()})
    for kv, i in (("k", 0), ("v", 1)):
        want = _write_rows(cache[f"kv_{kv}_cache_{i}"], out_a[f"{kv}_new_{i}"], axes[kv], start, 4)
        np.testing.assert_array_equal(out_b[f"kv_cache_{kv}_{i}"], want)


SMOLLM2_TEMPLATE = (  # SmolLM2-Instruct's: string + message['content'] fails on LiteRT-LM 0.18's content parts
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def _references(template, **context):
    from edgellm.bundle.chat import CHAT_CHECKS
    from edgellm.generate.tokenizer import render_template

    return [(m, render_template(template, m, add_generation_prompt=True, **context)) for m in CHAT_CHECKS]


def test_template_that_fails_on_content_parts_is_rewritten():
    from edgellm.generate.tokenizer import render_template
    from edgellm.errors import ModelFileError

    messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises((TypeError, ModelFileError), match="concatenate"):
        render_template(SMOLLM2_TEMPLATE, as_parts(messages), add_generation_prompt=True)
    shipped, check = litertlm_chat_template(SMOLLM2_TEMPLATE, _references(SMOLLM2_TEMPLATE), bos_token="<|im_start|>",
                                            eos_token="<|im_end|>", start_token=None)
    assert check["identical"] and check["rewrites"] == ["content parts joined into text"]
    assert shipped == PARTS_TO_TEXT + SMOLLM2_TEMPLATE
    assert len(check["conversations"]) == 3


def test_bos_is_not_doubled():
    """When the bundle's start token is the BOS, the template must render it as nothing."""
    template = "{{ bos_token }}{% for m in messages %}{{ m['role'] }}\n{% endfor %}"
    refs = _references(template, bos_token="<s>")
    shipped, check = litertlm_chat_template(template, refs, bos_token="<s>", eos_token="</s>", start_token="<s>")
    assert check["identical"] and check["rewrites"] == ["set bos_token"]
    shipped, check = litertlm_chat_template(template, refs, bos_token="<s>", eos_token="</s>", start_token=None)
    assert check["identical"]  # no start token: the template renders the BOS itself


def test_a_template_that_cannot_agree_is_recorded_not_identical():
    template = "<s>{% for m in messages %}{{ m['role'] }}{% endfor %}"  # writes the BOS text the start token adds
    shipped, check = litertlm_chat_template(template, _references(template), bos_token="<s>", eos_token="</s>",
                                            start_token="<s>")
    assert check["identical"] is False and not any(c["identical"] for c in check["conversations"])


def test_bench_runtime_litertlm_without_litert_lm(tiny_llm_export, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "litert_lm", None)  # import litert_lm -> ImportError
    _, export = tiny_llm_export
    assert cli.main(["bench", str(export), "--runtime", "litertlm", "--prompt-tokens", "8", "--new-tokens", "4"]) == 2
    err = capsys.readouterr().err
    assert "litert-lm-api" in err and "edgellm[litertlm]" in err and len(err.strip().splitlines()) == 1
    from edgellm.bench.litertlm import import_litert_lm

    with pytest.raises(MissingDependencyError, match=r"pip install 'edgellm\[litertlm\]'"):
        import_litert_lm()


def test_bench_runtime_litertlm_refuses_other_models(tiny_bert_export, capsys):
    assert cli.main(["bench", str(tiny_bert_export), "--runtime", "litertlm"]) == 2
    assert "text-generation export folders only" in capsys.readouterr().err


def test_litertlm_runs_our_bundle(tiny_llm_export):
    """LiteRT-LM (when installed) loads the bundle and decodes the tokens our runtime decodes, greedy."""
    pytest.importorskip("litert_lm")
    from edgellm.generate import GenerateConfig, load_llm
    from edgellm.bench.llm import LlmBenchConfig
    from edgellm.bench.litertlm import bench_litertlm

    _, export = tiny_llm_export
    theirs = bench_litertlm(export, LlmBenchConfig(threads=1, prompt_tokens=16, new_tokens=8, runs=1))
    assert theirs["decode_tokens_per_second"] > 0 and theirs["new_tokens_run"] == 8
    llm = load_llm(export)
    ids = llm.tokenizer.encode(theirs["prompt"])  # with the BOS, as LiteRT-LM's start token
    assert theirs["prompt_tokens_run"] == len(ids)
    tokens = list(llm.tokens(ids, GenerateConfig(max_new_tokens=8, stop_at_eos=False)))
    assert theirs["reply"] == llm.tokenizer.decode(tokens)


@pytest.mark.parametrize("model_type", ["gemma2", "gemma3_text", "gpt2"])
def test_litertlm_runs_the_other_families_bundles(model_type, tmp_path):
    """LiteRT-LM decodes the bundles of gemma2 (soft-capping), gemma3 (sliding window 4 < the 15-token prompt) and
    GPT-2 (learned positions) as our runtime does, greedy."""
    pytest.importorskip("litert_lm")
    from edgellm.bench.litertlm import bench_litertlm
    from edgellm.bench.llm import LlmBenchConfig
    from edgellm.export import ExportConfig
    from edgellm.export import export as run_export
    from edgellm.generate import GenerateConfig, load_llm
    from generate.tiny_llm import CACHE, make_llm

    export = tmp_path / "o"
    run_export(make_llm(tmp_path / "m", model_type), export, ExportConfig(task="text-generation", cache_length=CACHE,
                                                                          prefill_lengths=(8,)))
    theirs = bench_litertlm(export, LlmBenchConfig(threads=1, prompt_tokens=16, new_tokens=8, runs=1))
    llm = load_llm(export)
    ids = llm.tokenizer.encode(theirs["prompt"])
    assert theirs["prompt_tokens_run"] == len(ids)
    tokens = list(llm.tokens(ids, GenerateConfig(max_new_tokens=8, stop_at_eos=False)))
    assert theirs["reply"] == llm.tokenizer.decode(tokens)
