"""edgellm's runtime vs LiteRT-LM on the same export: decode tokens/s, time to first token, and a chat check.
Prints the figure in benchmarks/README.md, "edgellm vs LiteRT-LM".

    python benchmarks/litertlm_compare.py out/smollm2_int8 [more exports] [--threads 1,2] [--rounds 3]
        [--prompt-tokens 64] [--new-tokens 64] [--add-bundle] [--json FILE]

Needs the ``litertlm`` extra (litert-lm-api). Per export and thread count, ``--rounds`` rounds each run ours
(``edgellm.bench.llm.bench_llm``: burn-in + median of 3 generations) then LiteRT-LM's Engine + Session on the
export's model.litertlm (``edgellm.bench.litertlm.bench_litertlm``, same prompt text, same lengths, greedy),
each in its own process, alternating, so load on a shared machine hits both alike; the ratio is per round.
``--add-bundle`` first writes model.litertlm into exports made before edgellm wrote one (needs transformers).

The chat check sends each of a few prompts through LiteRT-LM's Conversation API (the bundle's own chat template,
greedy) and through ``edgellm generate --chat --greedy``, and prints both replies and whether they agree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CHAT_PROMPTS = ("What is the capital of France?", "Name three primary colors.",
                "Write one sentence about the sea.")


def _one(kind: str, folder: str, threads: int, args) -> dict:
    from edgellm.bench.llm import LlmBenchConfig

    config = LlmBenchConfig(threads=threads, prompt_tokens=args.prompt_tokens, new_tokens=args.new_tokens)
    if kind == "ours":
        from edgellm.bench.llm import bench_llm

        row = bench_llm(folder, config)
        row.pop("tokens")
        return row
    from edgellm.bench.litertlm import bench_litertlm

    return bench_litertlm(folder, config)


def _chat(folder: str, max_new_tokens: int) -> list[dict]:
    import tempfile

    import litert_lm

    from edgellm.generate import GenerateConfig, load_llm

    llm = load_llm(folder)
    litert_lm.set_min_log_severity(litert_lm.LogSeverity.ERROR)
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        engine = litert_lm.Engine(str(Path(folder) / "model.litertlm"), cache_dir=cache)
        for prompt in CHAT_PROMPTS:
            ours = "".join(llm.generate(prompt, GenerateConfig(max_new_tokens=max_new_tokens, chat=True)))
            prompt_ids = llm.tokenizer.encode_chat([{"role": "user", "content": prompt}])
            conv = engine.create_conversation(sampler_config=litert_lm.SamplerConfig(top_k=1),
                                              max_output_tokens=max_new_tokens)
            reply = conv.send_message(prompt)
            theirs = _text(reply)
            rows.append({"prompt": prompt, "ours": ours.strip(), "litertlm": theirs.strip(),
                         "same_text": ours.strip() == theirs.strip(), "our_prompt_tokens": len(prompt_ids),
                         "litertlm_tokens_in_context": conv.token_count})
            conv.close()
        engine.close()
    return rows


def _text(reply) -> str:
    content = reply.get("content") if isinstance(reply, dict) else reply
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return content if isinstance(content, str) else str(reply)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("exports", nargs="+", type=Path)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--chat-tokens", type=int, default=48)
    p.add_argument("--add-bundle", action="store_true", help="write model.litertlm into exports that lack one")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child: kind|export|threads or chat|export
    args = p.parse_args(argv)
    if args.one:
        kind, folder, *rest = args.one.split("|")
        out = _chat(folder, args.chat_tokens) if kind == "chat" else _one(kind, folder, int(rest[0]), args)
        print(json.dumps(out))
        return 0

    def child(spec: str):
        out = subprocess.run([sys.executable, __file__, "x", "--one", spec, "--prompt-tokens", str(args.prompt_tokens),
                              "--new-tokens", str(args.new_tokens), "--chat-tokens", str(args.chat_tokens)],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    report = {"settings": vars(args) | {"exports": [str(e) for e in args.exports], "json": None}, "speed": [],
              "chat": {}}
    for folder in args.exports:
        if not (folder / "model.litertlm").is_file():
            if not args.add_bundle:
                p.error(f"{folder} has no model.litertlm; re-export it or pass --add-bundle")
            from edgellm.bundle.litertlm import add_litertlm

            print(f"{folder}: wrote {add_litertlm(folder)['file']}", flush=True)
    for folder in args.exports:
        for t in (int(x) for x in args.threads.split(",")):
            rounds = []
            for r in range(args.rounds):
                ours, theirs = child(f"ours|{folder}|{t}"), child(f"litertlm|{folder}|{t}")
                rounds.append({"ours": ours, "litertlm": theirs})
                print(f"{folder.name:<16} {t} thread(s) round {r + 1}: decode ours {ours['decode_tokens_per_second']:6.1f}"
                      f" / LiteRT-LM {theirs['decode_tokens_per_second']:6.1f} tok/s "
                      f"(x{ours['decode_tokens_per_second'] / theirs['decode_tokens_per_second']:.2f}); TTFT ours "
                      f"{ours['time_to_first_token_ms']:6.1f} / LiteRT-LM {theirs['time_to_first_token_ms']:6.1f} ms; "
                      f"load {ours['load_s']:.2f} / {theirs['load_s']:.2f} s; prompt tokens "
                      f"{ours['prompt_tokens']} / {theirs['prompt_tokens_run']}", flush=True)
            decode = [x["ours"]["decode_tokens_per_second"] / x["litertlm"]["decode_tokens_per_second"] for x in rounds]
            ttft = [x["ours"]["time_to_first_token_ms"] / x["litertlm"]["time_to_first_token_ms"] for x in rounds]
            summary = {"export": str(folder), "threads": t, "rounds": rounds,
                       "decode_ratio_ours_over_litertlm": decode, "ttft_ratio_ours_over_litertlm": ttft}
            report["speed"].append(summary)
            print(f"{folder.name:<16} {t} thread(s): ours / LiteRT-LM decode x{statistics.median(decode):.2f} "
                  f"(rounds {', '.join(f'{v:.2f}' for v in decode)}), TTFT x{statistics.median(ttft):.2f} "
                  f"(lower is better for ours)", flush=True)
        chat = child(f"chat|{folder}")
        report["chat"][str(folder)] = chat
        for row in chat:
            print(f"{folder.name:<16} chat {row['prompt']!r}: {'same' if row['same_text'] else 'DIFFERENT'}\n"
                  f"    ours:      {row['ours']!r}\n    LiteRT-LM: {row['litertlm']!r}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
