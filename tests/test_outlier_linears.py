"""archs' outlier_linears pick each family's residual projections (the layers the int8 recipes keep off static)."""

import re

import pytest

from edgellm.archs import ARCHS

SEQ = 8
# residual projections per layer (tiny configs have 2 layers); mobilebert: attention output, the FFN stack's
# output (num_feedforward_networks 2 -> 1 extra), the block output and the output bottleneck.
EXPECTED = {"bert": 2, "distilbert": 2, "mpnet": 2, "albert": 2, "mobilebert": 4}


@pytest.mark.parametrize("model_type", sorted(EXPECTED))
def test_outlier_regex_matches_the_residual_projections(model_type, tmp_path):
    from tiny import make_model

    from edgellm.convert import ConvertConfig, convert
    from edgellm.quantize.sensitivity import linear_layers

    folder = make_model(tmp_path / model_type, model_type)
    names = linear_layers(convert(str(folder), ConvertConfig(sequence_length=SEQ)).content)
    regex = ARCHS[model_type].outlier_linears
    matched = [n for n in names if re.search(regex, n)]
    assert len(matched) == 2 * EXPECTED[model_type], matched
    # never a query/key/value or an FFN up-projection
    assert not any(re.search(r"Linear_(query|key|value|q|k|v|q_lin|k_lin|v_lin|lin1|ffn|intermediate)(;|$)", n)
                   for n in matched)
