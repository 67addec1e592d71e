"""Chunked data-set checks give the answers of the whole-tensor checks they replace."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fusevae.tensor_checks import CHUNK_ROWS, all_finite, non_finite_counts, value_range

N = 2 * CHUNK_ROWS + 123  # spans three chunks, the last one partial


@settings(max_examples=25, deadline=None)
@given(
    nans=st.lists(st.integers(0, N * 3 - 1), max_size=4),
    infs=st.lists(st.integers(0, N * 3 - 1), max_size=4),
    seed=st.integers(0, 2**16),
    drop=st.floats(0.0, 1.0),
)
def test_chunked_checks_equal_whole_tensor_checks(nans, infs, seed, drop):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 3, generator=g)
    flat = x.view(-1)
    flat[torch.tensor(infs, dtype=torch.long)] = float("inf")
    flat[torch.tensor(nans, dtype=torch.long)] = float("nan")  # a NaN overwrites an inf at the same place
    present = torch.rand(N, generator=g) >= drop
    chosen = x[present]
    bad = ~torch.isfinite(chosen)
    assert non_finite_counts(x, present) == (int(bad.sum()), int(torch.isnan(chosen).sum()))
    assert all_finite(x) == bool(torch.isfinite(x).all())
    clean = torch.nan_to_num(x, nan=0.0, posinf=0.0)
    span = value_range(clean, present)
    if present.any():
        assert span == (float(clean[present].min()), float(clean[present].max()))
    else:
        assert span is None


def test_integer_tensors_are_finite_and_ranges_cover_every_chunk():
    y = torch.arange(N)
    assert all_finite(y)
    assert value_range(y) == (0, N - 1)
