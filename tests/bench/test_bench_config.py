import pytest

from edgellm.bench.config import BenchConfig, parse_option
from edgellm.errors import ConfigError


def test_round_trip():
    c = BenchConfig(threads=(1, 2, 4), runs=7, min_seconds=0.5, warmup=2, xnnpack=False, accelerator="gpu",
                    text_file="x.txt", signature="seq_16", seed=3,
                    interpreter_options={"experimental_disable_delegate_clustering": True})
    assert BenchConfig.from_dict(c.to_dict()) == c
    assert c.to_dict()["threads"] == [1, 2, 4]


def test_int_threads_becomes_a_tuple():
    assert BenchConfig(threads=4).threads == (4,)


@pytest.mark.parametrize("kwargs,match", [
    ({"threads": (0,)}, "threads must be positive"),
    ({"threads": ()}, "threads must be positive"),
    ({"runs": 0}, "runs must be an integer >= 1"),
    ({"warmup": -1}, "warmup must be"),
    ({"min_seconds": -1}, "min_seconds must be"),
    ({"accelerator": "tpu"}, r"unknown accelerator 'tpu'; choose one of cpu, gpu, npu"),
    ({"input_file": "a.npz", "text_file": "b.txt"}, "pass one"),
    ({"interpreter_options": {"num_threads": 2}}, "set by edgellm; use threads"),
])
def test_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BenchConfig(**kwargs)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match=r"unknown BenchConfig keys \['thread'\]"):
        BenchConfig.from_dict({"thread": 2})


def test_parse_option():
    assert parse_option("a=true") == ("a", True)
    assert parse_option("b=12") == ("b", 12)
    assert parse_option("c=/tmp/x") == ("c", "/tmp/x")
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        parse_option("novalue")
