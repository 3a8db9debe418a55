"""The LiteRT runtime: which Python package provides it, loading a model, and a minimal invoke path.

Runtimes, in order of preference (the first importable one is used and named in every report):
    ai-edge-litert   ``ai_edge_litert.interpreter``  x86-64, aarch64 Linux, macOS arm64; also CompiledModel
    tflite-runtime   ``tflite_runtime.interpreter``  32-bit Raspberry Pi OS (armv7l), numpy < 2
    tensorflow       ``tensorflow.lite``             anything TensorFlow runs on (slow to import)

The classic ``Interpreter`` applies XNNPACK by default; ``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` turns it off.
Its delegate replaces each XNNPACK partition of the graph by one ``DELEGATE`` node; the ops outside every
partition run on the builtin kernels and are what break the graph (``delegation``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from edgellm.errors import ConfigError, MissingDependencyError, ModelFileError

_RUNTIMES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
    ("tensorflow", "tensorflow.lite"),
)

NUMPY_DTYPES = {
    "float32": np.float32, "float16": np.float16, "float64": np.float64, "int32": np.int32, "int64": np.int64,
    "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
    "uint64": np.uint64, "bool": np.bool_,
}


@dataclass(frozen=True)
class Runtime:
    name: str  # package name as pip knows it
    version: str
    module: Any = field(repr=False, compare=False)  # the module holding Interpreter and OpResolverType

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version}


@functools.lru_cache(maxsize=None)
def find_runtime() -> Runtime:
    """The first importable LiteRT runtime; MissingDependencyError naming what to install when none is."""
    errors = []
    for name, module_name in _RUNTIMES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            errors.append(f"{module_name}: {e}")
            continue
        if name == "tensorflow":
            import tensorflow as tf  # noqa: F401  (already imported above)

            version = tf.__version__
        else:
            try:
                from importlib.metadata import version as _version

                version = _version(name)
            except Exception:  # noqa: BLE001  metadata is missing in some vendored installs; the name is enough
                version = getattr(module, "__version__", "unknown")
        return Runtime(name, version, module)
    raise MissingDependencyError(
        "no LiteRT runtime is installed; install one: `pip install ai-edge-litert` (64-bit Linux/macOS), "
        "`pip install tflite-runtime 'numpy<2'` (32-bit Raspberry Pi OS) or tensorflow"
    )


# ---------------------------------------------------------------------------------------------- native logs
@contextlib.contextmanager
def native_stderr(log: list[str]):
    """Send what C++ code writes to fd 2 into ``log`` (lines) instead of the terminal, for the duration.

    LiteRT logs every accelerator probe (dozens of INFO lines) to stderr; the reasons an accelerator is not
    available are in there, so they are kept and parsed, not thrown away.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no fd 2 (embedded interpreters): leave the logs alone
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            log.extend(tmp.read().decode("utf-8", errors="replace").splitlines())


def _last_error(log: list[str], exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    for line in reversed(log):
        if "ERROR" in line or "rror:" in line:
            text = f"{text} ({' '.join(line.split())[:200]})" if text else line
            break
    return text[:400]


# ---------------------------------------------------------------------------------------------- interpreter
def interpreter_options(runtime: Runtime) -> list[str]:
    """Keyword options the runtime's Interpreter constructor accepts (for error messages and validation)."""
    import inspect as _inspect

    params = _inspect.signature(runtime.module.Interpreter.__init__).parameters
    return [p for p in params if p != "self" and params[p].kind is not _inspect.Parameter.VAR_KEYWORD]


@dataclass
class Loaded:
    """A model ready to invoke and how it was set up."""

    handle: Any  # Interpreter or CompiledModel
    api: str  # "interpreter" | "compiled_model"
    init_ms: float
    xnnpack: bool  # applied, not just requested
    delegate_partitions: int | None  # None where the API cannot tell (CompiledModel)
    accelerator: dict  # {"requested", "used", "note"}
    log: list[str]


def _no_default_delegates(runtime: Runtime):
    """The op resolver that keeps XNNPACK (the default delegate) off, or a ConfigError where there is none."""
    resolver = getattr(runtime.module, "OpResolverType", None)
    if resolver is None and runtime.name == "tensorflow":
        resolver = runtime.module.experimental.OpResolverType
    if resolver is None:
        raise ConfigError(f"{runtime.name} {runtime.version} cannot turn XNNPACK off (no OpResolverType); "
                          "drop --no-xnnpack or install ai-edge-litert")
    return resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def new_interpreter(path: str | os.PathLike | None = None, *, content: bytes | None = None,
                    threads: int | None = None, xnnpack: bool = True, **options: Any):
    """A LiteRT Interpreter of the first runtime found (nothing allocated): how edgellm makes every Interpreter.

    ``xnnpack=False`` uses the builtin kernels only: for reading metadata (XNNPACK would pack a second copy of
    every weight) or for a reference run. ``threads`` None: the runtime's default. ``options`` go to the
    Interpreter as they are.
    """
    runtime = find_runtime()
    if threads is not None:
        options["num_threads"] = threads
    if not xnnpack:
        options["experimental_op_resolver_type"] = _no_default_delegates(runtime)
    source = {"model_content": content} if content is not None else {"model_path": os.fspath(path)}
    return runtime.module.Interpreter(**source, **options)


def load_interpreter(runtime: Runtime, path: str | None, *, content: bytes | None = None, threads: int = 1,
                     xnnpack: bool = True, options: dict | None = None) -> Loaded:
    """Create an Interpreter and allocate its tensors (XNNPACK packs weights here): ``init_ms`` covers both."""
    mod = runtime.module
    kwargs = dict(options or {})
    known = interpreter_options(runtime)
    unknown = sorted(k for k in kwargs if k not in known)
    if unknown:
        raise ConfigError(
            f"unknown interpreter option(s) {', '.join(unknown)} for {runtime.name} {runtime.version}; it accepts: "
            f"{', '.join(k for k in known if k not in ('model_path', 'model_content', 'num_threads', 'experimental_delegates', 'experimental_op_resolver_type'))}"
        )
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = _no_default_delegates(runtime)
    source = {"model_content": content} if content is not None else {"model_path": path}
    log: list[str] = []
    t0 = time.perf_counter()
    try:
        with native_stderr(log):
            interp = mod.Interpreter(num_threads=threads, **source, **kwargs)
            interp.allocate_tensors()
            _allocate_signatures(interp)
    except (ValueError, RuntimeError) as e:
        raise ModelFileError(f"{path or 'model'}: {runtime.name} could not load it: {_last_error(log, e)}") from e
    init_ms = (time.perf_counter() - t0) * 1000.0
    parts = count_delegate_nodes(interp)
    return Loaded(interp, "interpreter", init_ms, parts > 0, parts,
                  {"requested": None, "used": "cpu", "note": None}, log)


def _allocate_signatures(interp) -> None:
    """allocate_tensors() covers the primary subgraph; each other signature's subgraph is allocated here."""
    w = interp._interpreter  # noqa: SLF001
    if not hasattr(w, "GetSubgraphIndexFromSignature"):
        return
    for key in interp.get_signature_list():
        index = w.GetSubgraphIndexFromSignature(key)
        if index > 0:
            w.AllocateTensors(index)


def count_delegate_nodes(interp) -> int:
    """Number of DELEGATE nodes in the primary subgraph: one per XNNPACK partition."""
    w = interp._interpreter  # noqa: SLF001  public API has no node list; _get_ops_details is far slower
    try:
        return sum(1 for i in range(w.NumNodes()) if w.NodeName(i) == "DELEGATE")
    except AttributeError:
        return sum(1 for op in interp._get_ops_details() if op["op_name"] == "DELEGATE")  # noqa: SLF001


def delegation(interp) -> dict:
    """How the delegate partitioned the primary subgraph.

    Returns ``{"nodes": [op names of the original nodes], "partitions": [[node indices], ...],
    "undelegated": [node indices]}``. A partition's nodes are found by walking back from its DELEGATE node's
    outputs through producers until its inputs; original node indices equal the file's operator indices.
    """
    w = interp._interpreter  # noqa: SLF001
    n = w.NumNodes()
    names = [w.NodeName(i) for i in range(n)]
    delegates = [i for i in range(n) if names[i] == "DELEGATE"]
    producer = {}
    for i in range(n):
        if names[i] != "DELEGATE":
            for t in w.NodeOutputs(i):
                producer[int(t)] = i
    partitions, inside = [], set()
    for d in delegates:
        stop = {int(t) for t in w.NodeInputs(d)}
        stack, seen, nodes = [int(t) for t in w.NodeOutputs(d)], set(), []
        while stack:
            t = stack.pop()
            if t in stop or t in seen:
                continue
            seen.add(t)
            p = producer.get(t)
            if p is None or p in inside:
                continue
            inside.add(p)
            nodes.append(p)
            stack.extend(int(x) for x in w.NodeInputs(p) if x >= 0)
        partitions.append(sorted(nodes))
    original = [i for i in range(n) if names[i] != "DELEGATE"]
    return {
        "nodes": [names[i] for i in original],
        "partitions": partitions,
        "undelegated": [i for i in original if i not in inside],
        "inputs": {i: [int(x) for x in w.NodeInputs(i)] for i in original},
        "outputs": {i: [int(x) for x in w.NodeOutputs(i)] for i in original},
        "delegate_io": [([int(x) for x in w.NodeInputs(d)], [int(x) for x in w.NodeOutputs(d)]) for d in delegates],
    }


# ---------------------------------------------------------------------------------------------- compiled model
@functools.lru_cache(maxsize=None)
def _quiet_litert_teardown() -> None:
    """LiteRT keeps one Environment for the life of the process and logs each accelerator it destroys at
    exit ("INFO: DestroyAccelerator ...") after the report is printed. Once a CompiledModel has been made,
    fd 2 goes to /dev/null at interpreter shutdown (atexit runs before C++ static destructors)."""
    import atexit

    def _silence():
        try:
            sys.stderr.flush()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
        except (OSError, ValueError):
            pass

    atexit.register(_silence)


_NEEDS = {
    "gpu": "a GPU with WebGPU (Vulkan/Metal/D3D12) or OpenCL drivers visible to LiteRT",
    "npu": "a device NPU and its vendor LiteRT dispatch library and compiler plugin (e.g. Qualcomm QNN, "
           "MediaTek NeuroPilot, Intel OpenVINO: pip install ai-edge-litert-sdk-intel)",
}


def _accelerator_reason(kind: str, log: list[str], error: str | None) -> str:
    """A short reason, taken from LiteRT's own log lines, why the ``kind`` accelerator was not used."""
    hints = []
    for line in log:
        low = line.lower()
        if kind == "gpu":
            if "no adapters found" in low:
                hints.append("WebGPU found no GPU adapter")
            elif "couldn't load vulkan" in low or ("libvulkan" in low and "cannot open" in low):
                hints.append("no Vulkan loader (libvulkan.so.1)")
            elif "opencl" in low and ("not" in low or "fail" in low):
                hints.append("no OpenCL driver")
        else:
            if "no compiler plugin found" in low:
                hints.append("no NPU compiler plugin")
            elif "cannot open shared object file" in low and ("plugin" in low or "dispatch" in low):
                lib = line.split(": cannot open shared object file")[0].rsplit(":", 1)[-1].strip()
                hints.append(f"the vendor plugin found needs {lib}")
            elif "npu accelerator could not be loaded" in low:
                hints.append("no NPU dispatch library")
    if not hints and error:
        hints.append(error[:160])
    seen = []
    for h in hints:
        if h not in seen:
            seen.append(h)
    return "; ".join(seen) or "not reported by LiteRT"


def load_compiled_model(runtime: Runtime, path: str, *, accelerator: str, threads: int = 1, xnnpack: bool = True,
                        options: dict | None = None) -> Loaded:
    """A CompiledModel on ``accelerator``, falling back to CPU (with the reason) when it is not available."""
    if runtime.name != "ai-edge-litert":
        raise ConfigError(f"accelerator={accelerator!r} needs ai-edge-litert's CompiledModel; the runtime here is "
                          f"{runtime.name}: pip install ai-edge-litert, or drop --accelerator")
    _quiet_litert_teardown()
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.cpu_kernel_mode import CpuKernelMode
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator as HA
    from ai_edge_litert.options import CpuOptions, Options

    cpu_kwargs = dict(options or {})
    import dataclasses

    known = [f.name for f in dataclasses.fields(CpuOptions) if f.name not in ("num_threads", "kernel_mode")]
    unknown = sorted(k for k in cpu_kwargs if k not in known)
    if unknown:
        raise ConfigError(f"unknown CompiledModel CPU option(s) {', '.join(unknown)}; it accepts: {', '.join(known)}")
    if not xnnpack:
        cpu_kwargs["kernel_mode"] = CpuKernelMode.BUILTIN

    def create(accel):
        opts = Options(hardware_accelerators=accel, cpu_options=CpuOptions(num_threads=threads, **cpu_kwargs))
        return CompiledModel.from_file(path, options=opts)

    log: list[str] = []
    note = None
    used = accelerator
    t0 = time.perf_counter()
    handle = None
    if accelerator == "cpu":
        try:
            with native_stderr(log):
                handle = create(HA.CPU)
        except RuntimeError as e:
            raise ModelFileError(f"{path}: CompiledModel could not load it on CPU: {_last_error(log, e)}") from e
    else:
        target = HA.GPU if accelerator == "gpu" else HA.NPU
        error: str | None = None  # text only: a kept exception would keep its failed Environment alive
        try:
            with native_stderr(log):
                handle = create(target)  # the accelerator alone: fails unless it takes the whole graph
            used = accelerator
        except RuntimeError as e:
            error = " ".join(str(e).split())
        if handle is None and not any("no compiler plugin found" in line.lower() or "no adapters found" in line.lower()
                                      for line in log):
            try:  # it exists but does not take every op: accelerator + CPU for the rest
                with native_stderr(log):
                    handle = create(target | HA.CPU)
                used = f"{accelerator}+cpu"
                note = f"{accelerator.upper()} runs part of the graph; the remaining ops run on the CPU"
            except RuntimeError as e:
                error = " ".join(str(e).split())
                handle = None
        if handle is None:
            reason = _accelerator_reason(accelerator, log, error)
            note = (f"{accelerator.upper()} not available here ({reason}); it needs {_NEEDS[accelerator]}. "
                    "Fell back to CPU (XNNPACK): these are CPU figures")
            used = "cpu"
            t0 = time.perf_counter()
            try:
                with native_stderr(log):
                    handle = create(HA.CPU)
            except RuntimeError as e:
                raise ModelFileError(f"{path}: CompiledModel could not load it on CPU either: {_last_error(log, e)}") from e
    init_ms = (time.perf_counter() - t0) * 1000.0
    return Loaded(handle, "compiled_model", init_ms, xnnpack and "cpu" in used, None, {"requested": accelerator, "used": used, "note": note}, log)


# ---------------------------------------------------------------------------------------------- session
class Session:
    """One signature of a loaded model: ``set_inputs(arrays)`` then ``invoke()``; nothing else on the hot path.

    ``invoke`` is a bound C++ call with its arguments pre-built (subgraph index, or the CompiledModel's
    buffer capsules), so a timed invoke costs the runtime's work plus two ``perf_counter_ns`` calls.
    """

    def __init__(self, loaded: Loaded, signature: str, input_names: list[str]):
        self.signature = signature
        self.names = list(input_names)
        h = loaded.handle
        if loaded.api == "interpreter":
            sigs = h._get_full_signature_list()  # noqa: SLF001  name -> {"inputs": {name: tensor index}}
            if signature not in sigs and len(sigs) == 0:
                # no SignatureDef in the file: subgraph 0 and its inputs in order
                idx = [d["index"] for d in h.get_input_details()]
                self._index = dict(zip(self.names, idx))
                subgraph = 0
            else:
                self._index = dict(sigs[signature]["inputs"])
                w = h._interpreter  # noqa: SLF001
                subgraph = w.GetSubgraphIndexFromSignature(signature) if hasattr(
                    w, "GetSubgraphIndexFromSignature") else 0
            w = h._interpreter  # noqa: SLF001
            self._subgraph = subgraph
            if hasattr(w, "GetSubgraphIndexFromSignature"):  # the wrapper calls SignatureRunner itself uses
                self.invoke: Callable[[], None] = functools.partial(w.Invoke, subgraph)
                self._set = lambda i, a: w.SetTensor(i, a, subgraph)
            else:  # old tflite-runtime (< 2.7): public API, primary subgraph only
                if subgraph != 0:
                    runner = h.get_signature_runner(signature)
                    self._pending: dict = {}
                    self._set = lambda i, a: self._pending.__setitem__(i, a)
                    names = {v: k for k, v in self._index.items()}
                    self.invoke = lambda: runner(**{names[i]: a for i, a in self._pending.items()})
                else:
                    self.invoke = h.invoke
                    self._set = h.set_tensor
        else:
            self._buffers = {n: h.create_input_buffer_by_name(signature, n) for n in self.names}
            outs = h.get_signature_list()[signature]["outputs"]
            out_buffers = {n: h.create_output_buffer_by_name(signature, n) for n in outs}
            cap_in = {k: v.capsule for k, v in self._buffers.items()}
            cap_out = {k: v.capsule for k, v in out_buffers.items()}
            self._keep = (self._buffers, out_buffers)
            self.invoke = functools.partial(h._model.RunByName, signature, cap_in, cap_out)  # noqa: SLF001
            self._set = None

    def set_inputs(self, arrays: dict[str, np.ndarray]) -> None:
        if self._set is None:
            for name, a in arrays.items():
                self._buffers[name].write(a)
        else:
            for name, a in arrays.items():
                self._set(self._index[name], a)
