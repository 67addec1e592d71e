"""Coherence per factor, where a data set's class is a code of named factors (easy-VQA: shape x colour).

A class c over factors (name_1, n_1), ..., (name_F, n_F) is the mixed-radix number whose first factor is the
most significant: c = ((f_1 * n_2 + f_2) * n_3 + f_3) ... . Agreement on the whole class is strict where the
input can state only some of the factors (a question naming the shape, not the colour): the agreement on each
factor says which of them the generated data carries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

Factors = Sequence[tuple[str, int]]


def check_factors(factors: Factors, num_classes: int) -> None:
    """Named factors of positive size whose sizes multiply to the number of classes; ValueError otherwise."""
    names = [n for n, _ in factors]
    if len(set(names)) != len(names):
        raise ValueError(f"class factors must have distinct names, got {names}")
    if any(int(k) < 2 for _, k in factors):
        raise ValueError(f"every class factor needs two or more values, got {list(factors)}")
    if factors and math.prod(int(k) for _, k in factors) != num_classes:
        raise ValueError(
            f"class factors {list(factors)} multiply to {math.prod(int(k) for _, k in factors)} values, "
            f"not the data set's {num_classes} classes"
        )


def factor_values(classes: Tensor, factors: Factors) -> dict[str, Tensor]:
    """Each factor's value of every class in `classes` (any shape): name -> tensor of the same shape."""
    out: dict[str, Tensor] = {}
    rest = classes
    for name, size in reversed(list(factors)):  # the last factor is the least significant digit
        out[name] = rest % size
        rest = rest // size
    return {name: out[name] for name, _ in factors}


def factor_agreement(pred: Tensor, truth: Tensor, factors: Factors) -> dict[str, float]:
    """The fraction of items whose predicted class has the true value of each factor (micro)."""
    p, t = factor_values(pred, factors), factor_values(truth, factors)
    return {name: float((p[name] == t[name]).float().mean()) for name, _ in factors}


def joint_factor_agreement(classes: Tensor, factors: Factors) -> dict[str, float]:
    """Joint coherence per factor: the fraction of prior samples (columns of `classes`, (J, n)) whose judged
    modalities all agree on that factor."""
    values = factor_values(classes, factors)
    return {name: float((v == v[:1]).all(0).float().mean()) for name, v in values.items()}
