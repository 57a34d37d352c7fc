"""Runnable experiments from the articles: ``python -m demos`` lists them.

Each demo is a module of this package with a one-line docstring, an
``add_arguments(parser)`` for its options and a ``run(args, out) -> dict`` that prints
what it does, writes its figures into the folder ``out`` and returns the numbers it
measured (the tests check them).
"""

# The demos by article (numbered as in docs/course/index.md), in the articles' order.
ARTICLES = (
    (
        "000 Why we train artificial neural networks",
        ("moons", "backprop", "learning_rate", "minibatch", "universal", "finite_differences"),
    ),
    ("001 Training techniques", ("optimizers", "init", "batchnorm", "regularization", "search")),
    ("002 Neural network basics", ("digits", "vanishing", "exploding")),
    ("003 Backpropagation and gradient descent explained plainly", ("blackbox",)),
    ("004 A glimpse of neural networks", ("sine", "hessian", "schedules")),
)
DEMOS = tuple(name for _, names in ARTICLES for name in names)
"""Demo names in the order ``python -m demos`` lists them (``-`` may stand for ``_``)."""
