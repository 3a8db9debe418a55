"""SamplingConfig.from_flags checks `edgellm generate`'s sampling flags (the CLI only passes them on)."""

import pytest

from edgellm.errors import ConfigError
from edgellm.generate import SamplingConfig


def test_no_flag_is_greedy_and_temperature_samples():
    assert SamplingConfig.from_flags() == SamplingConfig() and SamplingConfig.from_flags(greedy=True).greedy
    assert SamplingConfig.from_flags(temperature=0.7, top_k=5, top_p=0.9, seed=3) == SamplingConfig(
        temperature=0.7, top_k=5, top_p=0.9, seed=3)


@pytest.mark.parametrize("flags, match", [
    ({"greedy": True, "temperature": 0.5, "seed": 1}, "--greedy excludes --temperature, --seed; pass one or the other"),
    ({"top_k": 5}, r"--top-k, --top-p and --seed sample, which needs --temperature > 0"),
    ({"seed": 0}, r"needs --temperature > 0"),
    ({"temperature": 0}, "--temperature 0 is greedy decoding; pass --greedy"),
    ({"temperature": 0.5, "top_p": 2.0}, r"top_p must be a number in \(0, 1\]"),
])
def test_bad_flag_combinations(flags, match):
    with pytest.raises(ConfigError, match=match):
        SamplingConfig.from_flags(**flags)


def test_llm_inputs_are_checked(tiny_llm_export):
    from edgellm import GenerateConfig, load_llm

    llm = load_llm(tiny_llm_export[1])
    with pytest.raises(ConfigError, match="prompt must be a str; got NoneType"):
        list(llm.generate(None))
    with pytest.raises(ConfigError, match="config must be a GenerateConfig"):
        list(llm.generate("hi", {"max_new_tokens": 3}))
    with pytest.raises(ConfigError, match=r"prompt_ids must be token ids \(integers\)"):
        list(llm.tokens(["hi"]))
    import numpy as np

    assert len(list(llm.tokens(np.array([1, 7, 9]), GenerateConfig(max_new_tokens=2, stop_at_eos=False)))) == 2
