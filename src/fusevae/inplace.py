"""In-place sensor fusion (M2VAE section 5.2, eq. 13) and auto re-encoding.

A latent code z summarises earlier observations of some modalities M'. It can be sent instead of
the observations and updated where a new observation m arrives: z is unfolded by the decoders,
M' = U_{m' in M'} p(m' | z), and the decoded observations are encoded together with the new one,

    z* ~ q(z* | m, M'),                                                     (eq. 13)

by the encoder of the subset m U M'. This needs *auto re-encoding*, z -> z' = E[q(z | M')] with M'
decoded from z, not to destroy the information in z (no label switching): M2VAE Fig. 6 shows the
re-encoding trajectories of random seeds converging to fixed points. `reencode` is one such step,
`reencode_trajectory` iterates it and `reencoding_error` scores a z by how well its decoded
observations survive one step (the colouring of Fig. 6, right).

Decoded observations are the likelihood means (Bernoulli probabilities, Gaussian/Laplace locations),
and a label modality is decoded to its most likely class (argmax), since a label encoder reads class
indices. All functions run without gradients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from .distributions import Posterior
from .model import MultimodalVAE

Names = str | Sequence[str] | None


def check_names(model: MultimodalVAE, names: Names, what: str = "names") -> tuple[str, ...]:
    """Modality names as a tuple in model order; None means all, a bare string one modality.

    Empty, unknown and repeated names are ValueErrors naming the problem.
    """
    if names is None:
        return model.names
    listed = [names] if isinstance(names, str) else list(names)
    if not listed:
        raise ValueError(f"{what} is empty: name at least one of the model's modalities {list(model.names)}")
    bad = [n for n in listed if not isinstance(n, str)]
    if bad:
        raise ValueError(f"{what}: modality names must be strings, got {bad!r}")
    unknown = sorted({n for n in listed if n not in model.names})
    if unknown:
        raise ValueError(f"{what}: unknown modality {unknown}; this model has {list(model.names)}")
    if len(set(listed)) != len(listed):
        raise ValueError(f"{what}: a modality is named twice in {listed}")
    return tuple(n for n in model.names if n in listed)


def check_latent(model: MultimodalVAE, z: Tensor, what: str = "z") -> Tensor:
    """z as a floating (N, latent_dim) tensor on the model's device, or a ValueError saying what is wrong."""
    if not isinstance(z, Tensor):
        raise ValueError(f"{what} must be a torch.Tensor of shape (N, {model.latent_dim}), got {type(z).__name__}")
    if z.dim() != 2 or z.shape[-1] != model.latent_dim:
        raise ValueError(f"{what} must have shape (N, latent_dim) = (N, {model.latent_dim}), got {tuple(z.shape)}")
    if not z.is_floating_point():
        raise ValueError(f"{what} must be a floating-point tensor, got {z.dtype}")
    if z.shape[0] == 0:
        raise ValueError(f"{what} holds no points (shape {tuple(z.shape)})")
    if not bool(torch.isfinite(z).all()):
        raise ValueError(f"{what} holds NaN or inf values")
    return z.to(next(model.parameters()).device)


def _observation(model: MultimodalVAE, name: str, params: Tensor) -> Tensor:
    """The decoded observation of one modality: the likelihood mean, or the argmax class of a label."""
    if model.nets[name].cfg.kind == "label":
        return params.argmax(-1)
    return model.nets[name].mean(params)


def _rows_finite(t: Tensor) -> Tensor:
    """(N,): whether every value of each row of t (N, ...) is finite."""
    return torch.isfinite(t.reshape(t.shape[0], -1)).all(1)


def _decode_rows(model: MultimodalVAE, z: Tensor, chosen: tuple[str, ...]) -> tuple[dict[str, Tensor], Tensor]:
    """Decoded observations of `chosen` and a (N,) mask of the rows whose decoders stayed finite.

    Rows whose decoder output overflowed (z far outside the region the decoders saw) are
    decoded from zeros instead, so the other rows can still be encoded; the mask says which.
    """
    params = model.decode(z, chosen)
    ok = torch.ones(z.shape[0], dtype=torch.bool, device=z.device)
    for p in params.values():
        ok = ok & _rows_finite(p)
    out = {}
    for n, p in params.items():
        keep = ok.reshape(-1, *([1] * (p.dim() - 1)))
        out[n] = _observation(model, n, torch.where(keep, p, torch.zeros((), dtype=p.dtype, device=p.device)))
    return out, ok


def _step(model: MultimodalVAE, z: Tensor, chosen: tuple[str, ...]) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """One re-encoding step for each row: decoded observations, z' (NaN where it failed) and the (N,) ok mask."""
    decoded, ok = _decode_rows(model, z, chosen)
    z_new = model.posterior(decoded, list(chosen)).mean
    ok = ok & _rows_finite(z_new)
    return decoded, torch.where(ok.unsqueeze(-1), z_new, torch.full_like(z_new, float("nan"))), ok


def _overflow(z: Tensor, ok: Tensor, what: str) -> FloatingPointError:
    bad = ~ok
    largest = float(z[bad].abs().max()) if bool(torch.isfinite(z[bad]).all()) else float("inf")
    return FloatingPointError(
        f"{what} overflowed for {int(bad.sum())} of {len(ok)} points (largest |z| among them {largest:.3g}): "
        "the networks give non-finite values that far from the data"
    )


@torch.no_grad()
def decode_observations(model: MultimodalVAE, z: Tensor, names: Names = None) -> dict[str, Tensor]:
    """M' = U_{m' in names} p(m' | z) of eq. 13 as observations: likelihood means, labels as argmax classes.

    z has shape (N, latent_dim); each value has shape (N, *event) like the modality's data. A
    FloatingPointError says so when a decoder overflows for some z.
    """
    chosen = check_names(model, names)
    z = check_latent(model, z)
    decoded, ok = _decode_rows(model, z, chosen)
    if not bool(ok.all()):
        raise _overflow(z, ok, "decoding z")
    return decoded


@torch.no_grad()
def reencode(model: MultimodalVAE, z: Tensor, names: Names = None) -> Tensor:
    """One auto re-encoding step z -> z' = E[q(z' | M')], M' the observations of `names` decoded from z (sec. 5.2).

    z (N, latent_dim) -> z' (N, latent_dim), on the model's device. `names` (default: every
    modality) are decoded, then re-encoded together by the encoder (fusion) of that subset. A
    FloatingPointError says so when the decoders or the encoder overflow for some z.
    """
    chosen = check_names(model, names)
    z = check_latent(model, z)
    _, z_new, ok = _step(model, z, chosen)
    if not bool(ok.all()):
        raise _overflow(z, ok, "re-encoding z")
    return z_new


@torch.no_grad()
def reencode_trajectory(
    model: MultimodalVAE, z0: Tensor, names: Names = None, steps: int = 50, tol: float = 1e-4
) -> Tensor:
    """The auto re-encoding path z_0, z_1 = reencode(z_0), ..., z_steps: shape (steps + 1, N, latent_dim).

    Iteration stops early once every point moved less than `tol` (Euclidean norm) in the last
    step; the remaining rows then repeat the last point, so the shape is always (steps + 1, N, D)
    and path[-1] is where the iteration ended. M2VAE Fig. 6 draws these paths. Re-encoding need not
    converge: a point can be pushed outwards until the networks overflow. Such a point has diverged;
    its entries are NaN from that step on and it no longer counts for the early stop.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    chosen = check_names(model, names)
    z = check_latent(model, z0, "z0")
    alive = torch.ones(z.shape[0], dtype=torch.bool, device=z.device)
    path = [z]
    for _ in range(steps):
        rows = torch.nonzero(alive).flatten()
        _, z_new, ok = _step(model, z[rows], chosen)
        nxt = z.index_copy(0, rows, z_new)
        alive = alive.index_copy(0, rows, ok)
        path.append(nxt)
        moved = (nxt - z).norm(dim=-1)[alive]
        z = nxt
        if not bool(alive.any()) or bool((moved < tol).all()):
            break
    path += [z] * (steps + 1 - len(path))
    return torch.stack(path)


@torch.no_grad()
def reencoding_error(model: MultimodalVAE, z: Tensor, names: Names = None) -> Tensor:
    """How much the decoded observations of z change by one auto re-encoding step: (N,) squared error.

    sum_{m in names} || x_m(z) - E[p(x_m | z')] ||^2 with x_m(z) the decoded observation of z and
    z' = reencode(z, names); a label's decoded class enters as a one-hot vector against the
    class probabilities at z'. Zero at a fixed point; large between clusters, where re-encoding
    jumps (the colouring of M2VAE Fig. 6, right). NaN for a z where the networks overflow.
    """
    chosen = check_names(model, names)
    z = check_latent(model, z)
    decoded, z_new, ok = _step(model, z, chosen)
    z_new = torch.where(ok.unsqueeze(-1), z_new, torch.zeros_like(z_new))
    err = torch.zeros(z_new.shape[0], dtype=z_new.dtype, device=z_new.device)
    for n, params in model.decode(z_new, chosen).items():
        mean = model.nets[n].mean(params)
        target = decoded[n]
        if model.nets[n].cfg.kind == "label":
            target = torch.nn.functional.one_hot(target, mean.shape[-1]).to(mean.dtype)
        err = err + ((mean - target.to(mean.dtype)) ** 2).flatten(1).sum(-1)
    return torch.where(ok, err, torch.full_like(err, float("nan")))


@torch.no_grad()
def fuse_in_place(model: MultimodalVAE, z: Tensor, known: Sequence[str], new: Mapping[str, Tensor]) -> Posterior:
    """Eq. 13: q(z* | m, M') from a code z of earlier observations of `known` and new observations `new`.

    z (N, latent_dim) encodes earlier observations of the modalities `known`. The known modalities
    that `new` does not observe again are decoded from z (M' of eq. 13, see `decode_observations`);
    a modality in both is taken from `new`, the fresh observation replacing the remembered one.
    Returns the posterior of the encoder of `known` U `new` over the combined observations, batch
    shape (N,) (a DiagGaussian, or a UniformMixture for MoE / MoPoE models).

    `new` maps modality names to tensors (N, *event) like the model's data (class indices for a
    label). ValueErrors name the problem: unknown or repeated modality names, an empty `known` (z
    would carry nothing: use model.posterior), an empty `new` (nothing to fuse: use `reencode`), z
    not (N, latent_dim), or new observations not of N items or of the wrong event shape.
    """
    known_names = check_names(model, known, "known")
    if not isinstance(new, Mapping):
        raise ValueError(f"new must be a mapping modality name -> tensor, got {type(new).__name__}")
    if not new:
        raise ValueError("new is empty: nothing to fuse into z (use reencode to re-encode z alone)")
    new_names = check_names(model, list(new), "new")
    z = check_latent(model, z)
    n = z.shape[0]
    for name in new_names:
        x = new[name]
        if not isinstance(x, Tensor):
            raise ValueError(f"new[{name!r}] must be a torch.Tensor, got {type(x).__name__}")
        event = tuple(model.nets[name].event_shape)
        if x.dim() == 0 or x.shape[0] != n:
            raise ValueError(
                f"new[{name!r}] must hold one observation per row of z: shape ({n}, {', '.join(map(str, event))})"
                f" expected, got {tuple(x.shape)}"
            )
        if tuple(x.shape[1:]) != event:
            raise ValueError(
                f"new[{name!r}] has observations of shape {tuple(x.shape[1:])}, but modality {name!r} has {event}"
            )
    remembered = [m for m in known_names if m not in new_names]
    data = dict(decode_observations(model, z, remembered)) if remembered else {}
    data.update({name: new[name] for name in new_names})
    subset = [m for m in model.names if m in data]
    return model.posterior(data, subset)


__all__ = [
    "check_latent",
    "check_names",
    "decode_observations",
    "fuse_in_place",
    "reencode",
    "reencode_trajectory",
    "reencoding_error",
]
