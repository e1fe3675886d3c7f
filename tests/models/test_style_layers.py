import pytest
import torch
import torch.nn.functional as F

from stylize.models.style_layers import EPS, AdaIN, ConditionalInstanceNorm, mean_std


def feats(seed=0, shape=(2, 5, 7, 6)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 3 + 1


def test_mean_std_matches_hand_computation():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])
    mean, std = mean_std(x, eps=0.0)
    assert mean.item() == pytest.approx(3.0)
    assert std.item() == pytest.approx(((4 + 1 + 0 + 9) / 4) ** 0.5)  # biased variance
    assert mean_std(x)[1].item() == pytest.approx((3.5 + EPS) ** 0.5)  # eps inside the sqrt


def test_masked_mean_std_uses_only_masked_positions():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 100.0]]]])
    mask = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])
    mean, std = mean_std(x, mask, eps=0.0)
    assert mean.item() == pytest.approx(2.0)
    assert std.item() == pytest.approx((2 / 3) ** 0.5)


def test_adain_with_unit_style_is_instance_norm():
    x = feats()
    c = x.shape[1]
    out = AdaIN()(x, torch.zeros(1, c, 1, 1), torch.ones(1, c, 1, 1))
    torch.testing.assert_close(out, F.instance_norm(x, eps=EPS), atol=1e-5, rtol=1e-5)


def test_adain_output_takes_the_style_statistics():
    content, style = feats(0), feats(1) * 0.5 - 2
    s_mean, s_std = mean_std(style)
    out_mean, out_std = mean_std(AdaIN()(content, s_mean, s_std))
    torch.testing.assert_close(out_mean, s_mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out_std, s_std, atol=1e-3, rtol=1e-3)


def bank():
    layer = ConditionalInstanceNorm(5, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.rand(3, 5) + 0.5)
        layer.bias.copy_(torch.randn(3, 5))
    return layer


def conditional_in(x, layer, style):
    """Conditional IN as the model applies it: AdaIN with the layer's (gamma, beta) as std and mean."""
    gamma, beta = layer(style)
    return AdaIN()(x, beta, gamma)


def test_conditional_one_hot_equals_that_styles_instance_norm():
    x, layer = feats(), bank()
    for k in range(3):
        expected = F.instance_norm(x, weight=layer.weight[k], bias=layer.bias[k], eps=EPS)
        torch.testing.assert_close(conditional_in(x, layer, torch.eye(3)[k]), expected, atol=1e-5, rtol=1e-5)


def test_conditional_blend_is_a_convex_combination():
    x, layer = feats(), bank()
    one = torch.eye(3)
    blended = conditional_in(x, layer, torch.tensor([0.5, 0.25, 0.25]))
    expected = sum(w * conditional_in(x, layer, one[k]) for k, w in enumerate((0.5, 0.25, 0.25)))
    torch.testing.assert_close(blended, expected, atol=1e-5, rtol=1e-5)


def test_conditional_per_image_weights():
    x, layer = feats(), bank()
    gamma, beta = layer(torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    assert gamma.shape == beta.shape == (2, 5, 1, 1)
    out = conditional_in(x, layer, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    torch.testing.assert_close(out[0], conditional_in(x, layer, torch.eye(3)[0])[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[1], conditional_in(x, layer, torch.eye(3)[2])[1], atol=1e-5, rtol=1e-5)


def test_conditional_rejects_bad_styles():
    with pytest.raises(ValueError, match="expected 3 style weights, got 2"):
        bank()([1.0, 1.0])
