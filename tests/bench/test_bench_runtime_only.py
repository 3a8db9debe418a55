"""The bench path imports numpy and the interpreter only: no torch, transformers or tensorflow."""

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "tensorflow", "litert_torch", "ai_edge_quantizer")

_HELP = """
import sys, contextlib, io
import edgellm.cli
with contextlib.redirect_stdout(io.StringIO()):
    try:
        edgellm.cli.main(["bench", "--help"])
    except SystemExit:
        pass
print(sorted(m for m in sys.modules if m.split(".")[0] in %r))
""" % (HEAVY,)

# Make the heavy packages unimportable, then run a real benchmark and an inspect.
_BLOCKED = """
import sys, json
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in %r:
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
from edgellm.cli import main
rc1 = main(["bench", sys.argv[1], "--runs", "2", "--min-seconds", "0", "--warmup", "0", "--quiet", "--format", "json",
            "--output", sys.argv[2]])
rc2 = main(["inspect", sys.argv[1], "--format", "json", "--output", sys.argv[2] + ".inspect"])
print(json.dumps({"rc": [rc1, rc2], "heavy": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
""" % (HEAVY, HEAVY)


def test_help_imports_nothing_heavy():
    r = subprocess.run([sys.executable, "-c", _HELP], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_importtime_shows_no_heavy_module():
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "edgellm", "bench", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines() if "|" in line}
    assert not imported & set(HEAVY), imported & set(HEAVY)


def test_bench_and_inspect_run_with_heavy_packages_blocked(tiny_export, tmp_path):
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-c", _BLOCKED, str(tiny_export), str(out)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result == {"rc": [0, 0], "heavy": []}
    report = json.loads(out.read_text())
    assert report["results"][0]["inputs"]["source"] == "text"  # tokenizers is light and stays allowed
