#!/usr/bin/env bash
# Prove the runtime-only install on Debian arm64 (what 64-bit Raspberry Pi OS is), emulated with
# qemu-user-static in a debootstrap chroot: `pip install <repo>` without extras must bring numpy and
# ai-edge-litert and no torch, and `edgellm bench` / `edgellm inspect` must run and write valid JSON.
# Functional only: emulated timings mean nothing.
#
# Usage (root; Debian/Ubuntu host; ~15 min the first time, ~3 min after):
#   scripts/pi_runtime_check.sh
# Environment:
#   BUILD        work folder (default build/pi_runtime_check; build/ is gitignored); the rootfs is kept
#   HOST_PYTHON  a Python with edgellm[convert] (torch, litert-torch) to make the tiny test models (default python3)
#   MIRROR       Debian mirror for debootstrap (default: the first Debian URI of this host's apt sources)
#   SUITE        Debian suite (default bookworm)
#   FRESH=1      rebuild the rootfs from scratch
# Exit codes: 0 all checks passed, 1 a check failed, 3 this host cannot emulate arm64 (message says why).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$REPO/build/pi_runtime_check}"
ROOTFS="$BUILD/rootfs-arm64"
SUITE="${SUITE:-bookworm}"
HOST_PYTHON="${HOST_PYTHON:-python3}"
MOUNTED=()

say() { printf '\n== %s\n' "$*"; }
die() { printf 'pi_runtime_check: %s\n' "$*" >&2; exit "${2:-1}"; }

cleanup() {
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

[[ $EUID -eq 0 ]] || die "run as root (debootstrap, chroot and binfmt registration need it)" 3

# ---------------------------------------------------------------------------------------------- host tools
say "host tools: qemu-user-static, debootstrap, binfmt-support"
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
[[ -e /usr/bin/qemu-aarch64-static || -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ]] || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# arm64 binaries run through binfmt_misc: mount it if the container has not, then enable qemu-aarch64.
if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
    die "binfmt_misc is not mounted and cannot be mounted here (mount -t binfmt_misc failed: the sandbox does not allow it); arm64 binaries cannot run" 3
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] ||
  die "qemu-aarch64 is not registered in binfmt_misc (update-binfmts --enable qemu-aarch64 failed)" 3
grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "qemu-aarch64 binfmt entry is disabled" 3

# ---------------------------------------------------------------------------------------------- rootfs
if [[ -z "${MIRROR:-}" ]]; then
  # first Debian archive URI of this host's apt sources (deb822 .sources or one-line .list), not -security
  MIRROR="$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.list 2>/dev/null | grep -oE 'https?://[^ ]+' | grep -v -- '-security' |
    grep -m1 -E '/debian/?$' || true)"
fi
[[ -n "$MIRROR" ]] || die "no Debian mirror found in /etc/apt/sources*; set MIRROR=http://<mirror>/debian" 3

if [[ "${FRESH:-0}" == 1 ]]; then rm -rf "$ROOTFS"; fi
if [[ ! -e "$ROOTFS/.edgellm-rootfs-done" ]]; then
  say "debootstrap --arch=arm64 $SUITE (from this host's Debian mirror)"
  rm -rf "$ROOTFS"
  mkdir -p "$ROOTFS"
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$BUILD/debootstrap.log" 2>&1 ||
    die "debootstrap failed; last lines of $BUILD/debootstrap.log: $(tail -3 "$BUILD/debootstrap.log" | tr '\n' ' ')"
  touch "$ROOTFS/.edgellm-rootfs-done"
fi

inchroot() { chroot "$ROOTFS" /usr/bin/env -i HOME=/root PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"; }

for m in proc sys dev; do
  mkdir -p "$ROOTFS/$m"
  if [[ $m == proc ]]; then mount -t proc proc "$ROOTFS/proc"; else mount --rbind "/$m" "$ROOTFS/$m"; fi
  MOUNTED+=("$ROOTFS/$m")
done
# qemu-user shows arm64 programs the host's own /proc/cpuinfo (x86 here). The cpuinfo library inside LiteRT
# parses it when an Interpreter is created (even with XNNPACK off) and segfaults on x86 content; a real Pi
# has an ARM cpuinfo. So a Raspberry Pi 4's cpuinfo stands in (host.cpu then reads "Cortex-A72").
# STANDIN_CPUINFO=0 keeps the host's, to see the crash.
if [[ "${STANDIN_CPUINFO:-1}" == 1 ]]; then
  {
    for cpu in 0 1; do
      printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$cpu"
      printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    done
    printf 'Hardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n'
  } >"$BUILD/cpuinfo-pi4"
  mount --bind "$BUILD/cpuinfo-pi4" "$ROOTFS/proc/cpuinfo"
  MOUNTED+=("$ROOTFS/proc/cpuinfo")
fi
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# the host's CA bundle, so pip in the chroot trusts what the host trusts
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/host-ca.crt"

say "arm64 userland: $(inchroot uname -m), $(inchroot python3 --version)"
[[ "$(inchroot uname -m)" == aarch64 ]] || die "the chroot does not run as aarch64"

# ---------------------------------------------------------------------------------------------- install
say "runtime-only install: pip install <repo> (committed HEAD, no extras)"
rm -rf "$ROOTFS/opt/edgellm-src" && mkdir -p "$ROOTFS/opt/edgellm-src"
git -C "$REPO" archive HEAD | tar -x -C "$ROOTFS/opt/edgellm-src"
rm -rf "$ROOTFS/opt/venv"
inchroot python3 -m venv /opt/venv
inchroot pip install -q /opt/edgellm-src >"$BUILD/pip.log" 2>&1 ||
  die "pip install failed; see $BUILD/pip.log: $(tail -3 "$BUILD/pip.log" | tr '\n' ' ')"
inchroot pip list --format=freeze >"$BUILD/pip-freeze.txt"
echo "installed: $(tr '\n' ' ' <"$BUILD/pip-freeze.txt")"
for heavy in torch transformers tensorflow litert-torch; do
  if grep -qi "^${heavy}==" "$BUILD/pip-freeze.txt"; then die "$heavy was installed by the runtime-only install"; fi
done

# ---------------------------------------------------------------------------------------------- models
say "tiny models (made on the host with $HOST_PYTHON; x86 conversion, the .tflite is portable)"
mkdir -p "$BUILD/models"
if [[ ! -e "$BUILD/models/tiny-export/edgellm.json" || ! -e "$BUILD/models/tiny-llm/edgellm.json" ]]; then
  "$HOST_PYTHON" -c "import litert_torch" 2>/dev/null ||
    die "HOST_PYTHON=$HOST_PYTHON cannot import litert_torch; point it at a Python with edgellm[convert]"
  "$HOST_PYTHON" "$REPO/benchmarks/tiny_models.py" "$BUILD/models" >"$BUILD/models.log" 2>&1 ||
    die "making the tiny models failed; see $BUILD/models.log"
fi
rm -rf "$ROOTFS/opt/models" && cp -r "$BUILD/models" "$ROOTFS/opt/models"

# ---------------------------------------------------------------------------------------------- checks
say "edgellm bench --help (cold start, emulated: the time means nothing)"
inchroot sh -c 'start=$(date +%s%N); edgellm bench --help >/dev/null; end=$(date +%s%N); echo "$(( (end - start) / 1000000 )) ms under qemu"'
inchroot python -X importtime -m edgellm bench --help 2>"$BUILD/importtime.txt" >/dev/null
if grep -E '\| +(torch|transformers|tensorflow)(\.|$)' "$BUILD/importtime.txt"; then
  die "bench --help imported a heavy module (see $BUILD/importtime.txt)"
fi

run() { echo "\$ $*"; inchroot "$@"; }
run edgellm bench /opt/models/tiny.tflite --threads 1,2 --runs 3 --min-seconds 0 --warmup 1 --quiet
run edgellm bench /opt/models/tiny.tflite /opt/models/tiny-export --runs 3 --min-seconds 0 --warmup 1 \
  --format json --output /tmp/bench.json --overwrite --quiet
run edgellm inspect /opt/models/tiny-export --format json --output /tmp/inspect.json --overwrite
run edgellm inspect /opt/models/tiny.tflite --fail-on partitions:4 | tail -8
set +e
inchroot edgellm inspect /opt/models/tiny.tflite --fail-on partitions:0 >/dev/null 2>&1
gate=$?
printf 'garbage' >"$ROOTFS/tmp/bad.tflite"
inchroot edgellm bench /tmp/bad.tflite --quiet 2>"$BUILD/bad.err"
bad=$?
set -e
[[ $gate == 1 ]] || die "--fail-on partitions:0 should exit 1, got $gate"
[[ $bad == 2 ]] || die "a garbage .tflite should exit 2, got $bad"
echo "corrupt file: exit $bad, $(cat "$BUILD/bad.err")"

say "JSON checks"
cp "$ROOTFS/tmp/bench.json" "$ROOTFS/tmp/inspect.json" "$BUILD/"
inchroot python - <<'EOF'
import json
b = json.load(open("/tmp/bench.json"))
i = json.load(open("/tmp/inspect.json"))
assert b["schema"] == "edgellm.bench/1", b["schema"]
assert b["host"]["arch"] == "aarch64" and b["host"]["python_bits"] == 64, b["host"]
assert b["host"]["cpu"] == "Cortex-A72", b["host"]  # parsed from the (stand-in) ARM /proc/cpuinfo
assert b["runtime"]["name"] == "ai-edge-litert", b["runtime"]
for r in b["results"]:
    assert set(r["latency_ms"]) == {"p50", "p90", "p99", "mean", "std", "min", "max"}
    assert r["xnnpack"] is True and r["delegate_partitions"] >= 1, r
    assert r["init_ms"] > 0 and r["first_invoke_ms"] > 0 and r["peak_rss_mb"] > 0
src = [r["inputs"]["source"] for r in b["results"]]
assert src[0] == "random", src
print("bench.json ok:", [(r["model"]["name"], r["inputs"]["source"], r["latency_ms"]["p50"]) for r in b["results"]])
print("  export folder inputs:", b["results"][1]["inputs"])
m = i["models"][0]
assert m["xnnpack"]["partitions"] >= 1 and m["signatures"][0]["inputs"]
print("inspect.json ok: partitions", m["xnnpack"]["partitions"], "delegated",
      m["xnnpack"]["delegated_ops"], "of", m["xnnpack"]["total_ops"])
EOF

say "optional: with the tokenizers package, the export folder runs on tokenized text"
if inchroot pip install -q tokenizers >>"$BUILD/pip.log" 2>&1; then
  run edgellm bench /opt/models/tiny-export --runs 3 --min-seconds 0 --warmup 1 --format json \
    --output /tmp/bench-tok.json --overwrite --quiet
  inchroot python -c 'import json; r = json.load(open("/tmp/bench-tok.json"))["results"][0]; assert r["inputs"]["source"] == "text", r["inputs"]; print("tokenized text:", r["inputs"])'
else
  echo "tokenizers could not be installed for aarch64 here (see $BUILD/pip.log); skipped"
fi

say "text generation: pip install <repo>[llm] (tokenizers, jinja2), then generate and bench a tiny LLM export"
if inchroot pip install -q "/opt/edgellm-src[llm]" >>"$BUILD/pip.log" 2>&1; then
  run edgellm generate /opt/models/tiny-llm --prompt "hello world" --chat --max-new-tokens 8 --stats
  run edgellm bench /opt/models/tiny-llm --prompt-tokens 8 --new-tokens 8 --format json --output /tmp/bench-llm.json \
    --overwrite --quiet
  inchroot python - <<'EOF'
import json
r = json.load(open("/tmp/bench-llm.json"))["results"][0]
assert r["runner_mode"] == "compiled", (r["runner_mode"], r["runner_fallback_reason"])  # CompiledModel on aarch64
assert r["decode_tokens_per_second"] > 0 and len(r["tokens"]) == 8, r
print("bench-llm.json ok: runner", r["runner_mode"], "tokens", r["tokens"])
EOF
else
  echo "the llm extra could not be installed for aarch64 here (see $BUILD/pip.log); skipped"
fi

say "PASS: runtime-only install, bench and inspect work on Debian $SUITE arm64 (emulated)"
