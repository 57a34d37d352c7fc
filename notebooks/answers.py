"""The reference answers to the notebooks' "Try this" exercises.

Each exercise's check cell measures the answer itself, then ``course.check`` compares
yours with it and says why. Look here only when stuck: the notebook tests answer every
exercise from this table, so each answer below is also checked against what the code
measures.
"""

ANSWERS: dict[str, object] = {
    # 000 Why we train
    "000-1": "stays",  # factor 1.0: the loss neither falls nor grows
    "000-2": 60,  # the full batch computes 60 times as many per-sample gradients
    "000-3": 13,  # 12 ReLU units: at most 12 corners, so 13 straight pieces
    # 001 Training techniques
    "001-1": "flips",  # lr 1.0: y -> -y every step
    "001-2": "no",  # random starting weights break the symmetry
    "001-3": "higher",  # without early stopping the validation loss rises again
    # 002 Neural network basics
    "002-1": "lower",  # 6 full-batch steps at the same rate barely start
    "002-2": "lower",  # the sigmoid's slope <= 1/4 slows the first layers
    "002-3": "no",  # clipped to 10, the steps still kill every ReLU unit
    # 003 Backpropagation and gradient descent explained plainly
    "003-1": "jump",  # lr 1.0: 1 - 2 lr = -1, the guess flips around 37 forever
    "003-2": 140,  # updates from w = v = 0 (131 from w = v = 1)
    "003-3": "farther",  # one shot in a strong wind: a noisy gradient
    # 004 A glimpse of neural networks
    "004-1": 1.9,  # below 2 / lambda_max the error along the top eigenvector shrinks
    "004-2": "no",  # with lr 0.01 the order of the samples barely matters
    "004-3": "no",  # the cosine rate ends near 0: no bouncing
}
