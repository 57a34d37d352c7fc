"""Runnable experiments from the articles: ``python -m demos`` lists them.

Each demo is a module of this package with a one-line docstring, an
``add_arguments(parser)`` for its options and a ``run(args, out) -> dict`` that prints
what it does, writes its figures into the folder ``out`` and returns the numbers it
measured (the tests check them).
"""

DEMOS = (
    "moons",
    "optimizers",
    "init",
    "digits",
    "blackbox",
    "sine",
    "regularization",
    "batchnorm",
    "vanishing",
    "hessian",
    "finite_differences",
    "search",
    "learning_rate",
    "minibatch",
    "universal",
    "schedules",
    "exploding",
    "backprop",
)
"""Demo names in the order ``python -m demos`` lists them (``-`` may stand for ``_``)."""
