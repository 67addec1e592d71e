"""Coherence per factor of a class (easy-VQA's shape x colour): the mixed-radix code, agreement, and the metric."""

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fusevae.metrics.classifier import Classifier
from fusevae.metrics.coherence import cross_coherence
from fusevae.metrics.factors import check_factors, factor_agreement, factor_values, joint_factor_agreement

from .test_coherence import C, _copying, _data, _model


@given(st.lists(st.integers(2, 6), min_size=1, max_size=4), st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_factor_values_invert_the_mixed_radix_code(sizes, seed):
    g = torch.Generator().manual_seed(seed)
    values = [torch.randint(0, k, (50,), generator=g) for k in sizes]
    classes = torch.zeros(50, dtype=torch.long)
    for v, k in zip(values, sizes):  # the first factor is the most significant digit
        classes = classes * k + v
    factors = [(f"f{i}", k) for i, k in enumerate(sizes)]
    got = factor_values(classes, factors)
    assert list(got) == [n for n, _ in factors]
    for (name, _), v in zip(factors, values):
        assert torch.equal(got[name], v)


def test_agreement_counts_each_factor_on_its_own():
    factors = (("shape", 3), ("colour", 8))
    truth = torch.tensor([0 * 8 + 2, 1 * 8 + 5, 2 * 8 + 7, 2 * 8 + 0])
    pred = torch.tensor([0 * 8 + 3, 1 * 8 + 5, 0 * 8 + 7, 1 * 8 + 1])  # shape right, both, colour right, neither
    assert factor_agreement(pred, truth, factors) == pytest.approx({"shape": 0.5, "colour": 0.5})
    # two modalities' judged classes of four prior samples: shapes agree in 1 and 2, colours in 2, 3 and 4
    classes = torch.tensor([[8, 9, 0, 23], [10, 9, 16, 7]])
    assert joint_factor_agreement(classes, factors) == pytest.approx({"shape": 0.5, "colour": 0.75})


def test_factors_must_name_distinct_digits_that_multiply_to_the_classes():
    check_factors((("shape", 3), ("colour", 8)), 24)
    with pytest.raises(ValueError, match="multiply to 21"):
        check_factors((("shape", 3), ("colour", 7)), 24)
    with pytest.raises(ValueError, match="distinct"):
        check_factors((("a", 4), ("a", 6)), 24)
    with pytest.raises(ValueError, match="two or more"):
        check_factors((("a", 24), ("b", 1)), 24)
    from fusevae.data.user import from_arrays

    data = from_arrays({"x": torch.randn(40, 3).numpy(), "y": (torch.arange(40) % 4).numpy()}, labels="y")
    with pytest.raises(ValueError, match="not the data set's 4 classes"):
        dataclasses.replace(data, class_factors=(("a", 2), ("b", 3)))


def test_cross_coherence_reports_the_factor_a_generated_modality_carries():
    """A judge that reads the first factor (class // 5) right and the second one shifted scores 0 on the class,
    1 on the first factor and 0 on the second."""
    model, data = _copying(_model()), _data()
    judge = Classifier((C,), C)
    shift = torch.tensor([(c // 5) * 5 + (c % 5 + 1) % 5 for c in range(C)])
    judge.net = nn.Linear(C, C, bias=False)
    with torch.no_grad():
        judge.net.weight.copy_(torch.eye(C)[shift])  # logit of class shift[c] = entry c
    factors = (("half", 2), ("rest", 5))
    cells = {(s.inputs, s.target): s for s in cross_coherence(model, data, {"image": judge}, factors=factors)}
    to_image = cells[("label",), "image"]
    assert to_image.micro == 0.0
    assert to_image.factors == pytest.approx({"half": 1.0, "rest": 0.0})
    assert cells[("image",), "label"].factors == {"half": 1.0, "rest": 1.0}  # the label is read from its own decoder
    assert cross_coherence(model, data, {"image": judge})[0].factors == {}  # no factors asked: none reported
