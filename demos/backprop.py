"""See backprop happen: step-by-step pages of forward and backward for three small graphs."""

from __future__ import annotations

import argparse
from pathlib import Path

from tapegrad import Value, explain, nn

from ._common import look_for
from .blackbox import model as black_box_model

# One sample of the black box's table (x = 1.1 -> y = 2.431) and the first guess w = v = 1.
SAMPLE = (1.1, 2.431)


def black_box_loss() -> tuple[Value, list[Value]]:
    """The black-box model of "Backprop and gradient descent explained plainly":
    z = w x + v x^2 at w = v = 1 on one sample, loss = (z - y)^2."""
    x, y = SAMPLE
    w, v = Value(1.0, label="w"), Value(1.0, label="v")
    z = black_box_model(w, v, Value(x, label="x", requires_grad=False))
    z.label = "z"
    error = z - y
    error.label = "error"
    loss = error**2
    loss.label = "loss"
    return loss, [w, v]


def network_loss(seed: int) -> tuple[Value, nn.MLP]:
    """The small network of "How do we train neural networks": 2 inputs, 2 ReLU hidden
    units, a sigmoid output read as a probability, squared error on one sample."""
    model = nn.MLP(2, [2, 1], activation="relu", output_activation="sigmoid", seed=seed)
    x = [Value(0.5, label="x0", requires_grad=False), Value(-1.0, label="x1", requires_grad=False)]
    p = model(x)[0]
    p.label = "p"
    error = p - 1.0
    error.label = "error"
    loss = error**2
    loss.label = "loss"
    return loss, model


def reused_input() -> tuple[Value, list[Value]]:
    """A neuron whose input is used twice: y = tanh(w0 x + w1 x + b); d y/d x arrives
    in two parts, one through each weight."""
    x = Value(0.8, label="x")
    w0, w1, b = Value(0.5, label="w0"), Value(-1.5, label="w1"), Value(0.1, label="b")
    y = Value.dot([w0, w1], [x, x], b).tanh()
    y.label = "y"
    return y, [x, w0, w1, b]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        help="also save a picture of the network's page here (needs "
        "selenium and Debian's chromium and chromium-driver)",
    )


def _check(root: Value, leaves: list[Value], names: object = None) -> dict:
    """The record's gradients of the named leaves next to backward()'s."""
    record = explain(root, names=names)
    given = dict(names.named_parameters()) if names is not None else {v.label: v for v in leaves}
    for v in given.values():
        v.zero_grad()
    root.backward()
    recorded = record.gradients
    return {
        "record": {key: recorded[key] for key in given},
        "backward": {key: v.grad for key, v in given.items()},
        "explanation": record,
    }


def run(args: argparse.Namespace, out: Path) -> dict:
    loss, params = black_box_loss()
    net_loss, model = network_loss(args.seed)
    y, inputs = reused_input()
    cases = {
        "blackbox": _check(loss, params),
        "network": _check(net_loss, [], names=model),
        "reused_input": _check(y, inputs),
    }
    print(
        'the black box of "Backprop and gradient descent explained plainly": '
        f"z = w x + v x^2 on x = {SAMPLE[0]}, y = {SAMPLE[1]}, loss = (z - y)^2\n"
    )
    print(cases["blackbox"]["explanation"])
    print("\npages (open in a browser; step with the buttons or the arrow keys):")
    for name, case in cases.items():
        path = case["explanation"].save_html(str(out / f"backprop_{name}.html"))
        print(f"  wrote {path}")
    x = inputs[0]
    shares = sum(p is x for node in y.parents for p in node.parents)  # y = tanh(dot(..., x, x))
    checks = look_for(
        "in each page, the gradient boxes stay empty (—) through the forward pass, then fill "
        f"from the output back to the inputs; in reused_input, x's gradient arrives in "
        f"{shares} parts, one through each weight",
        {
            "x's gradient arrives in two parts": shares == 2,
            "every page ends on backward()'s gradients": all(
                case["record"] == case["backward"] for case in cases.values()
            ),
        },
    )
    if args.screenshot is not None:
        from ._browser import missing, screenshot

        reason = missing()
        if reason:
            print(f"no screenshot: {reason}")
        else:
            forward = sum(1 for s in cases["network"]["explanation"].steps if s.kind == "forward")
            # Just after the output neuron's weighted sum passed its gradient on.
            screenshot(
                out / "backprop_network.html",
                args.screenshot,
                forward + 5,
                select="layers.1.neurons.0.w.0",
            )
            print(f"  wrote {args.screenshot}")
    return {
        "look_for": checks,
        **{name: {k: case[k] for k in ("record", "backward")} for name, case in cases.items()},
    }
