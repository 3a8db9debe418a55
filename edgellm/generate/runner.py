"""Run an LLM export (prefill_<T> + decode signatures, external KV cache) through LiteRT.

Runtime only: numpy and ai-edge-litert (or tflite-runtime), nothing else (the same rule as ``edgellm.bench``).

The export's signatures take the KV cache as inputs and return only the K/V rows of the tokens they process
(see ``edgellm.convert.decoder.layers``). A decode step at position p runs ``decode_<W>`` for the smallest window
W >= p the export has (it reads cache positions [0, W) only), else ``decode``. Ways to drive them:

``compiled``           The same, on LiteRT's ``CompiledModel`` (XNNPACK, threads) instead of the Interpreter: the
                       views are of its managed host buffers, and every signature is given decode's KV-cache
                       buffers, so there is one cache and no per-signature copy to bring up to date. XNNPACK's
                       in-memory weight cache packs each weight once for all signatures (the Interpreter packs
                       them once per signature): SmolLM2 int8 with 5 signatures peaks at 316 MB of RSS instead of
                       932 MB (benchmarks/llm_decode.py --modes compiled,inplace).
``inplace``            Each signature's tensors are allocated once and held as numpy views of the interpreter's
                       own buffers. A call writes its token ids and positions into the views and invokes the
                       subgraph; then only the new K/V rows are written into the cache views (2 x layers small
                       copies). Nothing is resized, allocated or copied cache-sized per step. Every signature has
                       its own cache tensors: decode's are the cache; a prefill signature's copy is brought up to
                       date (the rows it lacks, copied from decode's) only when it is called.
``copy``               The classic signature runner: every call resizes, re-allocates and copies the whole cache
                       in (what a naive loop does; kept as the fallback and as the baseline for bench).
``auto`` (default)     ``compiled`` where ai-edge-litert's CompiledModel is there and its buffers can be viewed
                       (checked at load), else ``inplace`` (tflite-runtime, older ai-edge-litert); ``mode`` then
                       names the one used and ``fallback_reason`` says why.

All give bit-identical logits (tests/generate checks it).

The compiled views: ai-edge-litert 2.3's TensorBuffer can only be written and read whole from Python, and its
zero-copy host-memory buffers are 1-D, which the export's static [1, T] inputs refuse ("Cannot auto-resize
tensor"). So the buffers are the model's own (``create_input_buffers``), and their host address comes from
LiteRT's C API (``LiteRtGetTensorBufferHostMemory`` in libLiteRt.so, the library the Python wrapper loads). At
load a value written through each view is read back through ``TensorBuffer.read``; a buffer that does not hold
it makes ``auto`` fall back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgellm.errors import ConfigError, MissingDependencyError, ModelFileError
from edgellm.runtime import new_interpreter
from edgellm.runtime.modelfile import read_model
from edgellm.runtime.probe import probe

MODES = ("auto", "compiled", "inplace", "copy")
@dataclass(frozen=True, kw_only=True)
class CacheLayout:
    """The KV cache an export expects, read from its signatures.

    One k and one v tensor per layer; the sequence axis of each is the one where decode's new row (k_new_<i>,
    length 1) differs from the cache. Current exports: k [kvh, C, D] (axis 1), v [kvh, D, C] (axis 2); older ones
    had k [1, kvh, C, D] (axis 2), v [1, kvh, D, C] (axis 3), and before that k [1, kvh, D, C] (axis 3), v [1, kvh,
    C, D] (axis 2). All run.
    """

    num_layers: int
    cache_length: int
    k_shape: tuple[int, ...]
    v_shape: tuple[int, ...]
    prefill_lengths: tuple[int, ...]
    vocab_size: int
    decode_windows: tuple[int, ...] = ()  # decode_<W> signatures: decode over cache positions [0, W)
    verify_lengths: tuple[int, ...] = ()  # verify_<T> signatures: T tokens in, logits [T, V] out (speculative)
    k_axis: int = 1
    v_axis: int = 2

    @property
    def bytes(self) -> int:
        return 4 * self.num_layers * (int(np.prod(self.k_shape)) + int(np.prod(self.v_shape)))


class LlmRunner:
    """prefill(tokens, start) and decode(token, position) -> logits over one export's signatures.

    >>> r = LlmRunner("out/smollm2/model.tflite", num_threads=2)  # doctest: +SKIP
    >>> r.prefill([1, 9690, 28], start=0); logits = r.decode(253, position=3)  # doctest: +SKIP
    """

    def __init__(self, model_path: str | Path, *, num_threads: int = 1, mode: str = "auto",
                 weight_cache: str | Path | None = None, safe_load: bool = False):
        if mode not in MODES:
            raise ConfigError(f"runner mode {mode!r} is unknown; choose one of {', '.join(MODES)}")
        if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads < 1:
            raise ConfigError(f"num_threads must be an integer >= 1; got {num_threads!r}")
        self.path = Path(model_path)
        if not self.path.is_file():
            raise ModelFileError(f"model file {str(self.path)!r} does not exist; pass an export folder written by "
                                 "`edgellm export --task text-generation`")
        read_model(self.path)  # the structural check: a corrupt or truncated file stops here, in one line
        if safe_load:  # a file no hash vouches for: a first load in a child process, which may crash instead of us
            probe("edgellm.generate.runner:probe_llm", self.path, {"num_threads": num_threads, "mode": mode})
        if weight_cache is not None:
            weight_cache = Path(weight_cache)
            if mode not in ("auto", "compiled"):
                raise ConfigError(f"a weight cache file is XNNPACK's, through the compiled runner; runner mode "
                                  f"{mode!r} has none: drop the weight cache or use mode 'compiled'")
            if not weight_cache.parent.is_dir() or weight_cache.is_dir():
                raise ConfigError(f"weight cache {str(weight_cache)!r} must be a file path in an existing folder")
        self.num_threads = num_threads
        self.weight_cache = weight_cache  # None: in memory only
        self.fallback_reason: str | None = None  # why ``auto`` did not get ``compiled``
        self._compiled: _CompiledSignatures | None = None
        if mode in ("auto", "compiled"):
            try:
                self._compiled = _CompiledSignatures(self.path, num_threads, weight_cache)
                mode = "compiled"
            except _CompiledUnavailable as e:
                if mode == "compiled" or weight_cache is not None:
                    fix = "drop the weight cache" if weight_cache is not None else "use mode 'inplace'"
                    raise MissingDependencyError(f"the compiled runner is not available here: {e}; {fix} (the "
                                                 "LiteRT Interpreter runs without it)") from None
                self.fallback_reason, mode = str(e), "inplace"
        self.mode = mode  # the one in use: compiled, inplace or copy
        if mode == "compiled":
            self.layout = _layout(self._compiled.details)
            self._views = {name: (name, views) for name, views in self._compiled.views.items()}
            self._init_caches()
            return
        self._interpreter = new_interpreter(self.path, threads=num_threads)
        self.layout = interpreter_layout(self._interpreter)
        lay = self.layout
        if mode == "copy":
            self.k = [np.zeros(lay.k_shape, np.float32) for _ in range(lay.num_layers)]
            self.v = [np.zeros(lay.v_shape, np.float32) for _ in range(lay.num_layers)]
            self._runners = {name: self._interpreter.get_signature_runner(name) for name in self.signatures}
            self._valid = {}  # one cache, copied in whole every call: no per-signature copies to track
            return
        wrapper = self._interpreter._interpreter  # the C++ InterpreterWrapper: per-subgraph allocate/invoke/views
        self._views = {}
        for name in self.signatures:
            runner = self._interpreter.get_signature_runner(name)
            index = runner._subgraph_index
            wrapper.AllocateTensors(index)
            views = {n: wrapper.tensor(wrapper, i, index) for n, i in [*dict(runner._inputs).items(), *dict(runner._outputs).items()]}
            self._views[name] = (index, views)
        self._init_caches()

    @property
    def signatures(self) -> dict[str, int]:
        """Signature name -> the number of tokens it takes."""
        return ({f"prefill_{t}": t for t in self.layout.prefill_lengths} | {"decode": 1}
                | {f"decode_{w}": 1 for w in self.layout.decode_windows}
                | {f"verify_{t}": t for t in self.layout.verify_lengths})

    def _init_caches(self) -> None:
        # decode's cache tensors are "the" cache; _valid[name]: rows [0, n) of another signature's own copy
        # (prefill_<T>, decode_<W>) equal it (inplace only: compiled signatures all read decode's buffers)
        views = self._views["decode"][1]
        self.k = [views[f"kv_k_cache_{i}"] for i in range(self.layout.num_layers)]
        self.v = [views[f"kv_v_cache_{i}"] for i in range(self.layout.num_layers)]
        self._valid = {name: 0 for name in self.signatures if name != "decode"} if self.mode == "inplace" else {}
        self.reset()

    # ------------------------------------------------------------------------------------------- calls
    def _run(self, name: str, tokens: np.ndarray, positions: np.ndarray) -> dict[str, np.ndarray]:
        if self.mode == "copy":
            kv = {f"kv_k_cache_{i}": a for i, a in enumerate(self.k)} | {f"kv_v_cache_{i}": a
                                                                         for i, a in enumerate(self.v)}
            return self._runners[name](tokens=tokens, input_pos=positions, **kv)
        index, views = self._views[name]
        if name in self._valid:
            start = int(positions[0])
            if self._valid[name] < start:  # bring this signature's copy of rows [valid, start) up to date
                k_rows, v_rows = self._rows(self._valid[name], start)
                for i in range(self.layout.num_layers):
                    views[f"kv_k_cache_{i}"][k_rows] = self.k[i][k_rows]
                    views[f"kv_v_cache_{i}"][v_rows] = self.v[i][v_rows]
            self._valid[name] = start
        views["tokens"][...] = tokens
        views["input_pos"][...] = positions
        if self._compiled is not None:
            self._compiled.run(name)
        else:
            self._interpreter._interpreter.Invoke(index)
        return views

    def _rows(self, start: int, stop: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
        """Index tuples selecting cache positions [start, stop) of a k and of a v tensor."""
        lay, span = self.layout, slice(start, stop)
        return (slice(None),) * lay.k_axis + (span,), (slice(None),) * lay.v_axis + (span,)

    def _store(self, out: dict[str, np.ndarray], start: int, n: int, signature: str = "decode") -> None:
        """Write the first n new K/V rows of a call into the cache at positions start..start+n-1."""
        k_rows, v_rows = self._rows(start, start + n)
        k_new, v_new = self._rows(0, n)
        caches = [(self.k, self.v)]
        if self.mode == "inplace":
            for name in self._valid:
                self._valid[name] = min(self._valid[name], start)
            if signature in self._valid:  # the prefill signature's own copy gets the rows too, and stays valid
                views = self._views[signature][1]
                caches.append(([views[f"kv_k_cache_{i}"] for i in range(self.layout.num_layers)],
                               [views[f"kv_v_cache_{i}"] for i in range(self.layout.num_layers)]))
                self._valid[signature] = start + n
        for i in range(self.layout.num_layers):
            kn, vn = out[f"k_new_{i}"][k_new], out[f"v_new_{i}"][v_new]
            for k, v in caches:
                k[i][k_rows] = kn
                v[i][v_rows] = vn

    def prefill(self, tokens: Sequence[int], *, start: int = 0) -> None:
        """Put ``tokens`` into the cache at positions start.. (chunked over the prefill signatures)."""
        tokens = list(tokens)
        lay = self.layout
        if start + len(tokens) > lay.cache_length:
            raise ConfigError(f"{start + len(tokens)} tokens do not fit the KV cache of {lay.cache_length}; "
                              "shorten the prompt or re-export with a larger --cache-length")
        pos = start
        for t, take in plan_prefill(len(tokens), lay.prefill_lengths, room=lay.cache_length - start):
            if t == 1:
                self.decode(tokens[0], position=pos)
            else:
                chunk = np.zeros((1, t), np.int32)
                chunk[0, :take] = tokens[:take]
                out = self._run(f"prefill_{t}", chunk, np.arange(pos, pos + t, dtype=np.int32))
                self._store(out, pos, take, f"prefill_{t}")
            tokens, pos = tokens[take:], pos + take

    def decode(self, token: int, *, position: int) -> np.ndarray:
        """Run one token at ``position``, store its K/V row; returns the next-token logits [V] (a view, reused)."""
        if not 0 <= position < self.layout.cache_length:
            raise ConfigError(f"position {position} is outside the KV cache of {self.layout.cache_length}")
        # the smallest window that holds the cache rows [0, position) this step reads
        name = next((f"decode_{w}" for w in self.layout.decode_windows if position <= w), "decode")
        out = self._run(name, np.array([[token]], np.int32), np.array([position], np.int32))
        self._store(out, position, 1, name)
        return out["logits"][0]

    def verify(self, tokens: Sequence[int], *, position: int) -> np.ndarray:
        """Run ``tokens`` (the pending token and the draft tokens after it) at positions position.. through the
        smallest ``verify_<T>`` with T >= len(tokens) and store their K/V rows; returns the next-token logits of
        every one [len(tokens), V] (a view, reused by the next call).

        Rows are stored for every token given, also the draft tokens the caller then rejects. That is harmless: a
        call starting at position s reads cache rows [0, s) only (the mask: key < input_pos[0]) and takes its own
        rows s.. from its new K/V, so a row past the accepted length is never read before a later call rewrites it.
        verify_<T> adds its new rows onto cache rows [s, s + T), so those are zeroed first (the graph's contract,
        ``edgellm.convert.decoder.layers``). Padding (T > len(tokens)) comes after the real tokens, so the causal
        mask hides it from them; its rows are not stored, and its positions are clipped to the cache (GPT-2's
        position table ends there).
        """
        n = len(tokens)
        fits = [t for t in self.layout.verify_lengths if t >= n]
        if not fits:
            raise ConfigError(f"{n} tokens do not fit a verify signature (verify_lengths "
                              f"{list(self.layout.verify_lengths) or 'none'}); pass at most "
                              f"{max(self.layout.verify_lengths, default=1) - 1} draft tokens")
        if n < 1 or not 0 <= position or position + n > self.layout.cache_length:
            raise ConfigError(f"{n} tokens at position {position} do not fit the KV cache of "
                              f"{self.layout.cache_length}")
        t = fits[0]
        chunk = np.zeros((1, t), np.int32)
        chunk[0, :n] = tokens
        positions = np.minimum(np.arange(position, position + t, dtype=np.int32), self.layout.cache_length - 1)
        self._clear(f"verify_{t}", position, min(position + t, self.layout.cache_length))
        out = self._run(f"verify_{t}", chunk, positions)
        self._store(out, position, n, f"verify_{t}")
        return out["logits"][:n]

    def _clear(self, name: str, start: int, stop: int) -> None:
        """Zero cache positions [start, stop) where signature ``name`` reads them (inplace: its own copy)."""
        k_rows, v_rows = self._rows(start, stop)
        if self.mode == "inplace":
            views = self._views[name][1]
            ks = [views[f"kv_k_cache_{i}"] for i in range(self.layout.num_layers)]
            vs = [views[f"kv_v_cache_{i}"] for i in range(self.layout.num_layers)]
        else:  # compiled: decode's buffers, which every signature reads; copy: the arrays copied in
            ks, vs = self.k, self.v
        for k, v in zip(ks, vs):
            k[k_rows] = 0
            v[v_rows] = 0

    def reset(self) -> None:
        """Forget the conversation; zero every signature's cache.

        Masked rows still enter the products with a weight of 0, and 0 x NaN is NaN: the cache tensors a prefill
        signature has not been given rows for must hold finite values (freshly allocated ones hold whatever was in
        memory), so they are zeroed here, once, not per call.
        """
        for a in (*self.k, *self.v):
            a[...] = 0
        for name in self._valid:  # inplace: the prefill signatures' own copies
            self._valid[name] = 0
            views = self._views[name][1]
            for i in range(self.layout.num_layers):
                views[f"kv_k_cache_{i}"][...] = 0
                views[f"kv_v_cache_{i}"][...] = 0


DECODE_ROWS = 4


def probe_llm(path: str, *, num_threads: int = 1, mode: str = "auto") -> None:
    """Safe mode's child (edgellm.runtime.probe): load ``path`` as LlmRunner does and run every signature once."""
    runner = LlmRunner(path, num_threads=num_threads, mode=mode)
    lay = runner.layout
    for t in lay.prefill_lengths:
        if t < lay.cache_length:
            runner.prefill([0] * t, start=0)
    for position in (*lay.decode_windows, lay.cache_length - 1):
        runner.decode(0, position=min(position, lay.cache_length - 1))
    for t in lay.verify_lengths:
        runner.verify([0] * t, position=lay.cache_length - t)


def plan_prefill(n: int, lengths: Sequence[int], *, room: int) -> list[tuple[int, int]]:
    """Chunks (signature length T, tokens taken) that prefill n tokens with the least padded work.

    Work is counted in rows: a prefill_T call costs T rows however many are padding; a decode call (T = 1, where
    no prefill signature fits) costs DECODE_ROWS, since a matrix-vector step is that much slower per token than a
    matrix-matrix one (SmolLM2 int8: 25 ms per decode step, 7.6 ms per prefill row). A chunk's padded rows must
    stay inside the cache (``room`` positions left). With lengths (32, 128): 63 tokens -> [(32, 32), (32, 31)]
    (64 rows, not 128); 150 -> [(128, 128), (32, 22)].
    """
    # best[k]: (cost, -T, taken) of the first chunk when k tokens are left; -T: on equal work, fewer calls
    best: list[tuple[int, int, int]] = [(0, 0, 0)]
    for k in range(1, n + 1):
        options = [(DECODE_ROWS + best[k - 1][0], -1, 1)]
        for t in lengths:
            take = min(t, k)
            if (n - k) + t <= room:
                options.append((t + best[k - take][0], -t, take))
        best.append(min(options))
    plan, k = [], n
    while k:
        _, neg_t, take = best[k]
        plan.append((-neg_t, take))
        k -= take
    return plan


class _CompiledUnavailable(Exception):
    """Why the compiled backend cannot run here (``auto`` falls back to the Interpreter)."""


class _CompiledSignatures:
    """An export's signatures on LiteRT's CompiledModel (CPU: XNNPACK with the in-memory weight cache), with numpy
    views of each signature's buffers; every signature reads decode's KV-cache buffers. Raises _CompiledUnavailable
    when ai-edge-litert has no CompiledModel, the C API is not found, or a view does not alias its buffer."""

    def __init__(self, path: Path, num_threads: int, weight_cache: Path | None = None):
        try:
            import ai_edge_litert
            from ai_edge_litert.compiled_model import CompiledModel
            from ai_edge_litert.hardware_accelerator import HardwareAccelerator
            from ai_edge_litert.options import CpuOptions, Options
        except ImportError as e:
            raise _CompiledUnavailable(f"no ai-edge-litert CompiledModel ({e})") from None
        from edgellm.runtime.litert import _quiet_litert_teardown, native_stderr

        host_address = _host_address_function(Path(ai_edge_litert.__file__).parent / "libLiteRt.so")
        _quiet_litert_teardown()
        log: list[str] = []
        # a file: packed once, then memory-mapped by later loads (XNNPACK marks a file made for another model stale
        # and packs again); ":memory:" packs at every load but still once for all signatures
        cache = str(weight_cache) if weight_cache is not None else ":memory:"
        options = Options(hardware_accelerators=HardwareAccelerator.CPU,
                          cpu_options=CpuOptions(num_threads=num_threads, xnnpack_weight_cache_path=cache))
        # LiteRT logs every accelerator it probes, at the Environment's creation and again at the first buffer
        # read or write (the buffer wrapper makes its own Environment, once per process): kept off the terminal
        try:
            with native_stderr(log):
                self.model = CompiledModel.from_file(str(path), options=options, environment=_environment())
                self._bind(host_address)
        except RuntimeError as e:
            detail = next((line for line in reversed(log) if "ERROR" in line), str(e))
            raise _CompiledUnavailable(f"CompiledModel could not load {path.name}: {' '.join(detail.split())[:200]}")

    def _bind(self, host_address) -> None:
        listed = self.model.get_signature_list()
        self.details = {name: (self.model.get_input_tensor_details(name), self.model.get_output_tensor_details(name))
                        for name in listed}
        self._calls: dict[str, tuple[int, list, list]] = {}
        self.views: dict[str, dict[str, np.ndarray]] = {}
        kv: dict[str, tuple[Any, np.ndarray]] = {}  # decode's cache buffers and their views, shared
        for name in sorted(listed, key=lambda n: n != "decode"):  # decode first
            index = self.model.get_signature_index(name)
            inputs, outputs = listed[name]["inputs"], listed[name]["outputs"]
            if name == "decode":
                ins = self.model.create_input_buffers(index)
            else:
                ins = [kv[n][0] if n in kv else self.model.create_input_buffer_by_name(name, n) for n in inputs]
            outs = self.model.create_output_buffers(index)
            views = {}
            for names, buffers, details in ((inputs, ins, self.details[name][0]), (outputs, outs, self.details[name][1])):
                for n, b in zip(names, buffers):
                    views[n] = kv[n][1] if n in kv else _view(b, details[n], host_address)
            if name == "decode":
                kv = {n: (b, views[n]) for n, b in zip(inputs, ins) if n.startswith("kv_")}
            self._calls[name] = (index, ins, outs)
            self.views[name] = views

    def run(self, name: str) -> None:
        index, ins, outs = self._calls[name]
        self.model.run_by_index(index, ins, outs)


_ENVIRONMENT: list = []


def _environment():
    """One LiteRT Environment for the process: made once (it probes and logs every accelerator), shared by every
    compiled runner and never destroyed before exit, where fd 2 is quiet (it logs each accelerator it destroys)."""
    if not _ENVIRONMENT:
        import ai_edge_litert
        from ai_edge_litert.environment import Environment, EnvironmentOptions

        runtime = str(Path(ai_edge_litert.__file__).parent)
        _ENVIRONMENT.append(Environment.create(options=EnvironmentOptions(runtime_path=runtime)))
    return _ENVIRONMENT[0]


def _host_address_function(library: Path):
    """buffer -> the address of its host memory, through LiteRT's C API
    (LiteRtGetTensorBufferHostMemory(LiteRtTensorBuffer, void**) -> LiteRtStatus; the TensorBuffer's capsule holds
    the LiteRtTensorBuffer); 0 when it has none."""
    import ctypes

    try:
        function = ctypes.CDLL(str(library)).LiteRtGetTensorBufferHostMemory
    except (OSError, AttributeError) as e:
        raise _CompiledUnavailable(f"LiteRT's C API is not at {library} ({e})") from None
    function.argtypes, function.restype = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)], ctypes.c_int
    capsule_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
    capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", ctypes.pythonapi))

    def host_address(buffer) -> int:
        capsule, address = buffer.capsule, ctypes.c_void_p()
        if function(capsule_pointer(capsule, capsule_name(capsule)), ctypes.byref(address)) != 0:
            return 0
        return address.value or 0

    return host_address


def _view(buffer, details: dict[str, Any], host_address) -> np.ndarray:
    """A numpy array over a TensorBuffer's host memory, checked: a value written through it must read back."""
    import ctypes

    address = host_address(buffer)
    if not address:
        raise _CompiledUnavailable(f"tensor {details['name']} has no host memory")
    dtype, shape = np.dtype(details["dtype"]), tuple(int(x) for x in details["shape"])
    size = int(np.prod(shape)) * dtype.itemsize
    view = np.frombuffer((ctypes.c_char * size).from_address(address), dtype).reshape(shape)
    view.reshape(-1)[:1] = 7
    if buffer.read(1, dtype)[0] != 7:
        raise _CompiledUnavailable(f"a view of tensor {details['name']} does not alias its buffer")
    view[...] = 0
    return view


def interpreter_layout(interpreter) -> CacheLayout:
    """The cache layout of the export an Interpreter has loaded."""
    runners = {name: interpreter.get_signature_runner(name) for name in interpreter.get_signature_list()}
    return _layout({name: (r.get_input_details(), r.get_output_details()) for name, r in runners.items()})


def _layout(signatures: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> CacheLayout:
    """The cache layout from each signature's (input details, output details), as name -> {"shape": ...}."""
    if "decode" not in signatures:
        raise ModelFileError(f"the model has signatures {sorted(signatures)} but no 'decode'; it is not an "
                             "edgellm LLM export (re-run `edgellm export --task text-generation`)")
    prefill = sorted(int(m.group(1)) for s in signatures if (m := re.fullmatch(r"prefill_(\d+)", s)))
    windows = sorted(int(m.group(1)) for s in signatures if (m := re.fullmatch(r"decode_(\d+)", s)))
    verify = sorted(int(m.group(1)) for s in signatures if (m := re.fullmatch(r"verify_(\d+)", s)))
    details, outputs = signatures["decode"]
    layers = sum(1 for n in details if n.startswith("kv_k_cache_"))
    if layers == 0 or "tokens" not in details or "input_pos" not in details:
        raise ModelFileError(f"decode inputs {sorted(details)} are not edgellm's (tokens, input_pos, "
                             "kv_k_cache_<i>, kv_v_cache_<i>); re-run `edgellm export --task text-generation`")
    k_shape = tuple(int(x) for x in details["kv_k_cache_0"]["shape"])
    v_shape = tuple(int(x) for x in details["kv_v_cache_0"]["shape"])
    axes = []
    for cache, new in ((k_shape, "k_new_0"), (v_shape, "v_new_0")):
        new_shape = tuple(int(x) for x in outputs[new]["shape"]) if new in outputs else ()
        differ = [a for a, (c, n) in enumerate(zip(cache, new_shape)) if c != n]
        if len(new_shape) != len(cache) or len(differ) != 1 or new_shape[differ[0]] != 1:
            raise ModelFileError(f"decode's {new} {list(new_shape)} is not one row of the cache {list(cache)}; "
                                 "re-run `edgellm export --task text-generation`")
        axes.append(differ[0])
    return CacheLayout(num_layers=layers, cache_length=k_shape[axes[0]], k_shape=k_shape, v_shape=v_shape,
                       prefill_lengths=tuple(prefill), decode_windows=tuple(windows),
                       verify_lengths=tuple(verify),
                       vocab_size=int(outputs["logits"]["shape"][-1]),
                       k_axis=axes[0], v_axis=axes[1])


def describe(layout: CacheLayout) -> dict[str, Any]:
    """The manifest's view of the cache (apps allocate it from this)."""
    return {"cache_length": layout.cache_length, "num_layers": layout.num_layers,
            "k": {"inputs": "kv_k_cache_{i}", "outputs": "k_new_{i}", "shape": list(layout.k_shape),
                  "sequence_axis": layout.k_axis},
            "v": {"inputs": "kv_v_cache_{i}", "outputs": "v_new_{i}", "shape": list(layout.v_shape),
                  "sequence_axis": layout.v_axis},
            "bytes": layout.bytes}
