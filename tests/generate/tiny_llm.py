"""Tiny random-weight causal LMs with a real BPE tokenizer and a chat template, saved with save_pretrained.

(tests/tiny.py's BERT WordPiece tokenizer is for encoders; a decoder needs BOS/EOS and a chat template.)
int4_tensors and fused_grids read what an int4 export of them holds.
"""

from __future__ import annotations

from pathlib import Path

from edgellm.archs.decoders import DECODERS

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>"]  # ids 0..5: pad, bos, eos (tiny_config)
CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + eos_token }}"
                 "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}")


def corpus() -> list[str]:
    from tiny import WORDS

    return [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] + ["hello world. what time is it?"]


def save_llm_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(corpus(), trainers.BpeTrainer(vocab_size=160, special_tokens=SPECIALS,
                                                          show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)


def make_llm(folder: Path, model_type: str = "llama", *, tokenizer: bool = True, **overrides) -> Path:
    """Save a random-weight `model_type` causal LM (weights std 0.2, so greedy text is not one repeated token)."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(
        model_type, **{**DECODERS[model_type].tiny_config, "initializer_range": 0.2, **overrides})
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    if tokenizer:
        save_llm_tokenizer(folder)
    return folder


CACHE = 64
PREFILL = (8,)
DECODE_WINDOWS = (16, 32)  # decode_16, decode_32 and decode: a 24-token generation after a prompt crosses them


def cached_export(tmp_path_factory, recipe: str = "fp32") -> tuple[Path, Path]:
    """(model folder, export folder) of the tiny llama, exported once per test session and shared by test files."""
    from edgellm.export import ExportConfig, export

    base = tmp_path_factory.getbasetemp()
    model = base / "tiny_llama"
    if not (model / "config.json").exists():
        make_llm(model)
    out = base / f"tiny_llama_{recipe}"
    if not (out / "edgellm.json").exists():
        # no verify_<T> signatures: the shared export stays the plain one (speculative decoding's tests make their
        # own, tests/generate/test_speculative.py, and check that this one is refused with a re-export hint)
        export(model, out, ExportConfig(task="text-generation", quantize=recipe, cache_length=CACHE, prefill_lengths=PREFILL,
                                               decode_windows=DECODE_WINDOWS, verify_lengths=()))
    return model, out


def int4_tensors(path: Path) -> list:
    """(ints [rows, cols], scales [rows, cols / 32]) of every blockwise int4 tensor in the flatbuffer at ``path``."""
    import numpy as np
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as tu

    model = tu.read_model(path.read_bytes())
    found = []
    for sg in model.subgraphs:
        for t in sg.tensors:
            if t.quantization is None or t.quantization.details is None:
                continue
            rows, cols = t.shape
            raw = np.frombuffer(bytes(model.buffers[t.buffer].data), np.uint8)
            ints = np.stack([raw & 15, raw >> 4], -1).reshape(rows, cols).astype(np.int8)
            scales = np.frombuffer(bytes(model.buffers[sg.tensors[t.quantization.details.scales].buffer].data),
                                   np.float16).reshape(rows, -1).astype(np.float32)
            found.append((np.where(ints > 7, ints - 16, ints), scales))
    return found


def fused_grids(grids: dict) -> dict:
    """{layer name: (ints, scales)} as the int4 export stores ``grids`` ({"<i>.self_attn.q_proj": Q4Grid, ...}):
    q/k/v as one layer "<i>.self_attn.qkv" and gate/up as "<i>.mlp.gate_up", rows concatenated in that order."""
    import numpy as np

    groups = {"self_attn.qkv": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
              "mlp.gate_up": ("mlp.gate_proj", "mlp.up_proj")}
    parts = {p for ps in groups.values() for p in ps}
    out = {n: (g.k, g.scale) for n, g in grids.items() if n.split(".", 1)[1] not in parts}
    for i in sorted({n.split(".", 1)[0] for n in grids}):
        for fused, names in groups.items():
            out[f"{i}.{fused}"] = tuple(np.concatenate([getattr(grids[f"{i}.{n}"], a) for n in names])
                                        for a in ("k", "scale"))
    return out
