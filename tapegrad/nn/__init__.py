"""Neural networks from scalar Values: modules, layers, init schemes, losses, data.

from tapegrad import nn
model = nn.MLP(2, [16, 16, 1], seed=0)        # relu hidden layers, linear output
X, y = nn.data.make_moons(100, noise=0.1, seed=0)
scores = [model(x)[0] for x in X]              # one sample in, a list out
loss = nn.functional.hinge_loss(scores, [2 * t - 1 for t in y])
loss = loss + 1e-4 * nn.functional.l2_penalty(model.parameters())
"""

from . import data, functional, init
from .containers import ModuleList, Sequential
from .functional import log_softmax, softmax
from .layers import (
    MLP,
    BatchNorm,
    BatchNorm1d,
    Dropout,
    GroupNorm,
    Layer,
    LayerNorm,
    Linear,
    Neuron,
    ReLU,
    Sigmoid,
    Tanh,
)
from .module import IncompatibleKeys, Module, read_model_file
from .pytorch import load_torch_state_dict, torch_state_dict
from .train import History, fit

__all__ = [
    "MLP",
    "BatchNorm",
    "BatchNorm1d",
    "Dropout",
    "GroupNorm",
    "History",
    "IncompatibleKeys",
    "Layer",
    "LayerNorm",
    "Linear",
    "Module",
    "ModuleList",
    "Neuron",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "data",
    "fit",
    "functional",
    "init",
    "load_torch_state_dict",
    "log_softmax",
    "read_model_file",
    "softmax",
    "torch_state_dict",
]
