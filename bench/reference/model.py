"""The starter kit's SOTA model (``stacked_core_full_gauss_readout`` with the notebooks' overrides).

Stacked2dCore (4 layers, 9x9 input kernel, depth-separable 7x7 hidden, 64 channels, last layer read out)
-> one FullGaussian2d per session whose grid positions come from the neurons' cortical coordinates
(cortex grid-mean predictor: Linear(2,30) -> ELU -> Linear(30,2) -> Tanh) -> per-session MLPShifter on the
pupil centre -> FiringRateEncoder (elu + 1). The sensorium package's glue (nnfabrik helpers, the
MultipleFullGaussian2d one-liner, prepare_grid) is rewritten here; every layer is neuralpredictors 0.3.0's.
"""
from __future__ import annotations

from . import compat  # noqa: F401  (must precede the neuralpredictors imports)
from neuralpredictors.layers.cores import Stacked2dCore
from neuralpredictors.layers.encoders import FiringRateEncoder
from neuralpredictors.layers.readouts import FullGaussian2d, MultiReadoutSharedParametersBase
from neuralpredictors.layers.shifters import MLPShifter
from neuralpredictors.utils import get_module_output

from .loader import set_random_seed

# The overrides of 1b_model_training_sensorium+.ipynb on top of the function's defaults.
SOTA_CORE = dict(
    hidden_channels=64, input_kern=9, hidden_kern=7, layers=4, gamma_input=6.3831, skip=0,
    final_nonlinearity=True, bias=False, momentum=0.9, pad_input=False, batch_norm=True, hidden_dilation=1,
    laplace_padding=None, input_regularizer="LaplaceL2norm", stack=-1, depth_separable=True, linear=False,
    attention_conv=False, hidden_padding=None, use_avg_reg=False,
)
SOTA_READOUT = dict(init_mu_range=0.3, bias=True, init_sigma=0.1, gamma_readout=0.0076, gauss_type="full")
GRID_MEAN_PREDICTOR = dict(hidden_layers=1, hidden_features=30, final_tanh=True)
SOTA_SHIFTER = dict(input_channels=2, hidden_channels_shifter=5, shift_layers=3, gamma_shifter=0)


class MultipleFullGaussian2d(MultiReadoutSharedParametersBase):
    """One FullGaussian2d per data_key (sensorium.models.readouts)."""

    _base_readout = FullGaussian2d


def batch_shapes(loaders: dict) -> dict:
    """nnfabrik's ``get_dims_for_loader_dict``: the field shapes of each loader's first batch."""
    return {key: {field: tuple(value.shape) for field, value in next(iter(loader))._asdict().items()}
            for key, loader in loaders.items()}


def sota_model(dataloaders: dict, seed: int, shifter: bool = True) -> FiringRateEncoder:
    """The SENSORIUM+ SOTA model for the sessions in ``dataloaders`` (``{tier: {data_key: loader}}``)."""
    train = dataloaders["train"]
    shapes = batch_shapes(train)
    n_neurons = {key: shape["responses"][1] for key, shape in shapes.items()}
    input_channels = next(iter(shapes.values()))["images"][1]

    set_random_seed(seed)
    core = Stacked2dCore(input_channels=input_channels, **SOTA_CORE)
    in_shapes = {key: get_module_output(core, shape["images"])[1:] for key, shape in shapes.items()}
    source_grids = {key: loader.dataset.neurons.cell_motor_coordinates[:, :2] for key, loader in train.items()}
    readout = MultipleFullGaussian2d(
        in_shape_dict=in_shapes, n_neurons_dict=n_neurons, grid_mean_predictor=GRID_MEAN_PREDICTOR,
        grid_mean_predictor_type="cortex", source_grids=source_grids, **SOTA_READOUT,
    )
    shift = MLPShifter(data_keys=list(train.keys()), **SOTA_SHIFTER) if shifter else None
    return FiringRateEncoder(core=core, readout=readout, shifter=shift, elu_offset=0)
