"""The 2-D core: shapes of the reference configuration, layer options, and the Laplace-L2 regulariser."""
import pytest
import torch

from sensorium_models.models import ModelConfig
from sensorium_models.models.cores import Stacked2dCore, laplace_l2norm


def core(**overrides) -> Stacked2dCore:
    """The reference SOTA core (ModelConfig's defaults), with overrides."""
    cfg = ModelConfig(**overrides)
    torch.manual_seed(0)
    return Stacked2dCore(1, cfg).eval()


def test_laplace_l2norm_of_hand_computed_kernels():
    delta = torch.zeros(3, 3)
    delta[1, 1] = 1.0
    ones = torch.ones(3, 3)
    # delta: the Laplacian is the stencil itself, 4² + 4·(−1)² = 20, over Σw² = 1.
    assert laplace_l2norm(delta[None, None]).item() == pytest.approx(20.0)
    # ones, zero-padded: centre 0, the 4 edge cells 1, the 4 corners 2 → 4 + 16 = 20, over Σw² = 9.
    assert laplace_l2norm(ones[None, None]).item() == pytest.approx(20.0 / 9.0)
    # One ratio over all kernels of a weight (out=2, in=1): (20 + 20) / (1 + 9).
    assert laplace_l2norm(torch.stack([delta, ones])[:, None]).item() == pytest.approx(4.0)
    # Scale-free.
    assert laplace_l2norm(7.0 * ones[None, None]).item() == pytest.approx(20.0 / 9.0)


def test_reference_core_maps_36x64_to_64x28x56():
    features = core()(torch.randn(2, 1, 36, 64))
    assert features.shape == (2, 64, 28, 56)


def test_padded_input_keeps_the_image_size_and_stack_none_concatenates_every_layer():
    model = core(hidden_channels=[4, 5, 6], layers=3, pad_input=True, stack=None)
    assert model.out_channels == 15
    assert model(torch.randn(2, 1, 36, 64)).shape == (2, 15, 36, 64)


def test_depth_separable_hidden_layer_weights():
    conv = core().blocks[1][0]
    assert [tuple(m.weight.shape) for m in conv] == [(64, 64, 1, 1), (64, 1, 7, 7), (64, 64, 1, 1)]


def test_linear_core_is_affine_in_eval_mode():
    model = core(hidden_channels=4, layers=2, linear=True)
    a, b, zero = torch.randn(1, 1, 36, 64), torch.randn(1, 1, 36, 64), torch.zeros(1, 1, 36, 64)
    with torch.no_grad():
        assert torch.allclose(model(a + b), model(a) + model(b) - model(zero), atol=1e-4)
        nonlinear = core(hidden_channels=4, layers=2)
        assert not torch.allclose(nonlinear(a + b), nonlinear(a) + nonlinear(b) - nonlinear(zero), atol=1e-4)


def test_core_regularizer_is_gamma_times_laplace_of_the_first_layer():
    model = core(hidden_channels=4, layers=2)
    with torch.no_grad():
        model.blocks[0][0].weight.zero_()
        model.blocks[0][0].weight[:, :, 4, 4] = 1.0  # every kernel a delta: ratio 20
    assert model.regularizer().item() == pytest.approx(6.3831 * 20.0)


def test_convolutions_start_xavier_normal_as_the_reference():
    # Xavier std = sqrt(2 / (fan_in + fan_out)); the 9x9 input layer: fan_in 81, fan_out 64·81.
    weight = core().blocks[0][0].weight
    assert weight.std().item() == pytest.approx((2.0 / (81 + 64 * 81)) ** 0.5, rel=0.05)
    assert abs(weight.mean().item()) < 0.1 * weight.std().item()


def test_bf16_autocast_keeps_the_depthwise_convolution_in_fp32_on_cpu():
    model = core(hidden_channels=8, layers=2).train()
    seen = {}
    depthwise = model.blocks[1][0][1]
    depthwise.register_forward_hook(lambda module, args, out: seen.update(input=args[0].dtype, out=out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = model(torch.randn(2, 1, 36, 64))
    assert seen == {"input": torch.bfloat16, "out": torch.float32}  # the 1x1 before it ran in bf16
    assert features.dtype == torch.bfloat16 and torch.isfinite(features.float()).all()
    features.float().sum().backward()
    assert depthwise.weight.grad is not None and depthwise.weight.grad.dtype == torch.float32
