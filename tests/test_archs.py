import pytest

from edgellm.archs import ARCHS, TASKS, check_task, get_arch, task_from_architectures
from edgellm.errors import UnsupportedArchitectureError


def test_every_family_of_the_issue_is_declared():
    assert set(ARCHS) >= {"bert", "distilbert", "roberta", "xlm-roberta", "electra", "mpnet", "albert",
                          "deberta-v2", "mobilebert"}


def test_every_gap_has_a_reason_and_every_declared_task_exists():
    for spec in ARCHS.values():
        assert set(spec.tasks) <= set(TASKS)
        for task in set(TASKS) - set(spec.tasks):
            assert spec.gaps.get(task), f"{spec.model_type} lacks {task} without a reason"


def test_unsupported_model_type_names_the_supported_ones():
    with pytest.raises(UnsupportedArchitectureError, match=r"'mamba' is not supported; supported: albert, bert"):
        get_arch("mamba")


def test_unknown_task_is_rejected():
    with pytest.raises(UnsupportedArchitectureError, match="task 'summarize' is unknown"):
        check_task(get_arch("bert"), "summarize")


@pytest.mark.parametrize("architectures, st, task", [
    (["BertForSequenceClassification"], False, "text-classification"),
    (["RobertaForTokenClassification"], False, "token-classification"),
    (["DistilBertForQuestionAnswering"], False, "question-answering"),
    (["BertForMaskedLM"], False, "fill-mask"),
    (["BertModel"], False, "feature-extraction"),
    (None, False, "feature-extraction"),
    (["BertModel"], True, "sentence-embedding"),
])
def test_task_auto(architectures, st, task):
    assert task_from_architectures(architectures, sentence_transformers=st) == task
