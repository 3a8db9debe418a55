"""The Android demo's pure-Kotlin logic (manifest reader, WordPiece, buckets, dequantization, stats, and the LLM
path: BPE tokenizer, chat format, KV-cache session) on the JVM.

No Android SDK here: android_demo/run_jvm_tests.sh compiles the core sources with kotlinc and runs their JUnit 4
tests; it installs JDK/JUnit (Debian) and kotlin-compiler (npm) when missing. The LLM tests run the app's Kotlin
code against real exports, with the model itself run by ai-edge-litert in a child process
(android_demo/tools/litert_bridge.py), and compare with `tokenizers` and `edgellm generate`.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "android_demo" / "run_jvm_tests.sh"
TEST_SRC = SCRIPT.parent / "app" / "src" / "test" / "java" / "dev" / "edgellm" / "demo" / "core"


@pytest.mark.slow
def test_android_demo_jvm_tests_pass():
    """Every @Test in the Kotlin test sources ran and passed: none failed, none skipped, none missing."""
    declared = sum(len(re.findall(r"^\s*@Test\b", f.read_text("utf-8"), re.M)) for f in TEST_SRC.glob("*.kt"))
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=1200)
    summary = re.search(r"jvm-tests: (\d+) passed, (\d+) failed, (\d+) skipped", proc.stdout + proc.stderr)
    assert proc.returncode == 0 and summary, proc.stdout[-3000:] + proc.stderr[-3000:]
    passed, failed, skipped = map(int, summary.groups())
    assert declared > 0 and (passed, failed, skipped) == (declared, 0, 0), proc.stdout[-3000:]
    assert f"OK ({declared} tests)" in proc.stdout  # JUnit's own count agrees


# ------------------------------------------------------------------ the app's LLM code (core/Bpe.kt, LlmSession.kt)

TOOLS = SCRIPT.parent / "tools"


@pytest.fixture(scope="session")
def jvm_classpath() -> str:
    """The compiled app core + tests (run_jvm_tests.sh reuses its build while the sources are unchanged)."""
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return (SCRIPT.parent / "build" / "jvm-tests" / "classpath").read_text().strip()


def llm_tokenizer_styles(folder: Path) -> dict[str, Path]:
    """tokenizer.json files of the kinds LLMs ship, trained on a small corpus: GPT-2 byte-level (SmolLM2, GPT-2),
    regex Split + byte-level with NFC (Qwen2, Llama 3), SentencePiece-like with byte fallback (Llama 2, TinyLlama)."""
    import json

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    texts = (Path(__file__).resolve().parents[1] / "calibration" / "en.txt").read_text("utf-8").splitlines()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    files = {}

    def save(name: str, tok: Tokenizer) -> None:
        files[name] = folder / f"{name}.json"
        tok.save(str(files[name]))

    gpt2 = Tokenizer(models.BPE())
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    gpt2.decoder = decoders.ByteLevel()
    gpt2.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=700, special_tokens=specials, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    save("byte_level", gpt2)

    split = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
             r"|\s+(?!\S)|\s+")
    qwen = Tokenizer(models.BPE())
    qwen.normalizer = normalizers.NFC()
    qwen.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated"),
                                                  pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    qwen.decoder = decoders.ByteLevel()
    qwen.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=700, special_tokens=specials, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    save("split_byte_level", qwen)

    llama = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    llama.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    llama.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                       decoders.Strip(" ", 1, 0)])
    llama.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=700, special_tokens=["<unk>", "<s>", "</s>"],
                                                         show_progress=False))
    llama.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    save("byte_fallback", llama)
    # Llama's <0x00>..<0xFF> pieces are ordinary vocabulary entries
    data = json.loads(files["byte_fallback"].read_text("utf-8"))
    vocab = data["model"]["vocab"]
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    files["byte_fallback"].write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return files


@pytest.mark.slow
def test_kotlin_llm_tokenizer_matches_tokenizers(jvm_classpath, tmp_path):
    """core/Bpe.kt against `tokenizers` on each tokenizer kind: ids with and without special tokens, and decoding."""
    sys.path.insert(0, str(TOOLS))
    from compare_llm_tokenizer import EXTRA_CASES, compare
    from compare_tokenizer import HARD_CASES, random_texts

    sys.path.insert(0, str(Path(__file__).parent / "generate"))
    from tiny_llm import save_llm_tokenizer

    save_llm_tokenizer(tmp_path / "metaspace")
    files = {**llm_tokenizer_styles(tmp_path), "metaspace": tmp_path / "metaspace" / "tokenizer.json"}
    texts = HARD_CASES + EXTRA_CASES + random_texts(200, 0) + ["héllo 你好 😀 naïve"]
    for name, file in files.items():
        assert compare(file, texts) == [], name


def kotlin_generate(classpath: str, export: Path, prompts: list[str], *, chat: bool, max_new_tokens: int,
                    bound: bool = False, extra: tuple[str, ...] = ()) -> list[dict]:
    import json

    argv = ["java", "-cp", classpath, "dev.edgellm.demo.core.LlmCheckKt", "generate", str(export), sys.executable,
            "--max-new-tokens", str(max_new_tokens)] + (["--chat"] if chat else []) + (["--bound"] if bound else [])
    argv += list(extra)
    proc = subprocess.run(argv, input=json.dumps(prompts).encode(), capture_output=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    results, current = [], {}
    for line in proc.stdout.decode("utf-8").splitlines():
        key, value = line.split("\t", 1)
        if key.endswith("_ids") or key == "counts":
            value = [int(x) for x in value.split()]
        elif key in ("text", "streamed"):
            value = json.loads(value)
        current[key] = value
        if key == "stats":
            results.append(current)
            current = {}
    assert len(results) == len(prompts)
    return results


def python_generate(export: Path, prompts: list[str], *, chat: bool, max_new_tokens: int) -> list[dict]:
    from edgellm.generate import GenerateConfig, load_llm

    llm = load_llm(export)
    config = GenerateConfig(chat=chat, max_new_tokens=max_new_tokens)
    out = []
    for prompt in prompts:
        ids = llm.encode_prompt(prompt, chat=chat)
        out.append({"prompt_ids": ids, "new_ids": list(llm.tokens(ids, config)),
                    "text": "".join(llm.generate(prompt, config))})
    return out


@pytest.mark.slow
def test_kotlin_llm_session_generates_what_edgellm_generate_does(jvm_classpath, tmp_path_factory):
    """The app's tokenizer, chat format, prefill chunks, decode windows and cache copies, with the tiny llama's
    export run by ai-edge-litert through tools/litert_bridge.py: same prompt ids, same greedy tokens, same text as
    `edgellm generate`. Prompts of 2 to 22 tokens cross prefill_8's chunks; 24 new tokens cross decode_16/decode_32.
    Both cache homes: the session's own buffers passed to every call (Interpreter), and a cache bound once in the
    backend that gets only the new rows (CompiledModel's way, `--bound`)."""
    sys.path.insert(0, str(Path(__file__).parent / "generate"))
    from tiny_llm import cached_export

    _, export = cached_export(tmp_path_factory)
    prompts = ["hello", "hello world. what time is it?", "the quick brown fox jumps"]  # 2, 7 and 22 tokens
    for chat in (False, True):
        python = python_generate(export, prompts, chat=chat, max_new_tokens=24)
        for bound in (False, True):
            kotlin = kotlin_generate(jvm_classpath, export, prompts, chat=chat, max_new_tokens=24, bound=bound)
            for k, p in zip(kotlin, python):
                got, want = (k["prompt_ids"], k["new_ids"], k["text"]), (p["prompt_ids"], p["new_ids"], p["text"])
                assert got == want, (chat, bound)
                assert k["streamed"] == k["text"]
    assert max(len(p["prompt_ids"]) for p in python) > 16 and max(len(p["new_ids"]) for p in python) > 16


@pytest.mark.slow
def test_kotlin_llm_chats_with_smollm2(jvm_classpath, smollm2_int8_export):
    """A real checkpoint through the app's code: SmolLM2's byte-level tokenizer against `tokenizers`, and a chat
    reply (chat format from edgellm.json, int8-dynamic model through the bridge) identical to `edgellm generate`'s."""
    sys.path.insert(0, str(TOOLS))
    from compare_llm_tokenizer import EXTRA_CASES, compare
    from compare_tokenizer import HARD_CASES, random_texts

    assert compare(smollm2_int8_export / "tokenizer.json", HARD_CASES + EXTRA_CASES + random_texts(100, 1)) == []
    prompts = ["What is the capital of France?", "Write a haiku about the sea."]
    python = python_generate(smollm2_int8_export, prompts, chat=True, max_new_tokens=24)
    for bound in (False, True):  # the cache passed to every call (Interpreter), or bound once (CompiledModel)
        kotlin = kotlin_generate(jvm_classpath, smollm2_int8_export, prompts, chat=True, max_new_tokens=24,
                                 bound=bound)
        for k, p in zip(kotlin, python):
            assert (k["prompt_ids"], k["new_ids"], k["text"]) == (p["prompt_ids"], p["new_ids"], p["text"]), bound
    # the answer itself sits on a near tie that the CPU's int8 kernels decide (see test_smollm2_gguf_int8_dynamic):
    # either it is right or validation reported the tie
    near_ties = json.loads((smollm2_int8_export / "edgellm.json").read_text())["validation"]["metrics"]["chat_near_ties"]
    assert "Paris" in kotlin[0]["text"] or prompts[0] in near_ties, kotlin[0]["text"]


@pytest.fixture(scope="module")
def verify_export(tmp_path_factory) -> Path:
    """The tiny llama exported with verify_2, verify_4 and verify_8 (the shared cached_export has none)."""
    from edgellm.export import ExportConfig, export

    sys.path.insert(0, str(Path(__file__).parent / "generate"))
    from tiny_llm import CACHE, DECODE_WINDOWS, PREFILL, make_llm

    base = tmp_path_factory.getbasetemp()
    model = base / "tiny_llama"  # the same model folder as cached_export's
    if not (model / "config.json").exists():
        make_llm(model)
    out = base / "tiny_llama_fp32_verify"
    if not (out / "edgellm.json").exists():
        export(model, out, ExportConfig(task="text-generation", quantize="fp32", cache_length=CACHE,
                                        prefill_lengths=PREFILL, decode_windows=DECODE_WINDOWS,
                                        verify_lengths=(2, 4, 8)))
    return out


@pytest.mark.slow
def test_kotlin_lookup_decoding_generates_what_edgellm_generate_does(jvm_classpath, verify_export, monkeypatch,
                                                                     capsys, tmp_path):
    """LlmSession's lookup speculative decoding (core/Speculative.kt) on the tiny llama's export with verify
    signatures, through tools/litert_bridge.py: the greedy tokens of `edgellm generate --speculative lookup` and of
    plain greedy decoding, token for token, with the session's own cost model, with every step drafting (both
    cache homes), and with --draft-tokens 3; drafting every step, its counts (steps, verify calls, drafted and
    accepted tokens) equal Python's, so the drafts and acceptances are the same step for step."""
    from edgellm import cli
    from edgellm.generate import GenerateConfig, load_llm
    from edgellm.generate.speculative import Policy

    prompts = ["hello world. what time is it? hello world. what time", "hello world. " * 3, "what is the weather"]
    llm = load_llm(verify_export)
    plain, lookup, always, counts = [], [], {}, {}
    for prompt in prompts:
        ids = llm.encode_prompt(prompt, chat=False)
        plain.append(list(llm.tokens(ids, GenerateConfig(max_new_tokens=24))))
        lookup.append(list(llm.tokens(ids, GenerateConfig(max_new_tokens=24, speculative="lookup"))))
        assert lookup[-1] == plain[-1]
    with monkeypatch.context() as m:
        m.setattr(Policy, "choose", lambda self: self.max_draft)  # as --always-draft on the Kotlin side
        for k in (None, 3):
            for prompt in prompts:
                ids = llm.encode_prompt(prompt, chat=False)
                always[k, prompt] = list(llm.tokens(ids, GenerateConfig(max_new_tokens=24, speculative="lookup",
                                                                        draft_tokens=k)))
                s = llm.last_stats
                counts[k, prompt] = [s.target_steps, s.verify_steps, s.drafted_tokens, s.accepted_tokens]
    # `edgellm generate OUT --speculative lookup` itself: the text the Kotlin session must print
    texts = []
    for prompt in prompts:
        assert cli.main(["generate", str(verify_export), "--prompt", prompt, "--speculative", "lookup",
                         "--max-new-tokens", "24"]) == 0
        texts.append(capsys.readouterr().out.removesuffix("\n"))

    spec = ("--speculative", "lookup")
    kotlin = kotlin_generate(jvm_classpath, verify_export, prompts, chat=False, max_new_tokens=24, extra=spec)
    for k, want, text in zip(kotlin, plain, texts):
        assert k["new_ids"] == want and k["text"] == text
        assert "lookup:" in k["stats"] and k["counts"][0] >= 1
    for bound in (False, True):
        for draft_tokens in (None, 3):
            extra = spec + ("--always-draft",) + (("--draft-tokens", str(draft_tokens)) if draft_tokens else ())
            kotlin = kotlin_generate(jvm_classpath, verify_export, prompts, chat=False, max_new_tokens=24,
                                     bound=bound, extra=extra)
            for k, prompt, want in zip(kotlin, prompts, plain):
                assert k["new_ids"] == want == always[draft_tokens, prompt], (bound, draft_tokens, prompt)
                assert k["counts"] == counts[draft_tokens, prompt], (bound, draft_tokens, prompt)
    # the repeated prompts: lookup drafts held, several tokens per verify call
    steps, verify_steps, drafted, accepted = counts[None, prompts[1]]
    assert verify_steps > 0 and accepted > 0 and (len(plain[1]) - 1) / steps > 1.0
    # a manifest without verify lengths (an export made with --verify-lengths none): a one-line error
    import shutil

    old = tmp_path / "no_verify"
    shutil.copytree(verify_export, old)
    manifest = json.loads((old / "edgellm.json").read_text("utf-8"))
    manifest["llm"]["verify_lengths"] = []
    (old / "edgellm.json").write_text(json.dumps(manifest), "utf-8")
    proc = subprocess.run(["java", "-cp", jvm_classpath, "dev.edgellm.demo.core.LlmCheckKt", "generate", str(old),
                           sys.executable, *spec], input=b'["hello"]', capture_output=True, timeout=300)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "no verify_<T> signatures" in err and len(err.strip().splitlines()) == 1, err


# ------------------------------------------------------------------ the benchmark screen's JSON (core/BenchJson.kt)

@pytest.mark.slow
def test_phone_bench_json_sits_beside_the_workstations(jvm_classpath, tmp_path, tmp_path_factory, capsys):
    """The app's bench JSON (written by the Kotlin BenchJson from fixed statistics) is read by `edgellm bench`: an LLM
    report beside a live `edgellm bench --format json` of the same tiny export, and an encoder report alone."""
    from edgellm import cli
    from edgellm.bench.report import BenchReport, load_report

    sys.path.insert(0, str(Path(__file__).parent / "generate"))
    from tiny_llm import cached_export

    _, export = cached_export(tmp_path_factory)
    proc = subprocess.run(["java", "-cp", jvm_classpath, "dev.edgellm.demo.core.LlmCheckKt", "bench-json",
                           str(tmp_path), str(export)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    phone, phone_encoder = tmp_path / "phone_llm.json", tmp_path / "phone_encoder.json"
    report = BenchReport.from_dict(json.loads(phone.read_text("utf-8")))
    row = report.results[0]
    assert row.is_llm and row["decode_tokens_per_second"] == 70.0 and row["accelerator"]["used"] == "cpu"
    assert report.host["board"] == "Google Pixel 8" and report.host["os"] == "Android 15 (API 35)"

    pc = tmp_path / "pc.json"
    assert cli.main(["bench", str(export), "--threads", "2", "--prompt-tokens", "16", "--new-tokens", "8",
                     "--format", "json", "--output", str(pc)]) == 0
    capsys.readouterr()
    assert cli.main(["bench", str(phone), str(pc)]) == 0
    table = capsys.readouterr().out
    lines = [line for line in table.splitlines() if "[" in line]
    assert len(lines) == 2 and "[Google Pixel 8]" in lines[0], table  # one row per host, labelled by the board
    assert "(base)" in lines[0] and "×" in lines[1], table  # the workstation's decode speed-up against the phone's
    merged = load_report(str(phone)), load_report(str(pc))
    assert merged[0].results[0]["model"]["size_bytes"] == merged[1].results[0]["model"]["size_bytes"]

    assert cli.main(["bench", str(phone_encoder), "--format", "json"]) == 0
    encoder = json.loads(capsys.readouterr().out)
    assert encoder["results"][0]["latency_ms"]["p50"] == 2.5 and encoder["results"][0]["api"] == "compiled_model"


# ------------------------------------------------------------------ edgellm pack: an export onto the phone

def _fake_export(folder: Path, *, hashes: bool = True) -> Path:
    from edgellm.manifest import file_digests, write_manifest

    folder.mkdir(parents=True)
    (folder / "model.tflite").write_bytes(bytes(range(256)) * 40)
    (folder / "tokenizer.json").write_text('{"model": {}}', "utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "extra.txt").write_text("x", "utf-8")
    manifest = {"format_version": 1, "task": "sentence-embedding", "model_file": "model.tflite"}
    if hashes:
        manifest["files"] = file_digests(folder)
    write_manifest(folder, manifest)
    return folder


def test_pack_copies_a_checked_export_and_says_how_to_push_it(tmp_path, capsys):
    from edgellm import cli
    from edgellm.manifest import verify_files, read_manifest

    src = _fake_export(tmp_path / "export")
    dst = tmp_path / "assets" / "edgellm"
    assert cli.main(["pack", str(src), str(dst)]) == 0
    out = capsys.readouterr().out
    assert "packed 4 files" in out and "checked against edgellm.json (size + sha256) before and after the copy" in out
    assert f"adb push {dst} /data/local/tmp/edgellm" in out
    assert verify_files(dst, read_manifest(dst)) and (dst / "sub" / "extra.txt").read_text() == "x"
    # again: only with --overwrite, which replaces the earlier export
    assert cli.main(["pack", str(src), str(dst)]) == 2
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert cli.main(["pack", str(src), str(dst), "--overwrite"]) == 0


def test_pack_refuses_a_changed_file_and_writes_nothing(tmp_path, capsys):
    from edgellm import cli

    src = _fake_export(tmp_path / "export")
    data = bytearray((src / "model.tflite").read_bytes())
    data[100] ^= 1
    (src / "model.tflite").write_bytes(bytes(data))
    dst = tmp_path / "assets" / "edgellm"
    assert cli.main(["pack", str(src), str(dst)]) == 2
    err = capsys.readouterr().err
    assert "model.tflite: sha256 differs from edgellm.json" in err and len(err.strip().splitlines()) == 1
    assert not dst.exists() and not any(p.name.startswith(".edgellm.partial") for p in dst.parent.glob(".*"))


def test_pack_copies_an_older_export_unchecked_and_says_so(tmp_path):
    import edgellm

    src = _fake_export(tmp_path / "export", hashes=False)
    result = edgellm.pack(src, tmp_path / "out")
    assert not result.verified and "NOT checked" in result.summary()
    assert set(result.files) == {"model.tflite", "tokenizer.json", "sub/extra.txt", "edgellm.json"}


def test_pack_bad_input_is_one_line(tmp_path):
    import edgellm
    from edgellm.errors import ConfigError, ModelFileError

    with pytest.raises(ConfigError, match="does not exist; pass a folder written by `edgellm export`"):
        edgellm.pack(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ModelFileError, match="has no edgellm.json"):
        edgellm.pack(tmp_path / "plain", tmp_path / "out")
    src = _fake_export(tmp_path / "export")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "letter.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="replaces only a folder edgellm wrote"):
        edgellm.pack(src, tmp_path / "docs", overwrite=True)
    assert (tmp_path / "docs" / "letter.txt").read_text() == "keep me"
