"""``model.litertlm``: an LLM export packed for LiteRT-LM, Google's on-device LLM runtime (Engine, Session, Conversation).

What LiteRT-LM 0.18 needs, read from its sources and checked by running it:

* signatures ``prefill_<T>`` and ``decode`` with inputs ``tokens`` [1, T] and ``input_pos`` [T] and output ``logits``
  (its "PyTorch CPU-only" convention: no ``mask`` input, the graph masks by position). edgellm's exports have these.
* the KV cache as *state buffers*: each cache tensor is an input *and an output of the same name*, the whole cache,
  which the runtime binds to one buffer. Its ExecutorMetadata names each one and its sequence axis, but "the current
  implementation requires all state names in StateBuffer to be the same" (runtime/executor/litert/state.cc), so
  edgellm's signatures, which take ``kv_k_cache_<i>`` and return only the new rows ``k_new_<i>``, cannot be run as
  they are. ``litertlm_variant`` rewrites the flatbuffer instead of converting again: every signature gets one
  DYNAMIC_UPDATE_SLICE per cache tensor after the rest of the graph, writing its new rows at ``input_pos[0]``, and
  returns the full cache under the input's name (``kv_cache_k_<i>`` and ``kv_cache_v_<i>``, litert-torch's names;
  ExecutorMetadata gives each one's sequence axis, read from the graph). Weights, quantization and every other op
  are untouched, so LiteRT-LM computes what edgellm's runtime computes.
* LlmMetadata: start token, stop tokens, the Jinja chat template (see ``litertlm_chat_template``), max tokens.
* the tokenizer (``tokenizer.json`` as an HF_Tokenizer section).

Export-side only (imports litert_lm_builder, which litert-torch depends on); not imported by bench or generate.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgellm.errors import ModelFileError, require
from edgellm.manifest import LITERTLM_FILE, MODEL_FILE, TEXT_GENERATION, read_manifest, write_manifest

K_NAME, V_NAME = "kv_cache_k_{i}", "kv_cache_v_{i}"  # litert-torch's names, which LiteRT-LM's tools expect
LITERTLM_DIST = "litert-lm-api"  # the runtime; the template check records the version it was made against


# ------------------------------------------------------------------------------------------- the flatbuffer
def _variant(content: bytes | bytearray) -> tuple[bytearray, dict[str, int]]:
    """edgellm's prefill/decode flatbuffer -> (the same graph with LiteRT-LM's state-buffer KV cache, the sequence
    axis of the k and v caches).

    The sequence axis of each cache is read from the graph: the axis where decode's new row (length 1) differs from
    the cache (K [kvh, C, D] is axis 1, V [kvh, D, C] axis 2; older exports have 4-D caches, K [1, kvh, C, D]
    axis 2 or K [1, kvh, D, C] axis 3, V the other way round).

    Per signature: inputs ``kv_k_cache_<i>`` / ``kv_v_cache_<i>`` are renamed ``kv_cache_k_<i>`` / ``kv_cache_v_<i>``;
    outputs ``k_new_<i>`` / ``v_new_<i>`` are replaced by ``kv_cache_k_<i>`` = DYNAMIC_UPDATE_SLICE(cache, new rows,
    [input_pos[0] on the sequence axis, 0 elsewhere]. Three small ops compute the start indices once per
    signature (SLICE, 2 x MUL). The update ops come last, after every read of the cache, so a runtime that aliases
    the input and output buffers (LiteRT-LM does) updates the cache in place. In prefill_<T> signatures the T rows
    (padding included) can pass the end of the cache, where DYNAMIC_UPDATE_SLICE would clamp the start and shift
    them all: there the update goes into the cache extended by T zero rows (CONCATENATION) and the first C rows are
    kept (SLICE), a copy of the cache per layer per prefill call, none per decode step.

    The ``decode_<W>`` signatures (decode over the first W cache positions) are edgellm's runner's; LiteRT-LM picks
    its signatures by name and runs ``decode``, so they are left out of the bundle's signature list, and so are the
    ``verify_<T>`` signatures of edgellm's speculative decoding.
    """
    import re

    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils

    # the object tree's weight buffers are views of this bytearray: no copy of the weights (a bytearray is used as is)
    model = flatbuffer_utils.read_model_from_bytearray(content if isinstance(content, bytearray) else bytearray(content))
    model.signatureDefs = [s for s in model.signatureDefs if not re.fullmatch(r"(decode|verify)_\d+",
                                                                                 _name(s.signatureKey))]
    ops = model.operatorCodes
    code = {}
    for op in ("SLICE", "MUL", "DYNAMIC_UPDATE_SLICE", "RESHAPE", "CONCATENATION"):
        builtin = getattr(fb.BuiltinOperator, op)
        found = [j for j, c in enumerate(ops) if max(c.builtinCode, c.deprecatedBuiltinCode) == builtin]
        if not found:
            oc = fb.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = builtin, min(builtin, 127), 1
            ops.append(oc)
            found = [len(ops) - 1]
        code[op] = found[0]

    def constant(sg, name: str, values) -> int:
        buf = fb.BufferT()
        buf.data = np.frombuffer(np.asarray(values, np.int32).tobytes(), np.uint8)
        model.buffers.append(buf)
        return tensor(sg, name, [len(values)], buffer=len(model.buffers) - 1)

    def tensor(sg, name: str, shape, *, dtype=fb.TensorType.INT32, buffer: int | None = None) -> int:
        t = fb.TensorT()
        t.name, t.shape, t.type = name.encode(), list(shape), dtype
        if buffer is None:
            model.buffers.append(fb.BufferT())
            buffer = len(model.buffers) - 1
        t.buffer = buffer
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    def zero_tensor(sg, name: str, shape, dtype) -> int:
        buf = fb.BufferT()
        if dtype != fb.TensorType.FLOAT32:
            raise ModelFileError("the KV cache is not float32; model.litertlm supports float32 caches only")
        buf.data = np.zeros(int(np.prod(shape)) * 4, np.uint8)  # float32 zeros
        model.buffers.append(buf)
        return tensor(sg, name, shape, dtype=dtype, buffer=len(model.buffers) - 1)

    def operator(sg, op: str, inputs, outputs, options=None) -> None:
        o = fb.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = code[op], list(inputs), list(outputs)
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = options
        sg.operators.append(o)

    axes = _sequence_axes(model)
    for sig in model.signatureDefs:
        key = sig.signatureKey.decode() if isinstance(sig.signatureKey, bytes) else sig.signatureKey
        sg = model.subgraphs[sig.subgraphIndex]
        inputs = {_name(m.name): m for m in sig.inputs}
        outputs = {_name(m.name): m for m in sig.outputs}
        layers = sum(1 for n in inputs if n.startswith("kv_k_cache_"))
        if not layers or "input_pos" not in inputs or any(f"k_new_{i}" not in outputs for i in range(layers)):
            raise ModelFileError(f"signature {key!r} has inputs {sorted(inputs)} and outputs {sorted(outputs)}, not "
                                 "edgellm's (kv_k_cache_<i> in, k_new_<i> out); re-run `edgellm export --task "
                                 "text-generation`")
        pos = inputs["input_pos"].tensorIndex
        begin, size = constant(sg, f"{key}/litertlm_begin", [0]), constant(sg, f"{key}/litertlm_size", [1])
        start = tensor(sg, f"{key}/litertlm_start", [1])
        operator(sg, "SLICE", [pos, begin, size], [start])
        index = {}
        rank = {kind: len(sg.tensors[inputs[f"kv_{kind}_cache_0"].tensorIndex].shape) for kind in axes}
        for kind, axis in axes.items():
            unit = constant(sg, f"{key}/litertlm_{kind}_axis", [int(a == axis) for a in range(rank[kind])])
            index[kind] = tensor(sg, f"{key}/litertlm_{kind}_index", [rank[kind]])
            mul = fb.MulOptionsT()
            operator(sg, "MUL", [start, unit], [index[kind]], (fb.BuiltinOptions.MulOptions, mul))
        dropped, zeros = set(), {}
        for i in range(layers):
            for kind, template in (("k", K_NAME), ("v", V_NAME)):
                name = template.format(i=i)
                cache_in = inputs.pop(f"kv_{kind}_cache_{i}")
                new = outputs.pop(f"{kind}_new_{i}")
                shape = list(sg.tensors[cache_in.tensorIndex].shape)
                dtype = sg.tensors[cache_in.tensorIndex].type
                out = tensor(sg, f"{key}/{name}_out", shape, dtype=dtype)
                axis = axes[kind]
                rows = list(sg.tensors[new.tensorIndex].shape)
                dus = (fb.BuiltinOptions.DynamicUpdateSliceOptions, fb.DynamicUpdateSliceOptionsT())
                if rows[axis] == 1:  # decode: position < C, so the row always fits
                    operator(sg, "DYNAMIC_UPDATE_SLICE", [cache_in.tensorIndex, new.tensorIndex, index[kind]], [out],
                             dus)
                else:
                    # prefill_T near the end of the cache: start + T may pass C (padding rows), and
                    # DYNAMIC_UPDATE_SLICE would then clamp the start and shift every row. Update a cache
                    # extended by T rows and keep its first C.
                    ext_shape = [d + rows[axis] if a == axis else d for a, d in enumerate(shape)]
                    if (kind, tuple(rows)) not in zeros:
                        zeros[kind, tuple(rows)] = zero_tensor(sg, f"{key}/litertlm_{kind}_pad", rows, dtype)
                    ext = tensor(sg, f"{key}/{name}_ext", ext_shape, dtype=dtype)
                    cat = fb.ConcatenationOptionsT()
                    cat.axis = axis
                    operator(sg, "CONCATENATION", [cache_in.tensorIndex, zeros[kind, tuple(rows)]], [ext],
                             (fb.BuiltinOptions.ConcatenationOptions, cat))
                    upd = tensor(sg, f"{key}/{name}_upd", ext_shape, dtype=dtype)
                    operator(sg, "DYNAMIC_UPDATE_SLICE", [ext, new.tensorIndex, index[kind]], [upd], dus)
                    if ("begin", kind) not in zeros:
                        zeros["begin", kind] = constant(sg, f"{key}/litertlm_{kind}_slice_begin", [0] * len(shape))
                    size = constant(sg, f"{key}/{name}_size", shape)
                    operator(sg, "SLICE", [upd, zeros["begin", kind], size], [out])
                cache_in.name = name.encode()
                inputs[name] = cache_in
                m = fb.TensorMapT()
                m.name, m.tensorIndex = name.encode(), out
                outputs[name] = m
                dropped.add(new.tensorIndex)
        if "logits" in outputs:  # [1, V] -> [1, 1, V]: LiteRT-LM wants (batch, seq, vocab)
            logits = outputs["logits"]
            vocab = sg.tensors[logits.tensorIndex].shape[-1]
            shape = constant(sg, f"{key}/litertlm_logits_shape", [1, 1, vocab])
            out = tensor(sg, f"{key}/litertlm_logits", [1, 1, vocab], dtype=sg.tensors[logits.tensorIndex].type)
            operator(sg, "RESHAPE", [logits.tensorIndex, shape], [out])
            dropped.add(logits.tensorIndex)
            logits.tensorIndex = out
        sig.inputs = sorted(inputs.values(), key=lambda m: _name(m.name))
        sig.outputs = sorted(outputs.values(), key=lambda m: _name(m.name))
        sg.outputs = [o for o in sg.outputs if o not in dropped] + [m.tensorIndex for m in sig.outputs
                                                                    if m.tensorIndex not in sg.outputs]
    return _serialize(model), axes


def litertlm_variant(content: bytes | bytearray) -> tuple[bytes, dict[str, int]]:
    """edgellm's prefill/decode flatbuffer -> (LiteRT-LM's variant of it, the k and v sequence axes); see _variant."""
    variant, axes = _variant(content)
    return bytes(variant), axes


def _serialize(model) -> bytearray:
    """Pack ``model`` with every buffer stored after the flatbuffer, 16-byte aligned, by offset and size (as
    ai-edge-quantizer writes large models): no 2 GB flatbuffer limit, and the Python packer, which copies non-numpy
    buffer data one byte at a time (minutes for SmolLM2), never sees the weights."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils

    data = {}
    for i, buf in enumerate(model.buffers):
        if buf.data is not None and len(buf.data):
            data[i] = buf.data
            buf.data, buf.offset, buf.size = None, 1, 1  # non-default, so the fields are packed and patched below
    head = flatbuffer_utils.convert_object_to_bytearray(model)
    packed = fb.Model.GetRootAs(head)
    offsets, end = {}, _round16(len(head))
    for i, d in data.items():
        offsets[i] = end
        flatbuffer_utils.update_packed_buffer(packed.Buffers(i), offset=end, size=len(d))
        end = _round16(end + len(d))
    out = bytearray(end)
    out[:len(head)] = head
    for i, d in data.items():  # each weight copied once, straight from the source buffer
        out[offsets[i]:offsets[i] + len(d)] = memoryview(np.asarray(d, dtype=np.uint8)).cast("B")
    return out


def _round16(n: int) -> int:
    return (n + 15) // 16 * 16


def _sequence_axes(model) -> dict[str, int]:
    for sig in model.signatureDefs:
        if _name(sig.signatureKey) != "decode":
            continue
        sg = model.subgraphs[sig.subgraphIndex]
        shapes = {_name(m.name): list(sg.tensors[m.tensorIndex].shape) for m in (*sig.inputs, *sig.outputs)}
        axes = {}
        for kind in ("k", "v"):
            cache, new = shapes.get(f"kv_{kind}_cache_0"), shapes.get(f"{kind}_new_0")
            differ = [a for a, (c, n) in enumerate(zip(cache or [], new or [])) if c != n and n == 1]
            if len(differ) != 1:
                break
            axes[kind] = differ[0]
        else:
            return axes
    raise ModelFileError("the model has no decode signature with kv_k_cache_0/k_new_0 and kv_v_cache_0/v_new_0 "
                         "that differ on one (sequence) axis; re-run `edgellm export --task text-generation`")


def _name(n) -> str:
    return n.decode() if isinstance(n, bytes) else n


# ------------------------------------------------------------------------------------------- the bundle
@dataclass(frozen=True, kw_only=True)
class LitertLmBundle:
    """What goes into model.litertlm besides the flatbuffer (all read from the export folder by the caller).

    start_token: text of the token LiteRT-LM puts before every prompt, or None (it then adds none). Set only when
        the model's own tokenizer adds it to plain text; the chat template then must not render it again.
    stop_tokens: token ids that end generation (generation_config's eos + the tokenizer's).
    chat_template: the Jinja template as LiteRT-LM must render it (``litertlm_chat_template``), or None.
    max_num_tokens: the KV-cache length (prompt + reply).
    num_layers, cache_length: the KV cache, for ExecutorMetadata.
    model_type: HF model_type; picks LiteRT-LM's model type (qwen2/qwen3 have their own, the rest are generic).
    """

    start_token: str | None
    stop_tokens: tuple[int, ...]
    chat_template: str | None
    max_num_tokens: int
    num_layers: int
    cache_length: int
    model_type: str


def write_litertlm(path: str | Path, tflite: bytes | bytearray, tokenizer_json: str | Path, bundle: LitertLmBundle
                   ) -> dict[str, Any]:
    """Write ``path`` (a .litertlm) from edgellm's flatbuffer; returns the manifest's description of it."""
    require("litert_lm_builder", "convert")
    import litert_lm_builder as lb
    from litert_lm_builder.runtime.proto import executor_metadata_pb2 as ex
    from litert_lm_builder.runtime.proto import llm_metadata_pb2

    meta = llm_metadata_pb2.LlmMetadata()
    if bundle.start_token:
        meta.start_token.token_str = bundle.start_token
    for t in bundle.stop_tokens:
        meta.stop_tokens.add().token_ids.ids.append(int(t))
    if bundle.chat_template:
        meta.jinja_prompt_template = bundle.chat_template
    meta.max_num_tokens = bundle.max_num_tokens
    kind = {"qwen2": "qwen2p5", "qwen3": "qwen3"}.get(bundle.model_type, "generic_model")
    getattr(meta.llm_model_type, kind).SetInParent()
    meta.supports_thinking = False
    meta.supports_function_calling = False

    variant, axes = _variant(tflite)  # a bytearray, written as it is: no second copy of the weights
    executor = ex.ExecutorMetadata()
    llm = executor.llm_executor_metadata
    llm.max_history_size = bundle.cache_length
    for i in range(bundle.num_layers):
        for template, kind_, axis in ((K_NAME, ex.StateBuffer.TYPE_GLOBAL_KEY_CACHE, axes["k"]),
                                      (V_NAME, ex.StateBuffer.TYPE_GLOBAL_VALUE_CACHE, axes["v"])):
            b = llm.state_buffers.add()
            b.prefill_input_name = b.prefill_output_name = b.decode_input_name = b.decode_output_name = \
                template.format(i=i)
            b.policy, b.type, b.sequence_axis = ex.StateBuffer.POLICY_DEFAULT, kind_, axis
            b.maximum_sequence_length = bundle.cache_length

    path = Path(path)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tmp = Path(tmp)
        (tmp / "llm_metadata.pb").write_bytes(meta.SerializeToString())
        (tmp / "executor_metadata.pb").write_bytes(executor.SerializeToString())
        (tmp / "model.tflite").write_bytes(variant)
        builder = lb.LitertLmFileBuilder()
        builder.add_system_metadata(lb.Metadata(key="Authors", value="edgellm", dtype=lb.DType.STRING))
        builder.add_llm_metadata(str(tmp / "llm_metadata.pb"))
        builder.add_executor_metadata(str(tmp / "executor_metadata.pb"))
        builder.add_hf_tokenizer(str(tokenizer_json))
        builder.add_tflite_model(str(tmp / "model.tflite"), lb.TfLiteModelType.PREFILL_DECODE)
        with open(tmp / "bundle.litertlm", "wb") as f:
            builder.build(f, validate_metadata=True)
        (tmp / "bundle.litertlm").replace(path)
    from importlib import metadata

    return {
        "file": path.name,
        "size_bytes": path.stat().st_size,
        "litert_lm_builder": metadata.version("litert-lm-builder"),
        "start_token": bundle.start_token,
        "stop_token_ids": list(bundle.stop_tokens),
        "max_num_tokens": bundle.max_num_tokens,
        "kv_cache": {"k": {"name": K_NAME, "sequence_axis": axes["k"]},
                     "v": {"name": V_NAME, "sequence_axis": axes["v"]},
                     "update": "in graph (DYNAMIC_UPDATE_SLICE at input_pos[0]); input and output share the name"},
        "chat_template": bool(bundle.chat_template),
    }


# ------------------------------------------------------------------------------------------- the chat template
# LiteRT-LM renders the template with MiniJinja and hands it each message's content as a list of parts
# ([{"type": "text", "text": ...}]), so a template that does '...' + message['content'] stops with "tried to use +
# operator on unsupported types string and sequence" (SmolLM2's, on litert-lm 0.18). This prefix turns the parts back
# into one string per message before the model's own template runs. It emits nothing (no whitespace between tags).
PARTS_TO_TEXT = (
    "{% set edgellm_ns = namespace(messages=[]) %}{% for edgellm_m in messages %}"
    "{% if edgellm_m['content'] is string %}{% set edgellm_c = edgellm_m['content'] %}"
    "{% else %}{% set edgellm_c = edgellm_m['content'] | map(attribute='text') | join('') %}{% endif %}"
    "{% set edgellm_ns.messages = edgellm_ns.messages + [{'role': edgellm_m['role'], 'content': edgellm_c}] %}"
    "{% endfor %}{% set messages = edgellm_ns.messages %}"
)


def as_parts(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages the way LiteRT-LM's Conversation passes them to the template."""
    return [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in messages]


def litertlm_chat_template(template: str, references: Sequence[tuple[list[dict[str, Any]], str]], *,
                           bos_token: str | None, eos_token: str | None, start_token: str | None
                           ) -> tuple[str, dict[str, Any]]:
    """The template to ship in model.litertlm and the record of the check that it renders like transformers.

    ``references``: (messages, transformers' apply_chat_template(messages, add_generation_prompt=True)). LiteRT-LM's
    prompt is ``start_token`` + the template rendered on content parts; it must equal the reference byte for byte.
    Rewrites, each only when needed: PARTS_TO_TEXT (content parts), and ``bos_token`` / ``eos_token`` set inside the
    template (LiteRT-LM does not pass transformers' values; the BOS renders as "" when ``start_token`` carries it,
    so it is not doubled).
    """
    from edgellm.generate.tokenizer import render_template

    def render(text: str, messages) -> str | Exception:
        try:
            return render_template(text, as_parts(messages), add_generation_prompt=True)
        except Exception as e:  # noqa: BLE001  jinja errors of any kind are the finding, recorded below
            return e

    references = [(m, want) for m, want in references if isinstance(want, str)]  # skip what transformers refused

    def agree(text: str) -> list[bool | str]:
        results = []
        for messages, want in references:
            got = render(text, messages)
            results.append(f"error: {got}"[:160] if isinstance(got, Exception) else (start_token or "") + got == want)
        return results

    rewrites, shipped = [], template
    variables = {}
    if "bos_token" in template:
        variables["bos_token"] = "" if start_token else (bos_token or "")
    if "eos_token" in template:
        variables["eos_token"] = eos_token or ""
    if variables:
        shipped = "".join(f"{{% set {k} = {json.dumps(v)} %}}" for k, v in variables.items()) + shipped
        rewrites.append("set " + ", ".join(variables))
    results = agree(shipped)
    if not all(r is True for r in results):
        with_prefix = PARTS_TO_TEXT + shipped
        fixed = agree(with_prefix)
        if sum(r is True for r in fixed) > sum(r is True for r in results):
            shipped, results = with_prefix, fixed
            rewrites.insert(0, "content parts joined into text")
    from importlib import metadata

    try:
        runtime = metadata.version(LITERTLM_DIST)
    except metadata.PackageNotFoundError:
        runtime = None
    return shipped, {
        "identical": bool(results) and all(r is True for r in results),
        "renderer": "jinja2 emulation of LiteRT-LM's MiniJinja (content as parts, start_token prepended)",
        "litert_lm_version": metadata.version("litert-lm-builder"),  # the format and runtime release it targets
        "litert_lm_api": runtime,  # installed runtime, if any
        "rewrites": rewrites,
        "start_token": start_token,
        "conversations": [{"roles": [m["role"] for m in msgs], "identical": r is True,
                           **({} if isinstance(r, bool) else {"error": r})} for (msgs, _), r in zip(references, results)],
    }


# ------------------------------------------------------------------------------------------- from an export folder
def start_token_of(tokenizer) -> str | None:
    """The BOS when the model's tokenizer puts it before plain text (llama), else None (SmolLM2, qwen2)."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None or not getattr(tokenizer, "bos_token", None):
        return None
    ids = tokenizer("x").input_ids
    return str(tokenizer.bos_token) if ids[:1] == [bos_id] else None


def write_export_litertlm(folder: Path, tokenizer, references: Sequence[tuple[list[dict[str, Any]], str]], *,
                          eos_token_ids: Sequence[int], model_type: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Write ``folder``/model.litertlm from the export's model.tflite and tokenizer.json.

    ``references``: transformers' renders of the chat checks. Returns (the manifest's ``litertlm`` section, the
    template check or None when the model has no chat template).
    """
    from edgellm.generate.runner import interpreter_layout
    from edgellm.runtime import new_interpreter

    layout = interpreter_layout(new_interpreter(folder / MODEL_FILE, xnnpack=False))
    start = start_token_of(tokenizer)
    template, check = getattr(tokenizer, "chat_template", None), None
    if template:
        template, check = litertlm_chat_template(template, references, bos_token=tokenizer.bos_token,
                                                 eos_token=tokenizer.eos_token, start_token=start)
    bundle = LitertLmBundle(start_token=start, stop_tokens=tuple(eos_token_ids), chat_template=template,
                            max_num_tokens=layout.cache_length, num_layers=layout.num_layers,
                            cache_length=layout.cache_length, model_type=model_type)
    info = write_litertlm(folder / LITERTLM_FILE, _read_bytearray(folder / MODEL_FILE), folder / "tokenizer.json",
                          bundle)
    return info, check


def _read_bytearray(path: Path) -> bytearray:
    """A file's bytes in a bytearray, read in place (``bytearray(path.read_bytes())`` holds them twice)."""
    data = bytearray(path.stat().st_size)
    with open(path, "rb") as f:
        f.readinto(data)
    return data


def add_litertlm(folder: str | Path) -> dict[str, Any]:
    """Write model.litertlm into an existing LLM export folder (made before edgellm wrote one) and record it in its
    edgellm.json, as the export now does. Needs transformers (the template check renders with it)."""
    from edgellm.bundle.chat import chat_references

    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest.get("task") != TEXT_GENERATION:
        raise ModelFileError(f"{str(folder)!r} is a {manifest.get('task')!r} export; model.litertlm is for "
                             "text-generation exports")
    transformers = require("transformers", "convert")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    info, check = write_export_litertlm(folder, tokenizer, chat_references(tokenizer),
                                        eos_token_ids=manifest["llm"]["eos_token_ids"],
                                        model_type=manifest["model_type"])
    manifest["litertlm"] = info
    if isinstance(manifest["llm"].get("chat_template_check"), dict):
        manifest["llm"]["chat_template_check"]["litertlm"] = check
    else:
        manifest["llm"]["chat_template_check"] = {"litertlm": check} if check else None
    write_manifest(folder, manifest)
    return info
