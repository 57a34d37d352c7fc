"""tapegrad's optimizers: PyTorch's update rules on scalar Values, plus schedules,
gradient clipping and second-order tools.

Optimizers read ``p.data`` and ``p.grad`` and write ``p.data``; nothing else.
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW, NAdam
from .clip import clip_grad_norm_, clip_grad_value_
from .newton import Newton, largest_stable_lr
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "NAdam",
    "Newton",
    "Optimizer",
    "RMSprop",
    "clip_grad_norm_",
    "clip_grad_value_",
    "largest_stable_lr",
    "lr_scheduler",
]
