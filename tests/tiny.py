"""Tiny random-weight HF model folders built from archs' tiny configs (the real save_pretrained path)."""

from __future__ import annotations

from pathlib import Path

from edgellm.archs import ARCHS, TASKS

WORDS = ("the a an is are was of to and in on for with what how why who when where can you i my it this that "
         "phone model fast small weather train book time call set light hello world good bad not").split()
PUNCT = list(".,!?'\"-:;#()")
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + PUNCT + LETTERS + ["##" + c for c in LETTERS] + WORDS


def save_tokenizer(folder: Path) -> None:
    from transformers import BertTokenizerFast

    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    # transformers 5 takes the vocabulary itself (a vocab_file= keyword is ignored: 5 special tokens only).
    BertTokenizerFast(vocab={t: i for i, t in enumerate(VOCAB)}, do_lower_case=True).save_pretrained(folder)


def make_sentence_transformer(folder: Path, model: Path) -> Path:
    """A copy of the HF folder `model` with sentence-transformers' modules: mean pooling, then normalize."""
    import json
    import shutil

    shutil.copytree(model, folder)
    (folder / "modules.json").write_text(json.dumps([
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    return folder


def make_model(folder: Path, model_type: str = "bert", task: str = "feature-extraction", *,
               num_labels: int = 3, **overrides) -> Path:
    """Save a random-weight `model_type` model with the head of `task` and a tokenizer into `folder`."""
    import torch
    import transformers

    assert len(VOCAB) <= 160, len(VOCAB)
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(model_type, **{**ARCHS[model_type].tiny_config, **overrides})
    config.num_labels = 2 if task == "question-answering" else num_labels
    auto = getattr(transformers, TASKS[task][0])
    model = auto.from_config(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    save_tokenizer(folder)
    return folder
