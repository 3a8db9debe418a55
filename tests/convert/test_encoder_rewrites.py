"""Export-wrapper rewrites for the static recipes: BoundedLayerNorm, ChannelScaledLinear and smoothed linear inputs
are the same functions as what they replace, with ranges that quantize well."""

import pytest
import torch

from edgellm.convert import ConvertConfig
from edgellm.convert.encoder import BoundedLayerNorm, ChannelScaledLinear, bound_layer_norms, \
    scale_outlier_channels, smooth_linear_inputs
from edgellm.errors import ConfigError


def test_bounded_layer_norm_is_layer_norm_with_outliers():
    torch.manual_seed(0)
    ln = torch.nn.LayerNorm(64, eps=1e-12)
    torch.nn.init.normal_(ln.weight)
    torch.nn.init.normal_(ln.bias)
    x = torch.randn(2, 8, 64)
    x[0, 3, 5] = 196.0  # one outlier channel on one token, as in MiniLM's residual stream
    bounded = BoundedLayerNorm(ln)
    torch.testing.assert_close(bounded(x), ln(x), atol=1e-5, rtol=1e-5)


def test_bound_layer_norms_replaces_every_layer_norm():
    model = torch.nn.Sequential(torch.nn.LayerNorm(8), torch.nn.Linear(8, 8),
                                torch.nn.Sequential(torch.nn.LayerNorm(8)))
    assert bound_layer_norms(model) == 2
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in model.modules())
    assert sum(isinstance(m, BoundedLayerNorm) for m in model.modules()) == 2


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.Linear(16, 32)
        self.down = torch.nn.Linear(32, 16)

    def forward(self, x):
        return self.down(torch.relu(self.up(x)))


def test_scale_outlier_channels_keeps_the_function_and_tames_the_linear_output():
    torch.manual_seed(0)
    net = _Net()
    with torch.no_grad():
        net.down.weight[3] *= 100.0  # output channel 3 peaks ~100x the others
        net.down.bias[3] = 50.0
    x = torch.randn(4, 8, 16)
    before = net(x)
    scaled = scale_outlier_channels(net, {"x": x}, ratio=8.0)
    assert scaled == {"down": 1}  # only channel 3 of `down`; `up` has no outlier channel
    assert isinstance(net.down, ChannelScaledLinear) and isinstance(net.up, torch.nn.Linear)
    torch.testing.assert_close(net(x), before, atol=1e-4, rtol=1e-5)
    inner = net.down.linear(torch.relu(net.up(x))).abs().reshape(-1, 16).amax(0)
    assert inner.max() <= 8.0 * inner.median() * 1.001  # the linear layer's own output: no channel above 8x median


def test_convert_config_outlier_channel_ratio():
    with pytest.raises(ConfigError, match="outlier_channel_ratio is a peak / median ratio above 1"):
        ConvertConfig(outlier_channel_ratio=0.5)
    config = ConvertConfig(bounded_layer_norm=True, outlier_channel_ratio=8.0)
    assert ConvertConfig.from_dict(config.to_dict()) == config


class _Attention(torch.nn.Module):
    """query and key read the same tensor (as a BERT layer's do); out reads another."""

    def __init__(self):
        super().__init__()
        self.query = torch.nn.Linear(16, 16)
        self.key = torch.nn.Linear(16, 16)
        self.out = torch.nn.Linear(16, 16)

    def forward(self, x):
        return self.out(torch.relu(self.query(x) + self.key(x)))


def test_smooth_linear_inputs_keeps_the_function_and_evens_the_input_channels():
    torch.manual_seed(0)
    net = _Attention()
    x = torch.randn(4, 8, 16)
    x[..., 5] *= 30.0  # one input channel 30x the others, as MiniLM's LayerNorm outputs have
    before = net(x)
    assert smooth_linear_inputs(net, {"x": x}, alpha=0.75) == {"layers": 3, "groups": 2, "alpha": 0.75}
    torch.testing.assert_close(net(x), before, atol=1e-4, rtol=1e-4)
    # query and key share one scale (one tensor in, one int8 range); their weights carry it
    torch.testing.assert_close(net.query.input_inverse_scale, net.key.input_inverse_scale)
    seen = (x * net.query.input_inverse_scale).abs().reshape(-1, 16).amax(0)  # what the FULLY_CONNECTED reads
    peak = x.abs().reshape(-1, 16).amax(0)
    assert seen.max() / seen.median() < 0.5 * peak.max() / peak.median()


def test_convert_config_smooth_alpha():
    for bad in (0, 1.5, True, "0.5"):
        with pytest.raises(ConfigError, match="smooth_alpha is a migration strength in \\(0, 1\\]"):
            ConvertConfig(smooth_alpha=bad)
    config = ConvertConfig(smooth_alpha=0.75)
    assert ConvertConfig.from_dict(config.to_dict()) == config
