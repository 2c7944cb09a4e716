"""Gaussian readout: where it reads, how it samples, its grid predictor, and the L1 penalty; the shifter."""
import numpy as np
import pytest
import torch
from torch import nn

from sensorium_models.models.readouts import GaussianReadout, GridPredictor, cortex_grid
from sensorium_models.models.shifters import MLPShifter


def readout(n_neurons=5, channels=1, gauss_type="full", init_sigma=0.1, predictor=None, gamma=0.5):
    torch.manual_seed(0)
    coords = np.random.default_rng(0).uniform(-100, 100, (n_neurons, 3))
    return GaussianReadout(channels, coords, np.zeros(n_neurons), gauss_type, init_sigma, 0.8, predictor, gamma)


def ramp(batch=3) -> torch.Tensor:
    """One channel whose value at each pixel is its grid_sample x coordinate (align_corners=True)."""
    return torch.linspace(-1, 1, 64).expand(batch, 1, 36, 64).clone()


def test_cortex_grid_is_centred_and_scaled_by_its_largest_absolute_value():
    grid = cortex_grid(np.array([[0.0, 0.0, 5.0], [10.0, 2.0, 5.0], [20.0, -2.0, 5.0]]))
    assert torch.allclose(grid, torch.tensor([[-1.0, 0.0], [0.0, 0.2], [1.0, -0.2]]))


def test_eval_reads_the_map_at_mu_and_the_shift_moves_every_neuron():
    model = readout().eval()
    mu = model.grid_mean().detach()
    assert torch.allclose(model(ramp()), mu[:, 0].expand(3, -1), atol=1e-5)
    shift = torch.tensor([[0.1, 0.0], [-0.2, 0.3], [0.0, 0.0]])
    assert torch.allclose(model(ramp(), shift), mu[:, 0] + shift[:, :1], atol=1e-5)


def test_training_samples_around_mu_and_sigma_zero_reads_mu():
    model = readout().train()
    assert not torch.allclose(model(ramp()), model(ramp()))
    still = readout(init_sigma=0.0).train()
    assert torch.allclose(still(ramp()), still.eval()(ramp()), atol=1e-5)


def test_iso_sigma_is_one_width_per_neuron():
    model = readout(gauss_type="iso", init_sigma=0.2)
    assert model.sigma.shape == (5, 1) and torch.all(model.sigma == 0.2)
    assert readout().sigma.shape == (5, 2, 2)


def test_features_start_at_one_over_channels_and_l1_is_gamma_times_their_abs_sum():
    model = readout(channels=8, gamma=0.5)
    assert torch.all(model.features == 1 / 8)
    with torch.no_grad():
        model.features[0, 0] = -3.0
    assert model.regularizer().item() == pytest.approx(0.5 * (3.0 + (8 * 5 - 1) / 8))


def test_grid_predictor_layers_and_positions_from_cortical_coordinates():
    predictor = GridPredictor(hidden_layers=4, hidden_features=20, nonlinearity="relu")
    kinds = [type(m) for m in predictor]
    assert kinds == [nn.Linear, nn.ReLU] * 4 + [nn.Linear, nn.Tanh]
    assert [m.out_features for m in predictor if isinstance(m, nn.Linear)] == [20, 20, 20, 20, 2]
    model = readout(predictor=GridPredictor(1, 30, "elu"))
    assert not any(name == "mu" for name, _ in model.named_parameters())
    mu = model.grid_mean()
    assert mu.shape == (5, 2) and torch.all(mu.abs() < 1)
    assert torch.allclose(mu, model.grid_predictor(model.source_grid))


def test_shifter_maps_pupil_centres_to_bounded_shifts():
    shifter = MLPShifter(hidden_channels=5, layers=3)
    assert [tuple(m.weight.shape) for m in shifter if isinstance(m, nn.Linear)] == [(5, 2), (5, 5), (2, 5)]
    pupils = torch.randn(4, 10, 2) * 10
    assert torch.equal(shifter(pupils), torch.zeros(4, 10, 2))  # no shift before training
    with torch.no_grad():
        for layer in shifter:
            if isinstance(layer, nn.Linear):
                layer.weight.normal_()
    shifts = shifter(pupils)
    assert shifts.shape == (4, 10, 2) and torch.all(shifts.abs() < 1) and shifts.abs().max() > 0.1


def one_draw_reference(model: GaussianReadout, x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """The readout as it read before several samples (one jittered position per neuron and trial)."""
    mu = model.grid_mean()
    noise = torch.randn(x.shape[0], *mu.shape)
    jitter = torch.einsum("ncd,bnd->bnc", model.sigma, noise) if model.full else noise * model.sigma
    grid = (mu + jitter).clamp(-1.0, 1.0) + shift[:, None, :]
    sampled = torch.nn.functional.grid_sample(x, grid[:, :, None, :], align_corners=True).squeeze(-1)
    return (sampled * model.features).sum(1) + model.bias


@pytest.mark.parametrize("gauss_type", ["full", "iso"])
def test_one_sample_is_the_one_draw_readout_bit_for_bit_and_its_gradients_too(gauss_type):
    model = readout(n_neurons=40, channels=6, gauss_type=gauss_type, predictor=GridPredictor(1, 30, "elu")).train()
    x, shift = torch.randn(8, 6, 9, 11), torch.randn(8, 2) * 0.1
    outputs, gradients = [], []
    for forward in (model, lambda a, b: one_draw_reference(model, a, b)):
        torch.manual_seed(3)
        out = forward(x, shift)
        outputs.append(out)
        gradients.append(torch.autograd.grad(out.square().sum(), list(model.parameters())))
    assert model.samples == 1 and torch.equal(*outputs)
    assert all(torch.equal(a, b) for a, b in zip(*gradients))


def test_several_samples_average_the_reads_of_as_many_positions_and_eval_reads_mu():
    model = readout(n_neurons=5, channels=1, init_sigma=0.3)
    model.samples = 4
    x = ramp(batch=2)
    torch.manual_seed(5)
    averaged = model.train()(x)
    torch.manual_seed(5)
    noise = torch.randn(2, 5, 4, 2)
    positions = (model.grid_mean()[:, None] + torch.einsum("ncd,bnsd->bnsc", model.sigma, noise)).clamp(-1, 1)
    assert torch.allclose(averaged, positions[..., 0].mean(-1), atol=1e-5)   # the ramp reads x
    assert not torch.allclose(averaged, positions[:, :, 0, 0], atol=1e-3)
    assert torch.allclose(model.eval()(x), model.grid_mean()[:, 0].expand(2, -1), atol=1e-5)
