"""edgellm: export Hugging Face models (encoders, LLMs, GGUF files) to validated LiteRT; bench, inspect, generate.

The first line above is `edgellm --help`'s description. Each subcommand builds a config from its flags, calls the
public function, prints, and returns an exit code.
An ``EdgeLLMError`` prints one line and exits with its ``exit_code`` (2 bad input, 1 validation failed);
``--debug`` shows the traceback instead. Heavy libraries are imported by the functions that need them, so
``edgellm bench --help`` starts fast on a runtime-only install.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from edgellm.errors import ConfigError, EdgeLLMError


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,2,4; got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers such as 1,2,4; got {text!r}")
    return values


def _windows(text: str) -> tuple[int, ...]:
    return () if text.strip().lower() == "none" else _csv_ints(text)


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps each line of a description on its own (indented lines, e.g. examples, as they are) and appends
    "(default: X)" to an option's help where there is a default and the help does not state it."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        return "\n".join(line if line.startswith("  ") or not line else
                         textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent)
                         for line in text.splitlines())

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is argparse.SUPPRESS or isinstance(default, bool)
                or default in ((), []) or not action.option_strings):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


def _add_parser(sub: argparse._SubParsersAction, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand parser with the shared help formatter and ``--debug``, so ``edgellm CMD --debug`` works like
    ``edgellm --debug CMD`` (SUPPRESS: not given, the top-level value stands)."""
    p = sub.add_parser(name, formatter_class=_HelpFormatter, **kwargs)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the traceback instead of a one-line error")
    return p


_NO_VERIFY_HELP = ("skip checking the export's files against the sizes and sha256 in edgellm.json (for exports "
                   "edited on purpose); the model is then loaded in a test process first")


# ---------------------------------------------------------------------------------------------- export
def _add_export(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub, "export",
        help="convert a Hugging Face model folder or a GGUF file (encoders and text-generation LLMs) into a "
        "validated LiteRT export folder",
        description="Convert a local Hugging Face model folder, or a .gguf file holding a causal LM, into "
        "OUTPUT_DIR (model.tflite, tokenizer, edgellm.json), quantize it and validate it against the PyTorch "
        "model.\n\n"
        "Encoders (feature-extraction, text-classification, ...): one signature per sequence length.\n"
        "--task text-generation (LLMs; implied by a .gguf file): prefill and decode signatures with a KV cache, "
        "ready for `edgellm generate`.\n\n"
        "Examples:\n"
        "  edgellm export --model all-MiniLM-L6-v2/ --quantize int8-dynamic out/minilm\n"
        "  edgellm export --model SmolLM2-135M-Instruct/ --task text-generation --quantize int4 out/smollm2\n"
        "  edgellm export --model SmolLM2.Q4_1.gguf --quantize int4 --cache-length 256 out/smollm2\n\n"
        "Exit codes: 0 success, 1 validation failed, 2 bad input or unsupported model.",
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR",
                   help="folder to write; it must not exist or be empty unless --overwrite")
    p.add_argument("--model", default=None, help="HF model folder, or a .gguf file (a causal LM; implies "
                   "--task text-generation) (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--task", default="auto", help="auto (encoders: from config.architectures / "
                   "sentence-transformers files; a .gguf file: text-generation) "
                   "or feature-extraction, sentence-embedding, text-classification, token-classification, "
                   "question-answering, fill-mask, text-generation (causal LMs: prefill + decode with a KV cache)")
    p.add_argument("--quantize", default="fp32", help="fp32, fp16, int8-dynamic, int8 (static, calibrated), "
                   "int16x8 (int16 activations, calibrated), int8-full (integer-only graph for NPUs/DSPs, calibrated); "
                   "text-generation: fp32, fp16, int8-dynamic, int4")
    p.add_argument("--sequence-length", type=int, default=128, metavar="N",
                   help="encoders: tokens per input; shorter inputs are padded")
    p.add_argument("--sequence-lengths", type=_csv_ints, default=(), metavar="N,N,...",
                   help="length buckets, e.g. 16,32,64,128: one signature seq_N per length (shared weights); "
                   "apps run each input with the smallest that fits. Overrides --sequence-length")
    p.add_argument("--calibration-data", metavar="FILE", default=None,
                   help="int8/int16x8: representative samples (.txt one per line, .jsonl, .csv, .tsv, or a "
                   "datasets folder); default: the packaged English corpus calibration/en.txt")
    p.add_argument("--text-column", default=None, help="column of --calibration-data (.jsonl/.csv/.tsv/datasets); "
                   "two comma-separated columns for sentence pairs or question,context")
    p.add_argument("--num-calibration-samples", type=int, default=128, metavar="N",
                   help="int8/int16x8: calibration samples taken from --calibration-data")
    p.add_argument("--calibration-range", default="minmax", choices=("minmax", "percentile", "mse"),
                   help="how each activation range is chosen from calibration (default: plain min/max)")
    p.add_argument("--io-type", default="float", choices=("float", "int8"),
                   help="int8: quantized outputs, scale and zero point in edgellm.json (static recipes; token-id "
                   "inputs stay int32)")
    p.add_argument("--accuracy-budget", type=float, default=None, metavar="COSINE",
                   help="static recipes: measure each linear layer's sensitivity and keep the fewest at higher "
                   "precision (dynamic int8; 16x8 for int8-full) so outputs reach this mean cosine to the float "
                   "model on calibration samples, e.g. 0.995 (default: the architecture's outlier list)")
    p.add_argument("--cache-length", type=int, default=512, metavar="N",
                   help="text-generation: KV-cache positions, prompt + new tokens")
    p.add_argument("--prefill-lengths", type=_csv_ints, default=(32, 128),
                   metavar="T,T,...", help="text-generation: prefill_<T> signatures; longer prompts go in chunks")
    p.add_argument("--decode-windows", type=_windows, default=None, metavar="W,W,...|none",
                   help="text-generation: decode_<W> signatures that read only the first W cache positions, used "
                   "while the conversation fits (default: cache length / 2, / 4, / 8 down to 64; none for none)")
    p.add_argument("--verify-lengths", type=_windows, default=(2, 4, 8), metavar="T,T,...|none",
                   help="text-generation: verify_<T> signatures for `edgellm generate --speculative` (the pending "
                   "token + up to T - 1 draft tokens checked in one call); none for none")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT_DIR if it exists and is not empty")
    p.add_argument("--allow-validation-failure", action="store_true",
                   help="keep the export (marked not passed) when validation fails; still exits 1")
    p.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=None,
                   help="text-generation int8-dynamic and int4: migrate activation outliers into the weights "
                        "first (SmoothQuant; int4 by powers of two per block of 32, which keep 4-bit grids exact; "
                        "llama, mistral, qwen2, qwen3); encoders' int8: each linear layer's input range, on the "
                        "calibration samples. Default: on where it applies; --no-smooth turns it off, "
                        "--smooth makes it an error where it does not apply")
    p.add_argument("--quiz", default=None, metavar="FILE",
                   help="text-generation: validation's quiz, one JSON object a line {question, answers, match, kind} "
                   "(default: the packaged 50-question quiz, asked through the chat template)")
    p.add_argument("--no-memory-check", dest="memory_check", action="store_false",
                   help="text-generation: export even when the estimated peak memory (from the config, printed in "
                   "the error) exceeds what the machine has available")
    p.add_argument("--smooth-alpha", type=float, default=None, metavar="A",
                   help="share of each activation range smoothing moves into the weights, 0..1 (asks for "
                        "--smooth). Default: int8-dynamic 0.5, int4 0.25, encoder int8 0.75")
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from edgellm.export import ExportConfig, export

    options = {name: getattr(args, name) for name in ExportConfig.__dataclass_fields__}
    result = export(args.model, args.output_dir, progress=_stderr_progress("export"), **options)
    print(result.summary())
    return 0 if result.validation.passed else 1


def _stderr_progress(command: str):
    def show(line: str) -> None:
        print(f"edgellm {command}: {line}", file=sys.stderr, flush=True)

    return show


# ---------------------------------------------------------------------------------------------- bench
def _add_bench(sub: argparse._SubParsersAction) -> None:
    from edgellm.bench.config import ACCELERATORS, FORMATS, BenchConfig

    d = BenchConfig()
    p = _add_parser(
        sub, "bench",
        help="time LiteRT models (.tflite or export folders) with the interpreter and XNNPACK",
        description="Time each PATH at each thread count: init, first invoke, warm-up, steady-state latency "
        "(p50/p90/p99, mean, std, min, max), inferences/s, peak RSS, XNNPACK partitions. Export folders run on "
        "text tokenized with their tokenizer; bare .tflite files on valid random ids. Several PATHs give a "
        "side-by-side table with ratios against the first; a PATH ending in .json is a report saved with "
        "--format json (e.g. from a Raspberry Pi) and joins the table without being re-run. "
        "Text-generation export folders are timed as LLMs instead: load, time to first token, prefill and decode "
        "tokens/s, peak RSS (--prompt-tokens, --new-tokens, --runtime), ratios on decode tokens/s; they do not "
        "share a table with other models. "
        "Needs only numpy and a LiteRT runtime. Exit codes: 0 success, 2 bad input.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=".tflite file, export folder or saved .json report")
    p.add_argument("--threads", type=_csv_ints, default=d.threads, help="thread counts, e.g. 1,2,4 (default 1)")
    p.add_argument("--runs", type=int, default=d.runs, help=f"minimum timed invokes (default {d.runs})")
    p.add_argument("--min-seconds", type=float, default=d.min_seconds,
                   help=f"minimum timed seconds per model and thread count (default {d.min_seconds})")
    p.add_argument("--warmup", type=int, default=d.warmup, help=f"untimed invokes before timing (default {d.warmup})")
    p.add_argument("--no-xnnpack", dest="xnnpack", action="store_false",
                   help="builtin kernels only (no default delegates): shows what XNNPACK buys")
    p.add_argument("--accelerator", default=None, metavar="|".join(ACCELERATORS),
                   help="run through LiteRT's CompiledModel on this accelerator; falls back to CPU with the "
                   "reason when it is not available (default: the classic interpreter)")
    p.add_argument("--input-file", default=None, metavar="FILE.npz",
                   help="fixed inputs: one array per signature input name (shapes/dtypes as `edgellm inspect` shows)")
    p.add_argument("--text-file", default=None, metavar="FILE",
                   help="export folders: one sample per line, each at the smallest signature that fits; "
                   "statistics per sample over the file")
    p.add_argument("--signature", default=None, help="signature to time (default: the export's sequence length)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the random inputs of bare .tflite files")
    p.add_argument("--interpreter-option", dest="interpreter_options", action="append", default=[],
                   metavar="KEY=VALUE", help="extra Interpreter keyword (CpuOptions field with --accelerator), "
                   "e.g. experimental_disable_delegate_clustering=true; repeatable")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--output", default=None, metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no notes on stderr")
    p.add_argument("--prompt-tokens", type=int, default=64,
                   help="text-generation exports: prompt length of the prefill test (llama-bench pp; default 64)")
    p.add_argument("--new-tokens", type=int, default=64,
                   help="text-generation exports: greedy tokens of the decode test (llama-bench tg; default 64)")
    p.add_argument("--runtime", choices=("litert", "litertlm"), default="litert",
                   help="text-generation exports: litert (edgellm's runner on the LiteRT interpreter, default) or "
                   "litertlm (the export's model.litertlm through LiteRT-LM's Engine + Session; extra 'litertlm')")
    p.add_argument("--weight-cache", default=None, metavar="FILE",
                   help="text-generation exports: keep XNNPACK's packed weights in FILE (made on the first load, "
                   "memory-mapped by later ones: faster loads)")
    p.add_argument("--speculative", default=None, metavar="lookup|draft:PATH",
                   help="text-generation exports: decode speculatively (as `edgellm generate --speculative`); the "
                   "row adds the acceptance rate and mean accepted tokens per step")
    p.add_argument("--draft-tokens", type=int, default=None, metavar="K",
                   help="with --speculative: at most K draft tokens per step")
    p.add_argument("--no-verify", dest="verify", action="store_false", help=_NO_VERIFY_HELP)
    p.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from edgellm.bench import benchmark
    from edgellm.bench.config import BenchConfig, parse_option
    from edgellm.bench.format import render_bench, write_output

    config = BenchConfig(
        threads=args.threads,
        runs=args.runs,
        min_seconds=args.min_seconds,
        warmup=args.warmup,
        xnnpack=args.xnnpack,
        accelerator=args.accelerator,
        input_file=args.input_file,
        text_file=args.text_file,
        signature=args.signature,
        seed=args.seed,
        interpreter_options=dict(parse_option(o) for o in args.interpreter_options),
        verify=args.verify,
        prompt_tokens=args.prompt_tokens,
        new_tokens=args.new_tokens,
        runtime=args.runtime,
        weight_cache=args.weight_cache,
        speculative=args.speculative,
        draft_tokens=args.draft_tokens,
    )
    show = sys.stderr.isatty() and not args.quiet

    def progress(job: int, jobs: int, label: str, fraction: float) -> None:
        if show:
            done = (job + fraction) / jobs
            bar = "#" * int(30 * done)
            print(f"\r[{bar:<30}] {job + 1}/{jobs} {label[:40]:<40}", end="", file=sys.stderr, flush=True)

    try:
        report = benchmark(args.paths, config, progress=progress)  # .json PATHs: saved reports, joined
    finally:
        if show:
            print("\r" + " " * 80 + "\r", end="", file=sys.stderr, flush=True)
    text = render_bench(report, args.format)
    if args.format != "table" and not args.quiet:
        for note in report.notes:
            print(f"edgellm bench: note: {note}", file=sys.stderr)
    if args.output:
        write_output(args.output, text, overwrite=args.overwrite)
        if not args.quiet:
            print(f"edgellm bench: wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


# ---------------------------------------------------------------------------------------------- inspect
def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub, "inspect",
        help="signatures, op census, XNNPACK partitions and size of a .tflite, export folder or .litertlm",
        description="Show what is inside a LiteRT model and why it may be slow: signatures (name, dtype, shape, "
        "quantization), op census by op and dtype (what stayed float in a quantized graph), how XNNPACK "
        "partitions the graph and which ops break it, size by dtype and the largest tensors. Reads the TFLite "
        "sections of a .litertlm bundle too. Exit codes: 0 success, 1 a --fail-on limit exceeded, 2 bad input.",
    )
    p.add_argument("path", metavar="PATH", help=".tflite file, export folder or .litertlm bundle")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table: for reading (repeated per-layer tensors on one line); json: every tensor, "
                   "for tools")
    p.add_argument("--fail-on", dest="fail_on", action="append", default=[], metavar="METRIC:N",
                   help="exit 1 when METRIC exceeds N; METRIC: partitions (XNNPACK partitions), undelegated "
                   "(ops left out of XNNPACK); repeatable. E.g. --fail-on partitions:1 as a CI gate")
    p.add_argument("--no-runtime", dest="runtime", action="store_false",
                   help="read the flatbuffer only; skip loading it to see the XNNPACK partitions")
    p.add_argument("--output", default=None, metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.add_argument("--no-verify", dest="verify", action="store_false", help=_NO_VERIFY_HELP)
    p.set_defaults(func=_run_inspect)


def _run_inspect(args: argparse.Namespace) -> int:
    from edgellm.bench.format import render_inspect, write_output
    from edgellm.bench.inspect import inspect, parse_fail_on

    limits = parse_fail_on(args.fail_on)
    report = inspect(args.path, runtime=args.runtime, verify=args.verify)
    text = render_inspect(report, args.format)
    if args.output:
        write_output(args.output, text, overwrite=args.overwrite)
    else:
        print(text)
    failures = report.failures(limits)
    for failure in failures:
        print(f"edgellm inspect: --fail-on exceeded: {failure}", file=sys.stderr)
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------------- generate
def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub, "generate",
        help="generate text with an LLM export folder (LiteRT, KV cache), streaming to stdout",
        description="Prefill the prompt and decode token by token through LiteRT, printing text as it comes; stops "
        "at end-of-sequence or --max-new-tokens. Greedy by default; --temperature > 0 samples (with --top-k, "
        "--top-p, --seed). Needs only the runtime (ai-edge-litert, tokenizers, jinja2). "
        "Exit codes: 0 success, 2 bad input.",
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR", help="a folder written by `edgellm export --task text-generation`")
    p.add_argument("--prompt", required=True, help="the text to continue (with --chat: the user's message)")
    p.add_argument("--chat", action="store_true", help="wrap the prompt as a user message in the model's chat template")
    p.add_argument("--max-new-tokens", type=int, default=128, metavar="N",
                   help="stop after N new tokens (earlier at end-of-sequence or when the KV cache is full)")
    p.add_argument("--greedy", action="store_true", help="argmax decoding (the default; excludes the sampling flags)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sample with this temperature, in (0, 100] (default: greedy)")
    p.add_argument("--top-k", type=int, default=None,
                   help="sample among the k most likely tokens (0 = all; default: all)")
    p.add_argument("--top-p", type=float, default=None,
                   help="nucleus sampling mass, in (0, 1] (default: 1, no nucleus filtering)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the sampler (same seed, same text; default: a fresh seed each run)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads")
    p.add_argument("--speculative", default=None, metavar="lookup|draft:PATH",
                   help="exact speculative decoding: draft tokens copied from the prompt and the text so far "
                   "(lookup; strong on rewriting, summarising, extracting) or proposed by a smaller export with "
                   "the same tokenizer (draft:PATH), checked by the export's verify_<T> signature in one call; "
                   "greedy text is the same as without (default: plain decoding)")
    p.add_argument("--draft-tokens", type=int, default=None, metavar="K",
                   help="with --speculative: at most K draft tokens per step (default: lookup as many as the "
                   "export verifies in one call, draft:PATH 4)")
    p.add_argument("--stats", action="store_true", help="print time to first token and tokens/s to stderr")
    p.add_argument("--weight-cache", default=None, metavar="FILE",
                   help="keep XNNPACK's packed weights in FILE (made on the first run, memory-mapped by later ones: "
                   "faster loads)")
    p.add_argument("--no-verify", dest="verify", action="store_false", help=_NO_VERIFY_HELP)
    p.set_defaults(func=_run_generate)


def _run_generate(args: argparse.Namespace) -> int:
    from edgellm.generate import GenerateConfig, SamplingConfig, load_llm

    sampling = SamplingConfig.from_flags(greedy=args.greedy, temperature=args.temperature, top_k=args.top_k,
                                         top_p=args.top_p, seed=args.seed)
    config = GenerateConfig(max_new_tokens=args.max_new_tokens, chat=args.chat, sampling=sampling,
                            speculative=args.speculative, draft_tokens=args.draft_tokens)
    llm = load_llm(args.output_dir, num_threads=args.threads, weight_cache=args.weight_cache, verify=args.verify)
    for piece in llm.generate(args.prompt, config):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    sys.stdout.flush()
    if args.stats and llm.last_stats is not None:
        s = llm.last_stats
        print(f"edgellm generate: {s.prompt_tokens} prompt tokens, {s.new_tokens} new ({s.stop_reason}); time to "
              f"first token {s.time_to_first_token_s * 1e3:.1f} ms, decode {s.decode_tokens_per_second:.1f} tokens/s"
              + (f"; {s.speculative}: acceptance {s.acceptance_rate:.2f}, {s.mean_accepted_tokens_per_step:.2f} "
                 "tokens per step" if s.speculative else ""), file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------- prune
def _add_prune(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub, "prune",
        help="remove the least important FFN neurons, attention heads or layers of an HF model folder (or zero small "
        "weights) before export",
        description="Prune a local Hugging Face model folder into OUTPUT_DIR, a smaller HF folder that `edgellm "
        "export` takes as it is, with compress.json recording what was removed and why.\n\n"
        "  ffn: X of each layer's FFN neurons\n"
        "  heads: X of each layer's KV groups (llama, mistral, qwen2, qwen3) or attention heads (encoders)\n"
        "    (both: the units the others can best make up for go, by optimal brain surgeon saliency on the data, and "
        "the linear reading them is refit by least squares; --no-refit: lowest mean |activation| / attention output "
        "norm first, only cut)\n"
        "  layers: X of the layers, lowest block influence (1 - cosine of hidden state in and out) first (decoders: "
        "the down projection of the block before each removed run is refit to add what the run added; --no-refit: "
        "only removed)\n"
        "  lowrank: each block linear as two thinner ones from its SVD, at the rank keeping X of its energy (sum "
        "of squared singular values), where that is smaller\n"
        "  magnitude: zero the X smallest-|w| weights of each block linear (LiteRT CPU runs it no faster, the "
        "file is not smaller)\n\n"
        "Examples:\n"
        "  edgellm prune --model all-MiniLM-L6-v2/ --method ffn --amount 0.3 out/minilm-ffn30\n"
        "  edgellm prune --model SmolLM2-135M-Instruct/ --method layers --amount 0.2 out/smollm2-l20\n\n"
        "Exit codes: 0 success, 2 bad input or unsupported model.",
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR",
                   help="folder to write; it must not exist or be empty unless --overwrite")
    p.add_argument("--model", required=True, help="HF model folder (encoders: bert, roberta, xlm-roberta, electra; "
                   "decoders: llama, mistral, qwen2, qwen3)")
    p.add_argument("--method", required=True, choices=("heads", "ffn", "layers", "lowrank", "magnitude"),
                   help="what to remove")
    p.add_argument("--amount", required=True, type=float, metavar="X", help="share removed, in (0, 1) (lowrank: "
                   "share of each linear's energy kept)")
    p.add_argument("--data", default=None, metavar="FILE",
                   help="texts the importance is measured on (.txt one per line, .jsonl, .csv, .tsv, or a datasets "
                   "folder); default: the packaged English corpus calibration/en.txt")
    p.add_argument("--text-column", default=None, help="column of --data (.jsonl/.csv/.tsv/datasets)")
    p.add_argument("--num-samples", type=int, default=None, metavar="N", help="texts taken from --data (default: "
                   "all, a seeded 4096 of a larger file; the refit wants several tokens per input of the linears "
                   "it fits, and warns with fewer)")
    p.add_argument("--recover-steps", type=int, default=0, metavar="N", help="then N steps of distillation from the "
                   "unpruned model on --data to recover (not with magnitude)")
    p.add_argument("--no-refit", dest="refit", action="store_false", help="heads/ffn: only cut the linear that "
                   "reads the pruned units (default: refit it by least squares on --data to its unpruned outputs); "
                   "layers: only remove (default for decoders: the block before a removed run absorbs it)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT_DIR if it is not empty (only a folder "
                   "edgellm wrote: an earlier prune output or an export)")
    p.set_defaults(func=_run_prune)


def _run_prune(args: argparse.Namespace) -> int:
    from edgellm.compress import PruneConfig, prune

    config = PruneConfig(method=args.method, amount=args.amount, data=args.data, text_column=args.text_column,
                         num_samples=args.num_samples, overwrite=args.overwrite, recover_steps=args.recover_steps,
                         refit=args.refit)
    print(prune(args.model, args.output_dir, config, progress=_stderr_progress("prune")).summary())
    return 0


# ---------------------------------------------------------------------------------------------- report
def _add_report(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub, "report",
        help="compare saved `edgellm bench --format json` reports (a fleet of boards) in one table with plots",
        description="Build report.md, a self-contained report.html (plots inlined; opens from a file) and "
        "report.json with the PNG plots from bench reports saved with `edgellm bench ... --format json --output "
        "FILE`: one entry per file, labelled by the board or CPU it ran on, speed-ups against the first file. "
        "Every file must time the same model(s).\n\n"
        "Example:\n"
        "  edgellm report x86.json pi4.json pi5.json --output out/fleet\n\n"
        "Exit codes: 0 success, 2 bad input (unreadable file, unknown schema version, different models); on bad "
        "input nothing is written and an earlier report in DIR is kept.",
    )
    p.add_argument("paths", nargs="+", metavar="FILE.json", help="bench report saved with --format json")
    p.add_argument("--output", default="report", metavar="DIR",
                   help="folder for report.md, report.html, report.json and report_plots/; other files in it are "
                   "left alone")
    p.add_argument("--title", default=None, help="report title (default: the model and the number of devices)")
    p.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from edgellm.report import entries_from_bench, write_report

    entries = entries_from_bench(args.paths)
    models = list(dict.fromkeys(r["model"].get("name") or r["model"].get("path") for e in entries
                                for r in e.bench["results"]))
    title = args.title or f"{', '.join(models)} on {len(args.paths)} bench report{'s' if len(args.paths) > 1 else ''}"
    paths = write_report(entries, args.output, title=title)
    for key in ("html", "md", "json"):
        print(paths[key])
    print(f"edgellm report: {len(entries)} entries, {len(paths['plots'])} plots in {paths['json'].parent}",
          file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------- optimize
def _csv_names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated recipe names such as fp32,int8, or auto; got "
                                         f"{text!r}")
    return () if names == ("auto",) else names


def _add_optimize(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub, "optimize",
        help="export a model with several recipes, time each, and keep the fastest (or smallest) inside a "
        "fidelity budget, with a report and a lock",
        description="Export --model with each recipe (validated as `edgellm export` does), bench each (as `edgellm "
        "bench` does), copy the fastest (or smallest) whose fidelity is inside --budget to OUTPUT_DIR/best, and "
        "write OUTPUT_DIR/report.md, report.html and report.json (with the lock `edgellm verify` rebuilds from). "
        "Every stage is kept in OUTPUT_DIR/.stages under a hash of its inputs and arguments: running again, or "
        "after Ctrl-C, skips what is done.\n\n"
        "Examples:\n"
        "  edgellm optimize --model all-MiniLM-L6-v2/ --budget cosine:0.99 out/minilm-opt\n"
        "  edgellm optimize --model SmolLM2.Q4_1.gguf --budget ppl:1.05 --threads 1,4 out/smollm2-opt\n\n"
        "Exit codes: 0 a recipe was picked, 2 bad input or a budget no recipe meets (the report is still "
        "written, best/ is left as it was).",
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR", nargs="?",  # may follow --device-results' files
                   help="folder to write: new, empty, or an earlier optimize OUTPUT_DIR (resumed)")
    p.add_argument("--model", default=None, help="HF model folder, or a .gguf file (a causal LM) "
                   "(default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--task", default="auto", help="as `edgellm export --task`; text-generation for LLMs")
    p.add_argument("--recipes", type=_csv_names, default=(), metavar="R,R,...|auto",
                   help="recipes to try, in order (ties go to the earlier); auto: fp32,fp16,int8-dynamic,int8,"
                   "int16x8 for encoders, fp32,int8-dynamic,int4 for LLMs (default: auto)")
    p.add_argument("--budget", default=None, metavar="METRIC:BOUND",
                   help="fidelity a recipe must keep: cosine:0.99 (encoders, worst output's mean cosine), top1:0.9, "
                   "ppl:1.05 or kl:0.03 (LLMs) (default: each recipe's own validation row only)")
    p.add_argument("--objective", default="latency", choices=("latency", "size"),
                   help="latency: lowest p50 (LLMs: highest decode tokens/s) at the first --threads; size: smallest "
                   "file")
    p.add_argument("--threads", type=_csv_ints, default=(1,), metavar="N,N,...", help="bench thread counts")
    p.add_argument("--sequence-length", type=int, default=128, metavar="N", help="encoders: tokens per input")
    p.add_argument("--sequence-lengths", type=_csv_ints, default=(), metavar="N,N,...",
                   help="encoders: length buckets, as `edgellm export`")
    p.add_argument("--calibration-data", metavar="FILE", default=None,
                   help="static recipes' samples (default: the packaged calibration/en.txt)")
    p.add_argument("--cache-length", type=int, default=512, metavar="N", help="text-generation: KV-cache positions")
    p.add_argument("--prefill-lengths", type=_csv_ints, default=(), metavar="T,T,...",
                   help="text-generation: prefill_<T> signatures (default: as `edgellm export`, 32,128)")
    p.add_argument("--device-results", nargs="+", default=(), metavar="FILE.json",
                   help="`edgellm bench --format json` results of these exports on other devices, added to the report")
    p.add_argument("--runs", type=int, default=50, metavar="N", help="bench: minimum timed invokes (encoders)")
    p.add_argument("--min-seconds", type=float, default=1.0, metavar="S", help="bench: minimum timed seconds")
    p.set_defaults(func=_run_optimize)


def _run_optimize(args: argparse.Namespace) -> int:
    from edgellm.optimize import OptimizeConfig, optimize

    _output_dir_after_device_results(args)
    options = {name: getattr(args, name) for name in OptimizeConfig.__dataclass_fields__}
    print(optimize(args.model, args.output_dir, progress=_stderr_progress("optimize"), **options).summary())
    return 0


def _output_dir_after_device_results(args: argparse.Namespace) -> None:
    """`--device-results A.json B.json OUTPUT_DIR`: argparse gives OUTPUT_DIR to --device-results; take it back."""
    if args.output_dir is not None:
        return
    files = list(args.device_results)
    if not files or files[-1].lower().endswith(".json"):
        raise ConfigError("optimize needs OUTPUT_DIR, the folder to write (after the options, or before "
                          "--device-results)")
    args.output_dir, args.device_results = files[-1], tuple(files[:-1])


# ---------------------------------------------------------------------------------------------- verify
def _add_verify(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub, "verify",
        help="rebuild an export (edgellm.json) or an optimize run (report.json) from its lock and compare byte "
        "for byte",
        description="Rebuild what LOCK records (an export folder's edgellm.json, or the report.json of `edgellm "
        "optimize`) into a temporary folder and print MATCH, or name each file that differs and why: an input "
        "file that changed, a library version that changed, a file changed on disk after it was written, or a "
        "stage that is not byte-deterministic (shown: size, first byte, JSON keys, op census).\n\n"
        "Examples:\n"
        "  edgellm verify out/minilm/edgellm.json\n"
        "  edgellm verify out/minilm-opt/report.json\n\n"
        "Exit codes: 0 MATCH, 1 a file differs, 2 bad input (no lock, an input file missing).",
    )
    p.add_argument("lock", metavar="LOCK", help="an export's edgellm.json, or an optimize OUTPUT_DIR/report.json")
    p.set_defaults(func=_run_verify)


def _run_verify(args: argparse.Namespace) -> int:
    from edgellm.lock import verify

    report = verify(args.lock, progress=_stderr_progress("verify"))
    print(report.summary())
    return 0 if report.matched else 1


# ---------------------------------------------------------------------------------------------- distill
def _add_distill(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub, "distill",
        help="train a smaller student (fewer layers of the teacher, or a given folder) to imitate an HF model",
        description="Distill the HF folder --teacher into OUTPUT_DIR, a smaller HF folder that `edgellm export` "
        "takes as it is. Loss: alpha*hard + (1-alpha)*T^2*KL(teacher || student) on logits (causal LMs: hard = "
        "next-token cross-entropy); encoders: a hidden-state term (cosine or MSE, per token and mean-pooled) to the "
        "teacher's output. OUTPUT_DIR keeps a checkpoint (distill.ckpt, every --checkpoint-every steps and on "
        "Ctrl-C); --resume continues it bit-for-bit.\n\n"
        "Examples:\n"
        "  edgellm distill --teacher all-MiniLM-L6-v2/ --student-layers 3 --max-minutes 45 out/minilm-l3\n"
        "  edgellm distill --teacher SmolLM2-135M-Instruct/ --student-layers 24 --data teacher out/smollm2-l24\n"
        "  edgellm distill --teacher all-MiniLM-L6-v2/ --student-layers 3 --max-minutes 45 --resume out/minilm-l3\n\n"
        "Exit codes: 0 success, 2 bad input, 130/143 stopped by Ctrl-C/SIGTERM (checkpoint saved).",
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR", help="folder to write (checkpoint, then the student)")
    p.add_argument("--teacher", required=True, help="HF model folder (encoders: bert, roberta, xlm-roberta, "
                   "electra; decoders: llama, mistral, qwen2, qwen3)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--student", default=None, metavar="PATH", help="HF folder of the student (the teacher's "
                     "tokenizer, not wider)")
    who.add_argument("--student-layers", type=int, default=None, metavar="N", help="the student is the teacher's "
                     "every k-th layer, N of them (DistilBERT style)")
    p.add_argument("--student-hidden", type=int, default=None, metavar="H", help="with --student-layers: a "
                   "narrower hidden size (a multiple of the head size)")
    p.add_argument("--data", default=None, metavar="FILE|teacher", help="training text (.txt one per line, .jsonl, "
                   ".csv, .tsv, a datasets folder), or 'teacher' (causal LMs: replies the teacher samples to the "
                   "chat-templated calibration sentences); default: calibration/en.txt")
    p.add_argument("--text-column", default=None, help="column of --data (.jsonl/.csv/.tsv/datasets)")
    p.add_argument("--num-samples", type=int, default=None, metavar="N", help="texts used (default: all; "
                   "'teacher': 64)")
    end = p.add_mutually_exclusive_group()
    end.add_argument("--epochs", type=int, default=None, metavar="E", help="passes over the data (default: 1)")
    end.add_argument("--max-steps", type=int, default=None, metavar="S", help="optimizer steps")
    end.add_argument("--max-minutes", type=float, default=None, metavar="M", help="minutes of training")
    d = _distill_defaults()
    p.add_argument("--temperature", type=float, default=d.temperature, metavar="T", help="softmax temperature")
    p.add_argument("--alpha", type=float, default=d.alpha, metavar="A", help="weight of the hard term")
    p.add_argument("--hidden-loss", choices=("cosine", "mse"), default=d.hidden_loss, help="encoders' "
                   "hidden-state term")
    p.add_argument("--lr", type=float, default=d.lr, help="AdamW learning rate")
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps, metavar="N", help="linear warm-up steps")
    p.add_argument("--lr-schedule", choices=("constant", "linear"), default=d.lr_schedule,
                   help="after warm-up: a constant rate, or linear down to 0 at the end of the run (of --max-steps, "
                   "--epochs or --max-minutes)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, metavar="B", help="texts per step")
    p.add_argument("--max-length", type=int, default=d.max_length, metavar="N", help="tokens per text")
    p.add_argument("--freeze-embeddings", action="store_true", help="keep the input embeddings as the teacher's "
                   "(faster on CPU)")
    p.add_argument("--seed", type=int, default=d.seed, metavar="S", help="data order and sampling")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, metavar="N",
                   help="steps between checkpoints")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue OUTPUT_DIR's checkpoint (same settings)")
    again.add_argument("--overwrite", action="store_true", help="replace OUTPUT_DIR (only a folder edgellm wrote)")
    p.set_defaults(func=_run_distill)


def _distill_defaults():
    from edgellm.compress.distill import DistillConfig

    return DistillConfig(student_layers=1)


def _run_distill(args: argparse.Namespace) -> int:
    from edgellm.compress import DistillConfig, distill

    config = DistillConfig(
        student=args.student, student_layers=args.student_layers, student_hidden=args.student_hidden,
        data=args.data, text_column=args.text_column, num_samples=args.num_samples, max_length=args.max_length,
        epochs=args.epochs, max_steps=args.max_steps, max_minutes=args.max_minutes, temperature=args.temperature,
        alpha=args.alpha, hidden_loss=args.hidden_loss, lr=args.lr, warmup_steps=args.warmup_steps,
        lr_schedule=args.lr_schedule,
        batch_size=args.batch_size, freeze_embeddings=args.freeze_embeddings, seed=args.seed,
        checkpoint_every=args.checkpoint_every, resume=args.resume, overwrite=args.overwrite)
    print(distill(args.teacher, args.output_dir, config, progress=_stderr_progress("distill")).summary())
    return 0


# ---------------------------------------------------------------------------------------------- pack
def _add_pack(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub, "pack",
        help="copy a checked export folder to where the Android demo reads it (its assets, or a folder to adb push)",
        description="Check every file of EXPORT_DIR against the sizes and sha256 in its edgellm.json, copy it to "
        "OUTPUT_DIR, check the copy, then rename it into place (nothing half-written). An export made before "
        "edgellm recorded hashes is copied unchecked, and the summary says so.\n\n"
        "Examples:\n"
        "  edgellm pack out/smollm2 android_demo/app/src/main/assets/edgellm --overwrite   # bundled in the APK\n"
        "  edgellm pack out/minilm /tmp/minilm && adb push /tmp/minilm /data/local/tmp/edgellm\n\n"
        "Exit codes: 0 packed, 2 bad input (not an export, a file that differs from edgellm.json, OUTPUT_DIR not "
        "replaceable).",
    )
    p.add_argument("export_dir", metavar="EXPORT_DIR", help="a folder written by `edgellm export`")
    p.add_argument("output_dir", metavar="OUTPUT_DIR",
                   help="where to copy it, e.g. android_demo/app/src/main/assets/edgellm")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT_DIR when it holds an earlier export")
    p.set_defaults(func=_run_pack)


def _run_pack(args: argparse.Namespace) -> int:
    from edgellm.bundle.pack import pack

    print(pack(args.export_dir, args.output_dir, overwrite=args.overwrite).summary())
    return 0


# ---------------------------------------------------------------------------------------------- main
def _add_qat(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub, "qat",
        help="quantization-aware fine-tuning: a causal LM's decoder weights on the int4 export grid, or an "
        "encoder trained through the static int8 graph",
        description="int4 (causal LMs, HF folder or .gguf): fine-tune so that every decoder linear (down_proj too) "
        "sits on the grid `edgellm export --quantize int4` uses (symmetric, blocks of 32, bfloat16 scales), training "
        "each decoder block's weights and scales to reproduce the float block's outputs, one block at a time; "
        "`edgellm export --quantize int4` on OUTPUT_DIR keeps the trained weights bit for bit.\n"
        "int8 (encoders): fine-tune against the float model through a simulation of what `edgellm export "
        "--quantize int8` builds (smoothed inputs, int8 per-channel weights, calibrated per-tensor int8 "
        "activations, the architecture's dynamic-range projections), on the sentence embedding's cosine.\n"
        "OUTPUT_DIR is an HF folder; compress.json records the run.\n\n"
        "Example:\n"
        "  edgellm qat --model SmolLM2-135M-Instruct/ --quantization-aware int4 --max-minutes 50 out/smollm2-qat\n"
        "  edgellm export --model out/smollm2-qat --task text-generation --quantize int4 out/smollm2-int4\n"
        "  edgellm qat --model all-MiniLM-L6-v2/ --quantization-aware int8 out/minilm-qat\n"
        "  edgellm export --model out/minilm-qat --quantize int8 out/minilm-int8\n\n"
        "Exit codes: 0 success, 2 bad input or unsupported model.",
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR",
                   help="folder to write; it must not exist or be empty unless --overwrite")
    p.add_argument("--model", required=True, help="int4: a causal LM, HF folder or .gguf (llama, mistral, qwen2, qwen3, "
                   "...); int8: an encoder's HF folder (bert, roberta, ...)")
    p.add_argument("--quantization-aware", required=True, choices=("int4", "int8-dynamic", "int8"), metavar="RECIPE",
                   help="the export recipe whose grid is trained on: int4 (causal LMs) or int8 (encoders); "
                   "int8-dynamic is not built yet")
    p.add_argument("--data", default=None, metavar="FILE",
                   help="training texts (.txt one per line, .jsonl, .csv, .tsv, or a datasets folder); default: "
                   "the packaged English corpus calibration/en.txt")
    p.add_argument("--text-column", default=None, help="column of --data (.jsonl/.csv/.tsv/datasets)")
    p.add_argument("--num-samples", type=int, default=None, metavar="N",
                   help="texts taken from --data (default: int4 128, int8 every text)")
    p.add_argument("--max-steps", type=int, default=None, metavar="S",
                   help="int4: Adam steps per decoder block (default 200); int8: steps in all (default 600)")
    p.add_argument("--max-minutes", type=float, default=None, metavar="M",
                   help="wall-time budget of the whole run, shared evenly by the blocks still to train")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of the weights: int4 3e-4 (scales: 10x), int8 5e-6")
    p.add_argument("--seed", type=int, default=0, help="data order and sample choice")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT_DIR if it is not empty (only a folder "
                   "edgellm wrote)")
    p.set_defaults(func=_run_qat)


def _run_qat(args: argparse.Namespace) -> int:
    from edgellm.compress.qat import QatConfig, qat

    config = QatConfig(quantization_aware=args.quantization_aware, data=args.data, text_column=args.text_column,
                       num_samples=args.num_samples, max_steps=args.max_steps, max_minutes=args.max_minutes,
                       lr=args.lr, seed=args.seed, overwrite=args.overwrite)
    print(qat(args.model, args.output_dir, config, progress=_stderr_progress("qat")).summary())
    return 0


_COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_add_export, _add_bench, _add_inspect,
                                                                       _add_generate, _add_prune,
                                                                       _add_report, _add_optimize, _add_verify,
                                                                       _add_distill, _add_pack, _add_qat)


class _Parser(argparse.ArgumentParser):
    """A bad command line prints the error and a usage hint (two lines), not the whole usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\nrun `{self.prog} --help` for usage\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edgellm", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    from edgellm import __version__

    parser.add_argument("--version", action="version", version=f"edgellm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code: 0, an ``EdgeLLMError``'s (one line on stderr), 2 for a bad command line
    (the error and a usage hint), 130 after Ctrl-C and 143 after SIGTERM (one line; temporary folders removed)."""
    from edgellm.signals import EXIT_CODES, Terminated, stop_on_signals

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with stop_on_signals():
            return args.func(args)
    except EdgeLLMError as e:
        if args.debug:
            raise
        print(f"edgellm {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except (KeyboardInterrupt, Terminated) as e:
        import signal

        name = "SIGTERM" if isinstance(e, Terminated) else "SIGINT"
        print(f"edgellm {args.command}: stopped by {name}; nothing was left half-written", file=sys.stderr)
        return EXIT_CODES[signal.Signals[name]]


if __name__ == "__main__":
    sys.exit(main())
