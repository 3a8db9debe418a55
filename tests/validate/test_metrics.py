import numpy as np
import pytest

from edgellm.validate import Tolerance, compare_outputs, judge


def test_per_sequence_metrics_by_hand():
    ref = [{"embedding": np.array([[1.0, 0.0]])}, {"embedding": np.array([[0.0, 2.0]])}]
    cand = [{"embedding": np.array([[1.0, 1.0]])}, {"embedding": np.array([[0.0, 2.0]])}]
    m = compare_outputs(ref, cand, [None, None])["embedding"]
    assert m["max_abs"] == 1.0
    assert m["min_cosine"] == pytest.approx(1 / np.sqrt(2))
    assert m["mean_cosine"] == pytest.approx((1 / np.sqrt(2) + 1) / 2)
    assert m["snr_db"] == pytest.approx(10 * np.log10(5 / 1))
    assert "top1" not in m


def test_per_position_outputs_ignore_padding_and_count_top1():
    ref = np.zeros((1, 4, 3))
    ref[0, :, 0] = 1.0  # argmax 0 everywhere
    cand = ref.copy()
    cand[0, 1] = [0.0, 5.0, 0.0]  # position 1 disagrees
    cand[0, 3] = [9.0, 9.0, 9.0]  # position 3 is padding: ignored
    mask = np.array([[1, 1, 1, 0]])
    m = compare_outputs([{"logits": ref}], [{"logits": cand}], [mask])["logits"]
    assert m["top1"] == pytest.approx(2 / 3)
    assert m["max_abs"] == 5.0


def test_question_answering_scores_per_position():
    ref = np.array([[0.1, 0.9, 0.0, 7.0]])
    mask = np.array([[1, 1, 1, 0]])
    m = compare_outputs([{"start_logits": ref}], [{"start_logits": ref + [0, 0, 0, -7]}], [mask])["start_logits"]
    assert m["top1"] == 1.0 and m["max_abs"] == 0.0 and m["mean_cosine"] == pytest.approx(1.0)


def test_zero_rows():
    z = np.zeros((1, 3))
    m = compare_outputs([{"e": z}], [{"e": z}], [None])["e"]
    assert m["mean_cosine"] == 1.0
    assert m["snr_db"] is None
    m = compare_outputs([{"e": z}], [{"e": z + 1}], [None])["e"]
    assert m["mean_cosine"] == 0.0 and m["snr_db"] is None


def test_judge_lists_every_failure():
    tol = Tolerance(min_cosine=0.99, min_top1=0.9)
    metrics = {"logits": {"mean_cosine": 0.5, "top1": 0.5}, "e": {"mean_cosine": 0.999}}
    assert judge(metrics, tol) == ("logits mean cosine 0.500000 < 0.99", "logits top-1 agreement 0.500 < 0.9")
    assert judge({"e": {"mean_cosine": 0.999}}, tol) == ()
