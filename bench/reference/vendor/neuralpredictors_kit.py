# The SENSORIUM 2023 starter kit's video-model modules as neuralpredictors wrote them, for the reference tests of
# sensorium_models/models/{full3d,rotation,factorised_readout,shifters}.py only.
# From sinzlab/neuralpredictors@43faededa2d2e76bb904f38a49b9d8b81d287a0a (the commit ecker-lab/sensorium_2023 pins):
# neuralpredictors/regularizers.py, layers/activations.py, layers/hermite.py, layers/cores/{base,conv2d,conv3d}.py,
# layers/readouts/{base,factorized}.py, layers/shifters/static_affine.py. Verbatim except: trimmed to the classes the
# kit's make_video_model builds with its default flags (independent_bn_bias=True, no attention, no depth-separable,
# no shared features, no warnings/logging), merged into one module; hermite_2d casts to int for math.factorial
# (Python >= 3.10 refuses the float the original passes). MIT License, Copyright (c) 2019 Sinz Lab (see
# that repository's LICENSE).

import itertools
import math
from collections import OrderedDict
from collections.abc import Iterable
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from numpy import pi
from numpy.polynomial.polynomial import polyval
from scipy.special import gamma
from torch import nn
from torch.nn import ModuleDict


# ---- regularizers.py
def laplace():
    """
    Returns a 3x3 laplace filter.

    """
    return np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]]).astype(np.float32)[None, None, ...]


def laplace1d():
    return np.array([-1, 4, -1]).astype(np.float32)[None, None, ...]


class Laplace(nn.Module):
    """
    Laplace filter for a stack of data. Utilized as the input weight regularizer.
    """

    def __init__(self, padding=None, filter_size=3):
        """
        Laplace filter for a stack of data.

        Args:
            padding (int): Controls the amount of zero-padding for the convolution operation
                            Default is half of the kernel size (recommended)

        Attributes:
            filter (2D Numpy array): 3x3 Laplace filter.
            padding_size (int): Number of zeros added to each side of the input image
                before convolution operation.
        """
        super().__init__()
        if filter_size == 3:
            kernel = laplace()
        elif filter_size == 5:
            kernel = laplace5x5()
        elif filter_size == 7:
            kernel = laplace7x7()

        self.register_buffer("filter", torch.from_numpy(kernel))
        self.padding_size = self.filter.shape[-1] // 2 if padding is None else padding

    def forward(self, x):
        return F.conv2d(x, self.filter, bias=None, padding=self.padding_size)


class LaplaceL2norm(nn.Module):
    """
    Normalized Laplace regularizer for a 2D convolutional layer.
        returns |laplace(filters)| / |filters|
    """

    def __init__(self, padding=None):
        super().__init__()
        self.laplace = Laplace(padding=padding)

    def forward(self, x, avg=False):
        agg_fn = torch.mean if avg else torch.sum

        oc, ic, k1, k2 = x.size()
        return agg_fn(self.laplace(x.reshape(oc * ic, 1, k1, k2)).pow(2)) / agg_fn(x.reshape(oc * ic, 1, k1, k2).pow(2))


class Laplace1d(nn.Module):
    def __init__(self, padding):
        super().__init__()
        filter = laplace1d()
        self.register_buffer("filter", torch.from_numpy(filter))
        self.padding_size = self.filter.shape[-1] // 2 if padding is None else padding

    def forward(self, x):
        return F.conv1d(x, self.filter, bias=None, padding=self.padding_size)


class DepthLaplaceL21d(nn.Module):
    def __init__(self, padding=None):
        super().__init__()
        self.laplace = Laplace1d(padding=padding)

    def forward(self, x, avg=False):
        oc, ic, t = x.size()
        if avg:
            return torch.mean(self.laplace(x.reshape(oc * ic, 1, t)).pow(2)) / torch.mean(
                x.reshape(oc * ic, 1, t).pow(2)
            )
        else:
            return torch.sum(self.laplace(x.reshape(oc * ic, 1, t)).pow(2)) / torch.sum(x.reshape(oc * ic, 1, t).pow(2))


# ---- layers/activations.py
def adaptive_elu(x, xshift, yshift):
    return F.elu(x - xshift, inplace=True) + yshift


class AdaptiveELU(nn.Module):
    """
    ELU shifted by user specified values. This helps to ensure the output to stay positive.
    """

    def __init__(self, xshift, yshift, **kwargs):
        super(AdaptiveELU, self).__init__(**kwargs)

        self.xshift = xshift
        self.yshift = yshift

    def forward(self, x):
        return adaptive_elu(x, self.xshift, self.yshift)


# ---- layers/hermite.py
def hermite_coefficients(mu, nu):
    """Generate coefficients of 2D Hermite functions"""
    nur = np.arange(nu + 1)
    num = gamma(mu + nu + 1) * gamma(nu + 1) * ((-2) ** (nu - nur))
    denom = gamma(mu + 1 + nur) * gamma(1 + nur) * gamma(nu + 1 - nur)
    return num / denom


def hermite_2d(N, npts, xvalmax=None):
    """Generate 2D Hermite function basis

    Arguments:
    N           -- the maximum rank.
    npts        -- the number of points in x and y

    Keyword arguments:
    xvalmax     -- the maximum x and y value (default: 2.5 * sqrt(N))

    Returns:
    H           -- Basis set of size N*(N+1)/2 x npts x npts
    desc        -- List of descriptors specifying for each
                   basis function whether it is:
                        'z': rotationally symmetric
                        'r': real part of quadrature pair
                        'i': imaginary part of quadrature pair

    """
    xvalmax = xvalmax or 2.5 * np.sqrt(N)
    ranks = range(N)

    # Gaussian envelope
    xvalmax *= 1 - 1 / npts
    xvals = np.linspace(-xvalmax, xvalmax, npts, endpoint=True)[..., None]

    gxv = np.exp(-(xvals**2) / 4)
    gaussian = np.dot(gxv, gxv.T)

    # Hermite polynomials
    mu = np.array([])
    nu = np.array([])
    desc = []
    for i, rank in enumerate(ranks):
        muadd = np.sort(np.abs(np.arange(-rank, rank + 0.1, 2)))
        mu = np.hstack([mu, muadd])
        nu = np.hstack([nu, (rank - muadd) / 2])
        if not (rank % 2):
            desc.append("z")
        desc += ["r", "i"] * int(np.floor((rank + 1) / 2))

    theta = np.arctan2(xvals, xvals.T)
    radsq = xvals**2 + xvals.T**2
    nbases = mu.size
    H = np.zeros([nbases, npts, npts])
    for i, (mui, nui, desci) in enumerate(zip(mu, nu, desc)):
        radvals = polyval(radsq, hermite_coefficients(mui, nui))
        basis = gaussian * (radsq ** (mui / 2)) * radvals * np.exp(1j * mui * theta)
        basis /= np.sqrt(2 ** (mui + 2 * nui) * pi * math.factorial(int(mui + nui)) * math.factorial(int(nui)))  # int(): Python >= 3.10
        if desci == "z":
            H[i] = basis.real / np.sqrt(2)
        elif desci == "r":
            H[i] = basis.real
        elif desci == "i":
            H[i] = basis.imag

    # normalize
    return H / np.sqrt(np.sum(H**2, axis=(1, 2), keepdims=True)), desc, mu


def rotation_matrix(desc, mu, angle):
    R = np.zeros((len(desc), len(desc)))
    for i, (d, m) in enumerate(zip(desc, mu)):
        if d == "r":
            Rc = np.array(
                [
                    [np.cos(m * angle), np.sin(m * angle)],
                    [-np.sin(m * angle), np.cos(m * angle)],
                ]
            )
            R[i : i + 2, i : i + 2] = Rc
        elif d == "z":
            R[i, i] = 1
    return R


def downsample_weights(weights, factor=2):
    w = 0
    for i in range(factor):
        for j in range(factor):
            w += weights[i::factor, j::factor]
    return w


class RotateHermite(nn.Module):
    def __init__(self, filter_size, upsampling, num_rotations, first_layer):

        super().__init__()

        H, desc, mu = hermite_2d(filter_size, filter_size * upsampling, 2 * np.sqrt(filter_size))

        self.H = nn.Parameter(torch.tensor(H, dtype=torch.float32), requires_grad=False)

        angles = [i * 2 * pi / num_rotations for i in range(num_rotations)]
        Rs = [torch.tensor(rotation_matrix(desc, mu, angle), dtype=torch.float32) for angle in angles]

        self.Rs = nn.ParameterList([nn.Parameter(R, requires_grad=False) for R in Rs])

        self.num_rotations = num_rotations
        self.first_layer = first_layer

    def forward(self, coeffs):
        num_inputs_total = coeffs.shape[1]  # num_coeffs, num_inputs_total, num_outputs
        num_inputs = num_inputs_total // self.num_rotations

        weights_rotated = []
        for i, R in enumerate(self.Rs):
            coeffs_rotated = torch.tensordot(R, coeffs, dims=([1], [0]))
            w = torch.tensordot(self.H, coeffs_rotated, dims=[[0], [0]])
            if i and not self.first_layer:
                shift = num_inputs_total - i * num_inputs
                w = torch.cat([w[:, :, shift:, :], w[:, :, :shift, :]], dim=2)
            weights_rotated.append(w)
        weights_all_rotations = torch.cat(weights_rotated, dim=3)

        return weights_all_rotations


class HermiteConv2D(nn.Module):
    def __init__(
        self,
        input_features,
        output_features,
        filter_size,
        padding,
        stride,
        num_rotations,
        upsampling,
        first_layer,
    ):

        super().__init__()
        self.input_features = input_features
        self.output_features = output_features
        self.padding = padding
        self.stride = stride
        self.upsampling = upsampling
        self.n_coeffs = filter_size * (filter_size + 1) // 2

        coeffs = nn.Parameter(torch.Tensor(self.n_coeffs, self.input_features, self.output_features))
        self.coeffs = coeffs

        self.rotate_hermite = RotateHermite(
            filter_size=filter_size,
            upsampling=upsampling,
            num_rotations=num_rotations,
            first_layer=first_layer,
        )

    @property
    def weights_all_rotations(self):
        weights_all_rotations = self.rotate_hermite(self.coeffs)
        weights_all_rotations = downsample_weights(weights_all_rotations, self.upsampling)
        weights_all_rotations = weights_all_rotations.permute(3, 2, 0, 1)
        return weights_all_rotations

    def forward(self, input):
        return F.conv2d(
            input=input,
            weight=self.weights_all_rotations,
            bias=None,
            stride=self.stride,
            padding=self.padding,
        )


class RotationEquivariantBatchNorm2D(nn.Module):
    def __init__(
        self,
        num_features,
        num_rotations,
        eps=1e-05,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
    ):

        super().__init__()

        self.num_features = num_features
        self.num_rotations = num_rotations
        self.eps = eps
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.batch_norm = nn.BatchNorm1d(
            num_features=num_features,
            eps=eps,
            momentum=momentum,
            affine=affine,
            track_running_stats=track_running_stats,
        )

    def forward(self, input):
        s = input.shape
        input = self.reshape(input, s)  # rotations will share BN parameters for each channel
        output = self.batch_norm(input)
        output = self.inv_reshape(output, s)
        return output

    def reshape(self, x, s):
        x = x.view(s[0], self.num_rotations, self.num_features, s[2], s[3])
        x = x.permute(0, 2, 1, 3, 4)
        x = x.reshape(s[0], self.num_features, self.num_rotations * s[2] * s[3])
        return x

    def inv_reshape(self, x, s):
        x = x.view(s[0], self.num_features, self.num_rotations, s[2], s[3])
        x = x.permute(0, 2, 1, 3, 4)
        x = x.reshape(s[0], self.num_rotations * self.num_features, s[2], s[3])
        return x


# ---- layers/cores/base.py (abc dropped)
class Core:
    """
    Base class for the core models, taking 2d inputs and computing nonlinear features.
    """

    def initialize(self):
        """
        Initialization applied on the core.
        """
        self.apply(self.init_conv)

    @staticmethod
    def init_conv(m):
        """
        Initialize convolution layers with:
            - weights: xavier_normal
            - biases: 0

        Args:
            m (nn.Module): a pytorch nn module.
        """
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_normal_(m.weight.data)
            if m.bias is not None:
                m.bias.data.fill_(0)


# ---- layers/cores/conv3d.py
class Core3d(Core):
    def initialize(self, cuda=False):
        self.apply(self.init_conv)
        self.put_to_cuda(cuda=cuda)

    def put_to_cuda(self, cuda):
        if cuda:
            self.cuda()

    @staticmethod
    def init_conv(m):
        if isinstance(m, nn.Conv3d):
            nn.init.xavier_normal_(m.weight.data)
            if m.bias is not None:
                m.bias.data.fill_(0)


class Basic3dCore(Core3d, nn.Module):
    def __init__(
        self,
        input_channels,
        hidden_channels,
        input_kernel,
        hidden_kernel,
        layers=3,
        stride=1,
        gamma_input_spatial=0,
        gamma_input_temporal=0,
        hidden_nonlinearities="elu",
        x_shift=0,
        y_shift=0,
        bias=True,
        batch_norm=True,
        padding=False,
        batch_norm_scale=True,
        momentum=0.01,
        laplace_padding=None,
        input_regularizer="LaplaceL2norm",
        cuda=False,
        final_nonlin=True,
        independent_bn_bias=True,
        spatial_dilation: int = 1,
        temporal_dilation: int = 1,
    ):

        """
        :param input_channels: integer, number of input channels as in
        :param hidden_channels:  number of hidden channels (i.e feature maps) in each hidden layer
        :param input_kernel: kernel size of the first layer (i.e. the input layer)
        :param hidden_kernel: kernel size of each hidden layer's kernel
        :param layers: number of layers
        :param stride: the stride of the convolutions
        :param spatial_dilation: dilation of ONLY the first spatial kernel (both width and height)
        :param temporal dilation: dilation of ONLY the first temporal kernel
        :param gamma_input_spatial: regularizer factor for spatial smoothing
        :param gamma_input_temporal: regularizer factor for temporal smoothing
        :param hidden_nonlinearities: what kind of non-linearity is applied in core, should be one of self.nonlinearities
        :param x_shift: shift in x axis in case ELU is the nonlinearity
        :param y_shift: shift in y axis in case ELU is the nonlinearity
        :param bias: adds a bias layer
        :param batch_norm: bool specifying whether to include batch norm after convolution in core
        :param padding: whether to pad convolutions. Defaults to False
        :param batch_norm_scale: bool, if True, a scaling factor after BN will be learned.
        :param momentum: momentum for batch norm
        :param laplace_padding: padding size for the laplace convolution. If padding = None, it defaults to half of
                the kernel size (recommended). Setting Padding to 0 is not recommended and leads to artefacts,
                zero is the default however to recreate backwards compatibility.
        :param input_regularizer: specifies what kind of spatial regularized is applied
        :param final_nonlin: bool specifiyng whether to include a nonlinearity after last convolutional layer in core
        :param independent_bn_bias: If False, will allow for scaling the batch norm, so that batch norm
                                    and bias can both be true. Defaults to True.

        To enable learning batch_norms bias and scale independently, the arguments bias, batch_norm and batch_norm_scale
        work together: By default, all are true. In this case there won't be a bias learned in the convolutional layer, but
        batch_norm will learn both its bias and scale. If batch_norm is false, but bias true, a bias will be learned in the
        convolutional layer. If batch_norm and bias are true, but batch_norm_scale is false, batch_norm won't have learnable
        parameters and a BiasLayer will be added after the batch_norm layer.
        """
        super().__init__()

        regularizer_config = (
            dict(padding=laplace_padding, kernel=input_kernel)
            if input_regularizer == "GaussianLaplaceL2"
            else dict(padding=laplace_padding)
        )
        self._input_weight_regularizer = {"LaplaceL2norm": LaplaceL2norm}[input_regularizer](**regularizer_config)
        self.temporal_regularizer = DepthLaplaceL21d()
        self.layers = layers
        self.input_channels = input_channels
        self.input_kernel = input_kernel
        self.hidden_channels = hidden_channels
        self.hidden_kernel = hidden_kernel
        self.stride = stride
        self.bias = bias
        self.batch_norm = batch_norm
        self.batch_norm_scale = batch_norm_scale
        self.independent_bn_bias = independent_bn_bias
        self.momentum = momentum
        self.spatial_dilation = spatial_dilation
        self.temporal_dilation = temporal_dilation
        self.final_nonlinearity = final_nonlin
        self.padding = padding
        self.gamma_input_spatial = gamma_input_spatial
        self.gamma_input_temporal = gamma_input_temporal
        self.nonlinearities = {
            "elu": torch.nn.ELU,
            "softplus": torch.nn.Softplus,
            "relu": torch.nn.ReLU,
            "adaptive_elu": AdaptiveELU,
        }

        if isinstance(self.hidden_channels, int):
            if self.layers >= 1:
                self.hidden_channels = [hidden_channels] * (self.layers)
            else:
                self.hidden_channels = []

        if isinstance(self.input_kernel, int):
            self.input_kernel = (self.input_kernel,) * 3

        if isinstance(self.hidden_kernel, int):
            self.hidden_kernel = (self.hidden_kernel,) * 3

        if isinstance(self.hidden_kernel, (tuple, list)):
            if self.layers > 1:
                self.hidden_kernel = [self.hidden_kernel] * (self.layers - 1)
            else:
                self.hidden_kernel = []

        if isinstance(self.stride, int):
            self.stride = [self.stride] * self.layers

        self.features = nn.Sequential()
        layer = OrderedDict()
        layer["conv"] = nn.Conv3d(
            in_channels=input_channels,
            out_channels=self.hidden_channels[0],
            kernel_size=input_kernel,
            stride=(1, self.stride[0], self.stride[0]),
            dilation=(self.temporal_dilation, self.spatial_dilation, self.spatial_dilation),
            bias=self.bias,
            padding=(0, input_kernel[1] // 2, input_kernel[2] // 2) if self.padding else 0,
        )

        self.add_bn_layer(layer=layer, hidden_channels=hidden_channels)

        if layers > 1 or self.final_nonlinearity:
            if hidden_nonlinearities == "adaptive_elu":
                layer["nonlin"] = self.nonlinearities[hidden_nonlinearities](xshift=x_shift, yshift=y_shift)
            else:
                layer["nonlin"] = self.nonlinearities[hidden_nonlinearities]()

        self.features.add_module("layer0", nn.Sequential(layer))

        for l in range(0, self.layers - 1):
            layer = OrderedDict()
            layer[f"conv_{l + 1}"] = nn.Conv3d(
                self.hidden_channels[l],
                self.hidden_channels[l + 1],
                kernel_size=self.hidden_kernel[l],
                dilation=spatial_dilation,
                stride=(1, self.stride[l + 1], self.stride[l + 1]),
                padding=(0, self.hidden_kernel[l][1] // 2, self.hidden_kernel[l][2] // 2) if self.padding else 0,
            )

            self.add_bn_layer(layer=layer, hidden_channels=hidden_channels)

            if self.final_nonlinearity or l < self.layers:
                if hidden_nonlinearities == "adaptive_elu":
                    layer["nonlin"] = self.nonlinearities[hidden_nonlinearities](x_shift=x_shift, y_shift=y_shift)
                else:
                    layer["nonlin"] = self.nonlinearities[hidden_nonlinearities]()

            self.features.add_module("layer{}".format(l + 1), nn.Sequential(layer))

        self.initialize(cuda=cuda)

    def forward(self, x):
        for features in self.features:
            x = features(x)
        return x

    def laplace_spatial(self):
        laplace = 0
        for filter_index in range(self.features[0].conv.weight.shape[2]):
            laplace += self._input_weight_regularizer(self.features[0].conv.weight[:, :, filter_index, :, :])
        return laplace

    def laplace_temporal(self):
        laplace = 0
        for w, h in itertools.product(
            range(self.features[0].conv.weight.shape[-2]), range(self.features[0].conv.weight.shape[-1])
        ):
            laplace += self.temporal_regularizer(self.features[0].conv.weight[:, :, :, w, h])
        return laplace

    def regularizer(self):
        return self.gamma_input_spatial * self.laplace_spatial(), self.gamma_input_temporal * self.laplace_temporal()

    def add_bn_layer(self, layer, hidden_channels):
        if self.batch_norm:
            layer["norm"] = nn.BatchNorm3d(hidden_channels, momentum=self.momentum)  # trimmed: independent_bn_bias

    @property
    def out_channels(self):
        return self.hidden_channels[-1]

    def get_output_shape(self, input_shape, layer=None):
        ch, t, h, w = input_shape[:]

        if layer is None:
            layers = self.layers
        else:
            layers = layer

        for i in range(layers):
            if i == 0:
                kernel_size = self.input_kernel
                spatial_dilation = self.spatial_dilation
                temporal_dilation = self.temporal_dilation
            else:
                kernel_size = self.hidden_kernel[i - 1]
                spatial_dilation = 1
                temporal_dilation = 1

            t = math.floor(t - (kernel_size[0] - 1) * temporal_dilation)
            h = math.floor((h - (kernel_size[1] - 1) * spatial_dilation - 1) / self.stride[i] + 1)
            w = math.floor((w - (kernel_size[2] - 1) * spatial_dilation - 1) / self.stride[i] + 1)

        output_shape = self.hidden_channels[layers - 1], t, h, w
        return output_shape

    def get_kernels(self):
        return [self.input_kernel] + [kernel for kernel in self.hidden_kernel]


# ---- layers/cores/conv2d.py
class Stacked2dCore(Core, nn.Module):
    """
    An instantiation of the Core base class. Made up of layers layers of nn.sequential modules.
    Allows for the flexible implementations of many different architectures, such as convolutional layers,
    or self-attention layers.
    """

    def __init__(
        self,
        input_channels,
        hidden_channels,
        input_kern,
        hidden_kern,
        layers=3,
        gamma_hidden=0,
        gamma_input=0.0,
        skip=0,
        stride=1,
        input_stride=1,
        final_nonlinearity=True,
        elu_shift=(0, 0),
        bias=True,
        momentum=0.1,
        pad_input=True,
        hidden_padding=None,
        batch_norm=True,
        batch_norm_scale=True,
        final_batchnorm_scale=True,
        independent_bn_bias=True,
        hidden_dilation=1,
        laplace_padding=0,
        input_regularizer="LaplaceL2",
        stack=None,
        use_avg_reg=True,
        depth_separable=False,
        attention_conv=False,
        linear=False,
        nonlinearity_type="AdaptiveELU",
        nonlinearity_config=None,
    ):
        """
        Args:
            input_channels:     Integer, number of input channels as in
            hidden_channels:    Integer or list of numbers of hidden channels (i.e feature maps) in each hidden layer
            input_kern:     kernel size of the first layer (i.e. the input layer)
            hidden_kern:    kernel size of each hidden layer's kernel
            layers:         number of layers
            gamma_hidden:   regularizer factor for group sparsity
            gamma_input:    regularizer factor for the input weights (default: LaplaceL2, see neuralpredictors.regularizers)
            skip:           Adds a skip connection
            stride:         stride of the 2d conv layer.
            final_nonlinearity: Boolean, if true, appends an ELU layer after the last BatchNorm (if BN=True)
            elu_shift: a tuple to shift the elu in the following way: Elu(x - elu_xshift) + elu_yshift
            bias:           Adds a bias layer.
            momentum:       momentum in the batchnorm layer.
            pad_input:      Boolean, if True, applies zero padding to all convolutions
            hidden_padding: int or list of int. Padding for hidden layers. Note that this will apply to all the layers
                            except the first (input) layer.
            batch_norm:     Boolean, if True appends a BN layer after each convolutional layer
            batch_norm_scale: If True, a scaling factor after BN will be learned.
            final_batchnorm_scale: If True, the final layer's BN will learn a scale. Defaults to True.
            independent_bn_bias: Deprecated. If False, will allow for scaling the batch norm, so that batchnorm
                                    and bias can both be true. Defaults to True.
            hidden_dilation:    If set to > 1, will apply dilated convs for all hidden layers
            laplace_padding: Padding size for the laplace convolution. If padding = None, it defaults to half of
                the kernel size (recommended). Setting Padding to 0 is not recommended and leads to artefacts,
                zero is the default however to recreate backwards compatibility.
            input_regularizer:  String that must match one of the regularizers in ..regularizers
            stack:        Int or iterable. Selects which layers of the core should be stacked for the readout.
                            default value will stack all layers on top of each other.
                            Implemented as layers_to_stack = layers[stack:]. thus:
                                stack = -1 will only select the last layer as the readout layer.
                                stack of -2 will read out from the last two layers.
                                And stack of 1 will read out from layer 1 (0 indexed) until the last layer.
            use_avg_reg:    bool. Whether to use the averaged value of regularizer(s) or the summed.
            depth_separable: Boolean, if True, uses depth-separable convolutions in all layers after the first one.
            attention_conv: Boolean, if True, uses self-attention instead of convolution for all layers after the first one.
            linear:         Boolean, if True, removes all nonlinearities
            nonlinearity_type: String to set the used nonlinearity type loaded from neuralpredictors.layers.activation
            nonlinearity_config: Dict of the nonlinearities __init__ parameters.
            To enable learning batch_norms bias and scale independently, the arguments bias, batch_norm and batch_norm_scale
            work together: By default, all are true. In this case there won't be a bias learned in the convolutional layer, but
            batch_norm will learn both its bias and scale. If batch_norm is false, but bias true, a bias will be learned in the
            convolutional layer. If batch_norm and bias are true, but batch_norm_scale is false, batch_norm won't have learnable
            parameters and a BiasLayer will be added after the batch_norm layer.
        """

        self.batch_norm = batch_norm
        self.final_batchnorm_scale = final_batchnorm_scale
        self.bias = bias
        self.independent_bn_bias = independent_bn_bias
        self.batch_norm_scale = batch_norm_scale

        super().__init__()
        regularizer_config = (
            dict(padding=laplace_padding, kernel=input_kern)
            if input_regularizer == "GaussianLaplaceL2"
            else dict(padding=laplace_padding)
        )
        self._input_weights_regularizer = {"LaplaceL2norm": LaplaceL2norm}[input_regularizer](**regularizer_config)
        self.num_layers = layers
        self.gamma_input = gamma_input
        self.gamma_hidden = gamma_hidden
        self.input_channels = input_channels

        if isinstance(hidden_channels, Iterable) and skip > 1:
            raise NotImplementedError(
                "Passing a list of hidden channels and `skip > 1` at the same time is not yet implemented."
            )
        self.hidden_channels = hidden_channels if isinstance(hidden_channels, Iterable) else [hidden_channels] * layers
        self.skip = skip

        self.activation_fn = {"AdaptiveELU": AdaptiveELU}[nonlinearity_type]
        self.activation_config = nonlinearity_config if nonlinearity_config is not None else {}

        self.stride = stride
        self.input_stride = input_stride
        self.use_avg_reg = use_avg_reg
        self.hidden_padding = hidden_padding
        self.input_kern = input_kern
        self.hidden_kern = hidden_kern
        self.laplace_padding = laplace_padding
        self.hidden_dilation = hidden_dilation
        self.final_nonlinearity = final_nonlinearity
        self.elu_xshift, self.elu_yshift = elu_shift
        self.momentum = momentum
        self.pad_input = pad_input
        if stack is None:
            self.stack = range(self.num_layers)
        else:
            self.stack = [*range(self.num_layers)[stack:]] if isinstance(stack, int) else stack
        self.linear = linear

        self.conv_layer_name = "conv"  # trimmed: depth_separable, attention_conv
        self.ConvLayer = nn.Conv2d
        self.ignore_group_sparsity = False
        self.set_batchnorm_type()
        self.features = nn.Sequential()
        self.add_first_layer()
        self.add_subsequent_layers()
        self.initialize()

    def set_batchnorm_type(self):
        self.batchnorm_layer_cls = nn.BatchNorm2d

    def penultimate_layer_built(self):
        """Returns True if the penultimate layer has been built."""
        return len(self.features) == self.num_layers - 1

    def add_bn_layer(self, layer, hidden_channels):
        if self.batch_norm:
            layer["norm"] = self.batchnorm_layer_cls(hidden_channels, momentum=self.momentum)  # trimmed

    def add_activation(self, layer):
        if self.linear:
            return
        if not self.penultimate_layer_built() or self.final_nonlinearity:
            if self.activation_fn == AdaptiveELU:
                layer["nonlin"] = AdaptiveELU(self.elu_xshift, self.elu_yshift)
            else:
                layer["nonlin"] = self.activation_fn(**self.activation_config)

    def add_first_layer(self):
        layer = OrderedDict()
        layer["conv"] = nn.Conv2d(
            self.input_channels,
            self.hidden_channels[0],
            self.input_kern,
            stride=self.input_stride,
            padding=self.input_kern // 2 if self.pad_input else 0,
            bias=self.bias and not self.batch_norm,
        )
        self.add_bn_layer(layer, self.hidden_channels[0])
        self.add_activation(layer)
        self.features.add_module("layer0", nn.Sequential(layer))

    def add_subsequent_layers(self):
        if not isinstance(self.hidden_kern, Iterable):
            self.hidden_kern = [self.hidden_kern] * (self.num_layers - 1)

        for l in range(1, self.num_layers):
            layer = OrderedDict()
            if self.hidden_padding is None:
                self.hidden_padding = ((self.hidden_kern[l - 1] - 1) * self.hidden_dilation + 1) // 2
            layer[self.conv_layer_name] = self.ConvLayer(
                in_channels=self.hidden_channels[l - 1]
                if not self.skip > 1
                else min(self.skip, l) * self.hidden_channels[0],
                out_channels=self.hidden_channels[l],
                kernel_size=self.hidden_kern[l - 1],
                stride=self.stride,
                padding=self.hidden_padding,
                dilation=self.hidden_dilation,
                bias=self.bias,
            )
            self.add_bn_layer(layer, self.hidden_channels[l])
            self.add_activation(layer)
            self.features.add_module("layer{}".format(l), nn.Sequential(layer))

    def forward(self, input_):
        ret = []
        for l, feat in enumerate(self.features):
            do_skip = l >= 1 and self.skip > 1
            input_ = feat(input_ if not do_skip else torch.cat(ret[-min(self.skip, l) :], dim=1))
            ret.append(input_)

        return torch.cat([ret[ind] for ind in self.stack], dim=1)

    def laplace(self):
        """
        Laplace regularization for the filters of the first conv2d layer.
        """
        return self._input_weights_regularizer(self.features[0].conv.weight, avg=self.use_avg_reg)

    def group_sparsity(self):
        """
        Sparsity regularization on the filters of all the conv2d layers except the first one.
        """
        ret = 0
        if self.ignore_group_sparsity:
            return ret

        for feature in self.features[1:]:
            ret = ret + feature.conv.weight.pow(2).sum(3, keepdim=True).sum(2, keepdim=True).sqrt().mean()
        return ret / ((self.num_layers - 1) if self.num_layers > 1 else 1)

    def regularizer(self):
        return self.group_sparsity() * self.gamma_hidden + self.gamma_input * self.laplace()

    @property
    def outchannels(self):
        return len(self.features) * self.hidden_channels[-1]


class RotationEquivariant2dCore(Stacked2dCore, nn.Module):
    """
    A core built of 2d rotation-equivariant layers. For more info refer to https://openreview.net/forum?id=H1fU8iAqKX.
    """

    def __init__(
        self,
        *args,
        num_rotations=8,
        upsampling=2,
        rot_eq_batch_norm=True,
        input_regularizer="LaplaceL2norm",
        init_std=0.1,
        **kwargs,
    ):
        """
        Args:
            num_rotations:      number of computed rotations for every feature
            upsampling:         upsampling scale of Hermite filters
            rot_eq_batch_norm:  boolean, if True uses rotation equivariant layers for normalization,
                                otherwise, usual normalization are used
            input_regularizer:  String that must match one of the regularizers in ..regularizers. It is passed to a parent class
            init_std:           standard deviation used to normal distribution to initialize HermiteConv2D layers

            Additional args and kwargs are passed to the parent class.
        """
        self.num_rotations = num_rotations
        self.upsampling = upsampling
        self.rot_eq_batch_norm = rot_eq_batch_norm
        self.init_std = init_std
        super().__init__(*args, **kwargs, input_regularizer=input_regularizer)

    def set_batchnorm_type(self):
        self.batchnorm_layer_cls = partial(RotationEquivariantBatchNorm2D, num_rotations=self.num_rotations)

    def add_first_layer(self):
        layer = OrderedDict()
        layer["hermite_conv"] = HermiteConv2D(
            input_features=self.input_channels,
            output_features=self.hidden_channels[0],
            num_rotations=self.num_rotations,
            upsampling=self.upsampling,
            filter_size=self.input_kern,
            stride=self.stride,
            padding=self.input_kern // 2 if self.pad_input else 0,
            first_layer=True,
        )
        self.add_bn_layer(layer, self.hidden_channels[0])
        self.add_activation(layer)
        self.features.add_module("layer0", nn.Sequential(layer))

    def add_subsequent_layers(self):
        if not isinstance(self.hidden_kern, Iterable):
            self.hidden_kern = [self.hidden_kern] * (self.num_layers - 1)

        for l in range(1, self.num_layers):
            layer = OrderedDict()

            if self.hidden_padding is None:
                self.hidden_padding = self.hidden_kern[l - 1] // 2

            layer["hermite_conv"] = HermiteConv2D(
                input_features=self.hidden_channels[l - 1] * self.num_rotations,
                output_features=self.hidden_channels[l],
                num_rotations=self.num_rotations,
                upsampling=self.upsampling,
                filter_size=self.hidden_kern[l - 1],
                stride=self.stride,
                padding=self.hidden_padding,
                first_layer=False,
            )
            self.add_bn_layer(layer, self.hidden_channels[l])
            self.add_activation(layer)
            self.features.add_module(f"layer{l}", nn.Sequential(layer))

    def initialize(self):
        self.apply(self.init_conv_hermite)

    def init_conv_hermite(self, m):
        if isinstance(m, HermiteConv2D):
            nn.init.normal_(m.coeffs.data, std=self.init_std)

    def forward(self, input_):
        ret = []
        for l, feat in enumerate(self.features):
            input_ = feat(input_)
            ret.append(input_)

        return torch.cat([ret[ind] for ind in self.stack], dim=1)

    def laplace(self):
        return self._input_weights_regularizer(
            self.features[0].hermite_conv.weights_all_rotations, avg=self.use_avg_reg
        )

    def group_sparsity(self):
        ret = 0
        for l in range(1, self.num_layers):
            ret = (
                ret
                + self.features[l]
                .hermite_conv.weights_all_rotations.pow(2)
                .sum(3, keepdim=True)
                .sum(2, keepdim=True)
                .sqrt()
                .mean()
            )
        return ret / ((self.num_layers - 1) if self.num_layers > 1 else 1)

    def regularizer(self):
        return self.group_sparsity() * self.gamma_hidden + self.gamma_input * self.laplace()

    @property
    def outchannels(self):
        return len(self.features) * self.hidden_channels[-1] * self.num_rotations


# ---- layers/readouts/base.py

class Readout(nn.Module):
    """
    Base readout class for all individual readouts.
    The MultiReadout will expect its readouts to inherit from this base class.
    """


    def initialize(self, *args, **kwargs):
        raise NotImplementedError("initialize is not implemented for ", self.__class__.__name__)

    def regularizer(self, reduction="sum", average=None):
        raise NotImplementedError("regularizer is not implemented for ", self.__class__.__name__)

    def apply_reduction(
        self, x, reduction="mean", average=None
    ) -> torch.Tensor:
        """
        Applies a reduction on the output of the regularizer.
        Args:
            x: output of the regularizer
            reduction: method of reduction for the regularizer. Currently possible are ['mean', 'sum', None].
            average: Deprecated. Whether to average the output of the regularizer.
                            If not None, it is transformed into the corresponding value of 'reduction' (see method 'resolve_reduction_method').

        Returns: reduced value of the regularizer
        """
        reduction = self.resolve_reduction_method(reduction=reduction, average=average)

        if reduction == "mean":
            return x.mean()
        elif reduction == "sum":
            return x.sum()
        elif reduction is None:
            return x
        else:
            raise ValueError(
                f"Reduction method '{reduction}' is not recognized. Valid values are ['mean', 'sum', None]"
            )

    def resolve_reduction_method(self, reduction="mean", average=None):
        """
        Helper method which transforms the old and deprecated argument 'average' in the regularizer into
        the new argument 'reduction' (if average is not None). This is done in order to agree with the terminology in pytorch).
        """
        if average is not None:
            reduction = "mean" if average else "sum"
        return reduction

    def resolve_deprecated_gamma_readout(
        self, feature_reg_weight, gamma_readout, default=1.0
    ):
        if feature_reg_weight is None:
            if gamma_readout is not None:
                feature_reg_weight = gamma_readout
            else:
                feature_reg_weight = default
        return feature_reg_weight

    def initialize_bias(self, mean_activity=None):
        """
        Initialize the biases in readout.
        Args:
            mean_activity: Tensor containing the mean activity of neurons.

        Returns:

        """
        if mean_activity is None:
            self.bias.data.fill_(0)
        else:
            self.bias.data = mean_activity


# ---- layers/readouts/factorized.py
class FullFactorized2d(Readout):
    """
    Factorized fully connected layer. Weights are a sum of outer products between a spatial filter and a feature vector.
    """

    def __init__(
        self,
        in_shape,  # channels, height, width
        outdims,
        bias,
        normalize=True,
        init_noise=1e-3,
        constrain_pos=False,
        positive_weights=False,
        shared_features=None,
        mean_activity=None,
        spatial_and_feature_reg_weight=None,
        gamma_readout=None,  # depricated, use feature_reg_weight instead
        **kwargs,
    ):

        super().__init__()

        h, w = in_shape[1:]  # channels, height, width
        self.in_shape = in_shape
        self.outdims = outdims
        self.positive_weights = positive_weights
        self.constrain_pos = constrain_pos
        self.init_noise = init_noise
        self.normalize = normalize
        self.mean_activity = mean_activity
        self.spatial_and_feature_reg_weight = self.resolve_deprecated_gamma_readout(
            spatial_and_feature_reg_weight, gamma_readout, default=1.0
        )

        self._original_features = True
        self.initialize_features(**(shared_features or {}))
        self.spatial = nn.Parameter(torch.Tensor(self.outdims, h, w))

        if bias:
            bias = nn.Parameter(torch.Tensor(outdims))
            self.register_parameter("bias", bias)
        else:
            self.register_parameter("bias", None)

        self.initialize(mean_activity)

    @property
    def shared_features(self):
        return self._features

    @property
    def features(self):
        if self._shared_features:
            return self.scales * self._features[self.feature_sharing_index, ...]
        else:
            return self._features

    @property
    def weight(self):
        if self.positive_weights:
            self.features.data.clamp_min_(0)
        n = self.outdims
        c, h, w = self.in_shape
        return self.normalized_spatial.view(n, 1, w, h) * self.features.view(n, c, 1, 1)

    @property
    def normalized_spatial(self):
        """
        Normalize the spatial mask
        """
        if self.normalize:
            norm = self.spatial.pow(2).sum(dim=1, keepdim=True)
            norm = norm.sum(dim=2, keepdim=True).sqrt().expand_as(self.spatial) + 1e-6
            weight = self.spatial / norm
        else:
            weight = self.spatial
        if self.constrain_pos:
            weight.data.clamp_min_(0)
        return weight

    def regularizer(self, reduction="sum", average=None):
        return self.l1(reduction=reduction, average=average) * self.spatial_and_feature_reg_weight

    def l1(self, reduction="sum", average=None):
        reduction = self.resolve_reduction_method(reduction=reduction, average=average)
        if reduction is None:
            raise ValueError("Reduction of None is not supported in this regularizer")

        n = self.outdims
        c, h, w = self.in_shape
        ret = (
            self.normalized_spatial.view(self.outdims, -1).abs().sum(dim=1, keepdim=True)
            * self.features.view(self.outdims, -1).abs().sum(dim=1)
        ).sum()
        if reduction == "mean":
            ret = ret / (n * c * w * h)
        return ret

    def initialize(self, mean_activity=None):
        """
        Initializes the mean, and sigma of the Gaussian readout along with the features weights
        """
        if mean_activity is None:
            mean_activity = self.mean_activity
        self.spatial.data.normal_(0, self.init_noise)
        self._features.data.normal_(0, self.init_noise)
        if self._shared_features:
            self.scales.data.fill_(1.0)
        if self.bias is not None:
            self.initialize_bias(mean_activity=mean_activity)

    def initialize_features(self, match_ids=None, shared_features=None):
        """
        The internal attribute `_original_features` in this function denotes whether this instance of the FullGuassian2d
        learns the original features (True) or if it uses a copy of the features from another instance of FullGaussian2d
        via the `shared_features` (False). If it uses a copy, the feature_l1 regularizer for this copy will return 0
        """
        c = self.in_shape[0]
        if match_ids is not None:
            assert self.outdims == len(match_ids)

            n_match_ids = len(np.unique(match_ids))
            if shared_features is not None:
                assert shared_features.shape == (
                    n_match_ids,
                    c,
                ), f"shared features need to have shape ({n_match_ids}, {c})"
                self._features = shared_features
                self._original_features = False
            else:
                self._features = nn.Parameter(
                    torch.Tensor(n_match_ids, c)
                )  # feature weights for each channel of the core
            self.scales = nn.Parameter(torch.Tensor(self.outdims, 1))  # feature weights for each channel of the core
            _, sharing_idx = np.unique(match_ids, return_inverse=True)
            self.register_buffer("feature_sharing_index", torch.from_numpy(sharing_idx))
            self._shared_features = True
        else:
            self._features = nn.Parameter(torch.Tensor(self.outdims, c))  # feature weights for each channel of the core
            self._shared_features = False

    def forward(self, x, shift=None, **kwargs):
        if shift is not None:
            raise NotImplementedError("shift is not implemented for this readout")
        if self.constrain_pos:
            self.features.data.clamp_min_(0)

        c, h, w = x.size()[1:]
        c_in, h_in, w_in = self.in_shape
        if (c_in, w_in, h_in) != (c, w, h):
            raise ValueError("the specified feature map dimension is not the readout's expected input dimension")

        y = torch.einsum("ncwh,owh->nco", x, self.normalized_spatial)
        y = torch.einsum("nco,oc->no", y, self.features)
        if self.bias is not None:
            y = y + self.bias
        return y

    def __repr__(self):
        c, h, w = self.in_shape
        r = self.__class__.__name__ + " (" + "{} x {} x {}".format(c, w, h) + " -> " + str(self.outdims) + ")"
        if self.bias is not None:
            r += " with bias"
        if self._shared_features:
            r += ", with {} features".format("original" if self._original_features else "shared")
        if self.normalize:
            r += ", normalized"
        else:
            r += ", unnormalized"
        for ch in self.children():
            r += "  -> " + ch.__repr__() + "\n"
        return r


# ---- layers/shifters/static_affine.py
class StaticAffine2d(nn.Linear):
    def __init__(self, input_channels=2, output_channels=2, bias=True):
        """
        A simple FC network with bias between input and output channels without a hidden layer.
        Args:
            input_channels (int): number of input channels.
            output_channels (int): number of output channels.
            bias (bool): Adds a bias parameter if True.
        """
        super().__init__(input_channels, output_channels, bias=bias)

    def forward(self, x, trial_idx=None):
        x = super().forward(x)
        return torch.tanh(x)

    def initialize(self, bias=None):
        self.weight.data.normal_(0, 1e-6)
        if self.bias is not None:
            if bias is not None:
                self.bias.data = bias
            else:
                self.bias.data.normal_(0, 1e-6)

    def regularizer(self):
        return self.weight.pow(2).mean()


class StaticAffine2dShifter(ModuleDict):
    def __init__(self, data_keys, input_channels=2, output_channels=2, bias=True, gamma_shifter=0):
        """
        Args:
            data_keys (list of str): keys of the shifter dictionary, correspond to the data_keys of the nnfabirk dataloaders
            gamma_shifter: weight of the regularizer

            See docstring of base class for the other arguments.
        """
        super().__init__()
        self.gamma_shifter = gamma_shifter
        for k in data_keys:
            self.add_module(k, StaticAffine2d(input_channels, output_channels, bias=bias))

    def initialize(self, bias=None):
        for k in self:
            if bias is not None:
                self[k].initialize(bias=bias[k])
            else:
                self[k].initialize()

    def regularizer(self, data_key):
        return self[data_key].regularizer() * self.gamma_shifter
