"""Tiny random-weight causal LMs with a real BPE tokenizer and a chat template, saved with save_pretrained.

(tests/tiny.py's BERT WordPiece tokenizer is for encoders; a decoder needs BOS/EOS and a chat template.)
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
