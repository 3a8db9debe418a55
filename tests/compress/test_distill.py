"""edgellm.distill on tiny random BERT and llama folders: the loss against hand computations, agreement that rises
with training, bit-for-bit resume (after a stop and after Ctrl-C), a student folder that loads, exports and
validates, prune's recovery steps, and bad input refused in one line with nothing written."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "generate"))

from tiny import make_model  # noqa: E402
from tiny_llm import make_llm  # noqa: E402

import edgellm  # noqa: E402
import edgellm.compress.distill  # noqa: E402,F401
from edgellm import cli  # noqa: E402
from edgellm.compress import DistillConfig, distill  # noqa: E402
from edgellm.compress.loss import LossConfig, distill_loss, next_token_ce, soft_kl  # noqa: E402
from edgellm.compress.train import TrainConfig, train  # noqa: E402
from edgellm.errors import CalibrationError, ConfigError  # noqa: E402
from edgellm.signals import stop_on_signals  # noqa: E402

TEXTS = ["the phone is fast and small", "what time is it in the world", "call my book light", "hello world",
         "is the weather good for a train", "set a light for the small phone", "how can you call this model",
         "why is my phone not fast", "where is the train with the book", "who set the time on my phone"] * 2
FAST = dict(max_length=16, batch_size=4, checkpoint_every=2)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/compress/conftest.py


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("src") / "bert", "bert", num_hidden_layers=4, initializer_range=0.2)


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return make_llm(tmp_path_factory.mktemp("src") / "llama", "llama", num_hidden_layers=4)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _nothing_written(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


# ---------------------------------------------------------------------------------------------------- loss
def test_soft_term_is_t_squared_kl_by_hand():
    import torch

    # the docstring's worked example: p_t = softmax([2, 0] / 2), p_s = [0.5, 0.5]
    p_t = [math.exp(1) / (math.exp(1) + 1), 1 / (math.exp(1) + 1)]
    kl = sum(p * math.log(p / 0.5) for p in p_t)
    got = soft_kl(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]), 2.0)
    assert float(got) == pytest.approx(4 * kl, rel=1e-6) and float(got) == pytest.approx(0.4438, abs=1e-4)
    assert float(soft_kl(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]), 1.0)) == pytest.approx(
        sum(p * math.log(p / 0.5) for p in [math.exp(2) / (math.exp(2) + 1), 1 / (math.exp(2) + 1)]), rel=1e-6)


def test_hard_and_total_loss_by_hand():
    import torch

    logits = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]])  # [1, 3, 3]
    ids = torch.tensor([[0, 1, 2]])
    ce = [math.log(math.exp(1) + 2), math.log(math.exp(2) + 2)]  # -log p(target): targets 1 and 2 have logit 0
    assert float(next_token_ce(logits, ids)) == pytest.approx(sum(ce) / 2, rel=1e-6)
    mask = torch.tensor([[1, 1, 0]])  # the last target is padding
    assert float(next_token_ce(logits, ids, mask)) == pytest.approx(ce[0], rel=1e-6)
    teacher = {"logits": logits.flip(-1)}
    total, parts = distill_loss({"logits": logits}, teacher, {"input_ids": ids}, LossConfig(alpha=0.25,
                                                                                             temperature=3.0),
                                causal=True)
    soft = float(soft_kl(logits, logits.flip(-1), 3.0))
    assert parts["hard"] == pytest.approx(sum(ce) / 2, rel=1e-6) and parts["soft"] == pytest.approx(soft)
    assert float(total) == pytest.approx(0.25 * sum(ce) / 2 + 0.75 * soft, rel=1e-6) and parts["hidden"] is None


def test_hidden_term_cosine_and_projection():
    import torch

    hs = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # [1, 2 tokens, 2]
    ht = torch.tensor([[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])  # [1, 2, 3]
    proj = torch.nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    _, parts = distill_loss({"hidden_states": [hs]}, {"hidden_states": [ht]}, {}, LossConfig(hidden="cosine"),
                            causal=False, projection=proj)
    # tokens: cos 1 and 0 -> mean(1 - cos) = 0.5; pooled: [0.5, 0.5, 0] vs [1, 0, 0] -> 1 - 1/sqrt(2)
    assert parts["hidden"] == pytest.approx(0.5 + 1 - 1 / math.sqrt(2), rel=1e-6)
    assert parts["hard"] is None and parts["soft"] is None


def test_configs_round_trip_and_refuse_bad_values():
    config = DistillConfig(student_layers=2, data="x.txt", max_minutes=3.5, temperature=4.0)
    assert DistillConfig.from_dict(config.to_dict()) == config
    assert LossConfig.from_dict(LossConfig(hidden="mse").to_dict()) == LossConfig(hidden="mse")
    assert TrainConfig.from_dict(TrainConfig(max_steps=3).to_dict()) == TrainConfig(max_steps=3)
    for bad, match in [(dict(), "one of them"), (dict(student="s", student_layers=2), "one of them"),
                       (dict(student_layers=2, epochs=1, max_steps=3), "one end of training"),
                       (dict(student_layers=2, alpha=1.5), "alpha"), (dict(student_layers=2, temperature=0), "temper"),
                       (dict(student_layers=0), "positive"), (dict(student="s", student_hidden=8), "goes with"),
                       (dict(student_layers=2, resume=True, overwrite=True), "give one"),
                       (dict(student_layers=2, hidden_loss="l1"), "hidden_loss"),
                       (dict(student_layers=2, lr_schedule="cosine"), "lr_schedule")]:
        with pytest.raises(ConfigError, match=match):
            DistillConfig(**bad)


def test_learning_rate_warms_up_then_holds_or_falls_to_zero_at_the_end():
    from edgellm.compress.train import learning_rate

    steps = TrainConfig(lr=1.0, max_steps=100, warmup_steps=10)
    assert [learning_rate(steps, s, 0.0) for s in (0, 4, 9, 50, 99)] == [0.1, 0.5, 1.0, 1.0, 1.0]
    linear = TrainConfig(lr=1.0, max_steps=100, warmup_steps=10, lr_schedule="linear")
    assert [learning_rate(linear, s, 0.0) for s in (0, 9, 50, 99)] == pytest.approx([0.1, 0.91, 0.5, 0.01])
    timed = TrainConfig(lr=2.0, max_seconds=60.0, lr_schedule="linear")  # a time budget: the share of the time
    assert [learning_rate(timed, 5, t) for t in (0.0, 15.0, 60.0, 75.0)] == [2.0, 1.5, 0.0, 0.0]


# ---------------------------------------------------------------------------------------------------- training
def _agreement(teacher_dir: Path, student, texts: list[str]) -> float:
    """Share of next-token top-1 predictions the student shares with the teacher."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(teacher_dir)
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir).eval()
    same = total = 0
    with torch.no_grad():
        for text in texts:
            ids = tok(text, return_tensors="pt")["input_ids"]
            same += int((teacher(ids).logits.argmax(-1) == student(ids).logits.argmax(-1)).sum())
            total += ids.shape[1]
    return same / total


def test_agreement_with_the_teacher_rises(llama, texts, tmp_path):
    import transformers

    from edgellm.compress.families import family_of
    from edgellm.compress.student import from_teacher

    teacher = transformers.AutoModelForCausalLM.from_pretrained(llama).eval()
    start, kept = from_teacher(teacher, family_of("llama"), 2)
    assert kept == [1, 3]
    held = ["the book is small and fast", "my world is good", "when can you set the time"]
    before = _agreement(llama, start, held)
    result = distill(llama, tmp_path / "out", student_layers=2, data=str(texts), max_steps=40, lr=3e-3, alpha=0.0,
                     **FAST)
    after = _agreement(llama, transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval(), held)
    assert after > before + 0.1, (before, after)
    assert result.loss_last < result.loss_first and result.steps == 40
    doc = json.loads((tmp_path / "out" / "compress.json").read_text())
    assert doc["method"] == "distill" and doc["status"] == "done" and doc["student"]["layers_kept"] == [1, 3]
    assert doc["teacher"]["sha256"]["model.safetensors"] and doc["data"]["sha256"] and doc["wall_s"] > 0
    assert doc["loss"]["hard"] == "next-token cross-entropy" and doc["loss"]["soft"] == "T^2 KL on logits"
    assert doc["loss_curve"][-1][0] == 40 and doc["config"]["lr"] == 3e-3
    held = doc["fidelity"]  # the teacher is "before", the student "after"
    assert held["after"]["perplexity_ratio"] == pytest.approx(
        held["after"]["perplexity"] / held["before"]["perplexity"], rel=1e-3)
    assert 0 < held["after"]["top1_agreement"] < 1 and doc["latency_ms"]["after"] > 0
    assert "held-text perplexity" in result.summary()


def test_resume_is_bit_for_bit_after_a_stop_and_after_ctrl_c(bert, texts, tmp_path, monkeypatch):
    settings = dict(student_layers=2, data=str(texts), lr=1e-3, **FAST)
    whole = distill(bert, tmp_path / "whole", max_steps=7, **settings)
    distill(bert, tmp_path / "parts", max_steps=3, **settings)  # a shorter run, then continued
    continued = distill(bert, tmp_path / "parts", max_steps=7, resume=True, **settings)
    assert continued.steps == whole.steps == 7

    distill_module = sys.modules["edgellm.compress.distill"]  # edgellm.compress.distill is the function
    real_batch = distill_module._batch

    def interrupt_at_5(ids, step, *args):
        if step == 5:  # a real SIGINT, as the CLI handles it (edgellm/signals.py)
            os.kill(os.getpid(), signal.SIGINT)
        return real_batch(ids, step, *args)

    monkeypatch.setattr(distill_module, "_batch", interrupt_at_5)
    with pytest.raises(KeyboardInterrupt), stop_on_signals():  # the first checkpoint would be at step 100
        distill(bert, tmp_path / "ctrl_c", max_steps=7, **{**settings, "checkpoint_every": 100})
    monkeypatch.setattr(distill_module, "_batch", real_batch)
    doc = json.loads((tmp_path / "ctrl_c" / "compress.json").read_text())
    assert doc["status"] == "checkpoint" and doc["steps"] == 5  # saved on Ctrl-C
    distill(bert, tmp_path / "ctrl_c", max_steps=7, resume=True, **settings)

    want = _weights(tmp_path / "whole")
    for name in ("parts", "ctrl_c"):
        got = _weights(tmp_path / name)
        assert got.keys() == want.keys() and all(got[k].equal(want[k]) for k in want), name
        assert json.loads((tmp_path / name / "compress.json").read_text())["loss_curve"] == \
            json.loads((tmp_path / "whole" / "compress.json").read_text())["loss_curve"]


def test_student_folder_loads_exports_and_validates(bert, texts, tmp_path):
    import transformers

    out = tmp_path / "student"
    code = cli.main(["distill", "--teacher", str(bert), "--student-layers", "2", "--student-hidden", "16",
                     "--data", str(texts), "--max-steps", "3", "--batch-size", "4", "--max-length", "16", str(out)])
    assert code == 0
    config = transformers.AutoConfig.from_pretrained(out)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (2, 16, 1)
    assert sum(p.numel() for p in transformers.AutoModel.from_pretrained(out).parameters()) < \
        sum(p.numel() for p in transformers.AutoModel.from_pretrained(bert).parameters())
    doc = json.loads((out / "compress.json").read_text())
    assert doc["loss"]["hidden"]["kind"] == "cosine" and "Linear 16 -> 32" in doc["loss"]["hidden"]["projection"]
    assert -1 <= doc["fidelity"]["after"]["cosine_mean"] < 1  # the 16-wide student, through its projection
    assert (out / "tokenizer.json").is_file() and (out / "distill.ckpt").is_file()
    exported = edgellm.export(out, tmp_path / "export", sequence_length=16)
    assert exported.validation.passed


def test_weight_transform_runs_before_every_forward(llama, texts):
    import torch
    import transformers

    from edgellm.compress.loss import LossConfig
    from edgellm.compress.train import TrainConfig, train

    teacher = transformers.AutoModelForCausalLM.from_pretrained(llama).eval()
    student = transformers.AutoModelForCausalLM.from_pretrained(llama).eval()
    seen = []

    def to_grid(name, w):  # straight-through rounding to a 1/8 grid
        seen.append(name)
        return w + (torch.round(w * 8) / 8 - w).detach()

    batch = {"input_ids": torch.randint(6, 150, (2, 8)), "attention_mask": torch.ones(2, 8, dtype=torch.long)}
    state = train(teacher, student, lambda step: batch,
                  lambda s, t, b: distill_loss(s, t, b, LossConfig(), causal=True), TrainConfig(max_steps=2),
                  weight_transform=to_grid)
    names = [n for n, _ in student.named_parameters()]
    assert state.step == 2 and seen == names * 2
    assert state.loss_curve()[-1][1] > 0.0  # the same weights, but the student ran on the grid: not the teacher


# ---------------------------------------------------------------------------------------------------- data
def test_data_sampled_from_the_teacher(llama, tmp_path):
    result = distill(llama, tmp_path / "out", student_layers=2, data="teacher", num_samples=4, max_steps=2,
                     max_length=24, batch_size=2)
    doc = json.loads((tmp_path / "out" / "compress.json").read_text())
    assert result.steps == 2 and doc["data"]["source"] == "teacher" and doc["data"]["texts"] == 4
    assert doc["data"]["sampling"] == "temperature 1, chat template" and doc["data"]["tokens"] > 4 * 5


def test_prune_recover_steps(llama, tmp_path):
    result = edgellm.prune(llama, tmp_path / "pruned", method="ffn", amount=0.5, num_samples=8, recover_steps=3)
    doc = json.loads((tmp_path / "pruned" / "compress.json").read_text())
    assert doc["recovery"]["steps"] == 3 and doc["recovery"]["loss"]["soft"] == "T^2 KL on logits"
    assert "recovered by distillation" in result.summary()
    plain = edgellm.prune(llama, tmp_path / "plain", method="ffn", amount=0.5, num_samples=8)
    assert plain.recovery is None
    assert not all(a.equal(b) for a, b in zip(_weights(tmp_path / "pruned").values(),
                                              _weights(tmp_path / "plain").values()))
    with pytest.raises(ConfigError, match="fill its zeros"):
        edgellm.PruneConfig(method="magnitude", amount=0.5, recover_steps=3)


# ---------------------------------------------------------------------------------------------------- bad input
def test_bad_data_is_refused_with_nothing_written(bert, tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "cols.csv").write_text("a,b\nhello world,x\n")
    for data, match in [("empty.txt", "no samples"), ("binary.txt", "not UTF-8"), ("cols.csv", "no column 'text'"),
                        ("missing.txt", "does not exist")]:
        out = tmp_path / f"out_{data}"
        with pytest.raises(CalibrationError, match=match):
            distill(bert, out, student_layers=2, data=str(tmp_path / data), max_steps=1)
        _nothing_written(out)
    with pytest.raises(ConfigError, match="is an encoder"):
        distill(bert, tmp_path / "out", student_layers=2, data="teacher", max_steps=1)
    _nothing_written(tmp_path / "out")


def test_bad_students_are_refused_with_exit_2(bert, llama, texts, tmp_path, capsys):
    other_vocab = make_model(tmp_path / "other_vocab", "bert", vocab_size=170)
    wide = make_model(tmp_path / "wide", "bert", hidden_size=64, num_attention_heads=2)
    cases = [(["--student", str(llama)], "another tokenizer"),
             (["--student", str(other_vocab)], "vocabulary has 170 entries"),
             (["--student", str(wide)], "wider than the teacher"),
             (["--student-layers", "2", "--student-hidden", "64"], "wider than the teacher"),
             (["--student-layers", "4"], "not below the teacher's 4 layers")]
    capsys.readouterr()
    for i, (flags, match) in enumerate(cases):
        out = tmp_path / f"out{i}"
        code = cli.main(["distill", "--teacher", str(bert), *flags, "--data", str(texts), "--max-steps", "1",
                         str(out)])
        err = capsys.readouterr().err
        assert code == 2 and match in err and len(err.strip().splitlines()) == 1, (flags, err)
        _nothing_written(out)


def test_resume_refuses_another_teacher_and_keeps_the_checkpoint(bert, llama, texts, tmp_path):
    out = tmp_path / "out"
    distill(bert, out, student_layers=2, data=str(texts), max_steps=2, **FAST)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    other = make_model(tmp_path / "other_teacher", "bert", num_hidden_layers=4)  # same shape, other weights
    with pytest.raises(ConfigError, match="another teacher"):
        distill(other, out, student_layers=2, data=str(texts), max_steps=4, resume=True, **FAST)
    with pytest.raises(ConfigError, match="changed: lr"):
        distill(bert, out, student_layers=2, data=str(texts), max_steps=4, resume=True,
                **{**FAST, "checkpoint_every": 2}, lr=1.0)
    with pytest.raises(ConfigError, match="changed: lr_schedule 'constant' -> 'linear'"):
        distill(bert, out, student_layers=2, data=str(texts), max_steps=4, resume=True, **FAST,
                lr_schedule="linear")
    with pytest.raises(ConfigError, match="pass --resume"):
        distill(bert, out, student_layers=2, data=str(texts), max_steps=4, **FAST)
    with pytest.raises(ConfigError, match="no distill.ckpt"):
        distill(bert, tmp_path / "new", student_layers=2, data=str(texts), max_steps=4, resume=True, **FAST)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_distill_help_documents_the_contract(capsys):
    with pytest.raises(SystemExit):
        cli.main(["distill", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for flag in ("--teacher", "--student PATH", "--student-layers N", "--student-hidden H", "--data FILE|teacher",
                 "--epochs E", "--max-steps S", "--max-minutes M", "--temperature T", "--alpha A", "--lr LR",
                 "--batch-size B", "--seed S", "--resume", "OUTPUT_DIR", "(default: 2.0)", "(default: 0.5)"):
        assert flag in out, flag
