"""kittygrad-nn: ``torch.nn`` for kittygrad (``kitty.nn``), plus ``kitty.optim``, ``kitty.utils.data``,
``kitty.save`` and ``kitty.load``.

Modules, layers, activations and losses live here; ``functional`` and ``init`` are submodules, as in
torch. The losses and layers with gradient rules of their own are op records (:mod:`kittygrad_nn.ops`)
registered through the ``kittygrad`` entry point like any plugin's.
"""
from . import data, functional, init, ops, optim, serialization, utils
from ._containers import ModuleDict, ModuleList, Sequential
from ._layers import (
                      GELU,
                      BatchNorm1d,
                      Dropout,
                      Embedding,
                      Flatten,
                      Identity,
                      LayerNorm,
                      LeakyReLU,
                      Linear,
                      LogSoftmax,
                      ReLU,
                      Sigmoid,
                      SiLU,
                      Softmax,
                      Tanh,
)
from ._loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from ._module import Module, Parameter
from .init import calculate_gain, kaiming_normal, kaiming_uniform  # kitty.nn.* of the original kittygrad
from .serialization import load, save

__version__ = "0.1.0"

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "CrossEntropyLoss", "Dropout", "Embedding", "Flatten",
    "GELU", "Identity", "L1Loss", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "Module",
    "ModuleDict", "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential", "SiLU", "Sigmoid", "Softmax",
    "Tanh", "calculate_gain", "data", "functional", "init", "kaiming_normal", "kaiming_uniform", "load", "ops",
    "optim", "save", "serialization", "utils",
]
