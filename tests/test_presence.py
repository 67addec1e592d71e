"""Presence AP: attribute probabilities from class probabilities, and average precision at its known points."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fusevae.evaluation import check_metrics
from fusevae.metrics.presence import average_precisions, bit_matrix, presence_probabilities


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(0, 10_000))
def test_an_attribute_is_as_likely_as_the_classes_that_have_it(bits, seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(5, 2**bits, generator=g).softmax(-1)
    got = presence_probabilities(probs, bits)
    for q in range(bits):
        want = sum(probs[:, c] for c in range(2**bits) if c >> q & 1)
        assert torch.allclose(got[:, q], want, atol=1e-6)
    assert bit_matrix(16, 4)[5].tolist() == [1.0, 0.0, 1.0, 0.0]  # class 5 = bits 0 and 2


def test_average_precision_is_one_for_a_perfect_ranking_and_the_prevalence_for_a_blind_one():
    truth = torch.tensor([[1, 0], [0, 0], [1, 1], [0, 0], [0, 0]]).float()
    perfect = average_precisions(truth * 0.9 + 0.05, truth, ["a", "b"])
    assert perfect == {"a": pytest.approx(1.0), "b": pytest.approx(1.0)}
    blind = average_precisions(torch.full((5, 2), 0.5), truth, ["a", "b"])
    assert blind == {"a": pytest.approx(2 / 5), "b": pytest.approx(1 / 5)}
    never = average_precisions(torch.rand(5, 1), torch.zeros(5, 1), ["c"])
    assert math.isnan(never["c"])


def test_presence_is_refused_by_name_on_data_without_attribute_bits(mnist):
    with pytest.raises(ValueError, match="presence.*bitmasks"):
        check_metrics(["presence"], mnist)
    assert "presence" not in check_metrics(["all"], mnist)
