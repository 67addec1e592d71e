"""Per-modality networks: an encoder to an embedding, a decoder to likelihood parameters, and the likelihood.

The encoder and decoder come from a network family in the registry (`fusevae.networks`): `mlp`,
`conv`, `sequence` or one the user registered. This module owns the contract around them: the
encoder sees (B, *event) and returns (B, E); the decoder sees a flat (N, D) batch, because every
leading dimension of z (K samples, subsets, batch) is flattened before the call and restored after.
Both are checked on a dry run when the model is built, so a network that breaks the contract
fails there, naming the modality, and not in the middle of training.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from .config import ModalityConfig
from .distributions import full_precision
from .likelihoods import Likelihood, make_likelihood
from .networks import ACTIVATIONS, NetworkContext, NetworkError, activation, build

KINDS = ("image", "label", "vector", "tokens", "timeseries")
INTEGER_KINDS = ("label", "tokens")  # data held as int64 class or token indices
__all__ = ["ACTIVATIONS", "INTEGER_KINDS", "KINDS", "ModalityNets", "activation", "check_spec"]


def check_spec(cfg: ModalityConfig) -> None:
    """The data-side fields of one modality agree with each other (kind, shape, classes, likelihood)."""
    name = cfg.name
    if cfg.kind not in KINDS:
        raise ValueError(f"modality {name!r}: unknown kind {cfg.kind!r}; expected one of {KINDS}")
    shape = tuple(cfg.shape)
    if any(not isinstance(d, int) or d < 1 for d in shape):
        raise ValueError(f"modality {name!r}: shape {list(shape)} must hold positive sizes")
    if cfg.kind == "label":
        if cfg.num_classes < 2 or shape != ():
            raise ValueError(f"modality {name!r}: a label needs shape [] and num_classes >= 2")
    if cfg.kind == "tokens" and (cfg.num_classes < 2 or len(shape) != 1):
        raise ValueError(f"modality {name!r}: tokens need shape [T] and num_classes (the vocabulary size) >= 2")
    if cfg.kind == "timeseries" and len(shape) != 2:
        raise ValueError(f"modality {name!r}: a time series needs shape [T, C], got {list(shape)}")
    if cfg.kind == "image" and len(shape) not in (2, 3):
        raise ValueError(f"modality {name!r}: an image needs shape [H, W] or [C, H, W], got {list(shape)}")
    if cfg.kind in INTEGER_KINDS and cfg.likelihood != "categorical":
        raise ValueError(f"modality {name!r}: a {cfg.kind} modality needs the categorical likelihood")
    if cfg.kind not in INTEGER_KINDS and cfg.likelihood == "categorical":
        raise ValueError(f"modality {name!r}: the categorical likelihood needs a label or tokens modality")
    if cfg.pad_index is not None and (cfg.kind != "tokens" or not 0 <= cfg.pad_index < cfg.num_classes):
        raise ValueError(f"modality {name!r}: pad_index needs a tokens modality and an index below num_classes")


@contextlib.contextmanager
def activation_floats(module: nn.Module) -> Iterator[list[int]]:
    """Within the block, [n]: the floats per item that `module`'s leaf layers output on a 2-item run.

    It is what one decoded item holds in activations, which sizes the evaluation's memory-bounded chunks.
    """
    floats = [0]

    def count(_m: nn.Module, _i: object, out: object) -> None:
        if isinstance(out, Tensor):
            floats[0] += out.numel() // 2

    hooks = [m.register_forward_hook(count) for m in module.modules() if not list(m.children())]
    try:
        yield floats
    finally:
        for h in hooks:
            h.remove()


class ModalityNets(nn.Module):
    """Encoder x -> embedding (B, E), decoder z -> likelihood parameters, and the likelihood."""

    def __init__(self, cfg: ModalityConfig, latent_dim: int, act: str, decoder_act: str | None = None) -> None:
        super().__init__()
        check_spec(cfg)
        self.cfg = cfg
        self.event_shape = tuple(cfg.shape)
        self.likelihood: Likelihood = make_likelihood(cfg.likelihood, len(self.event_shape), cfg.likelihood_scale)
        self.param_shape = self.likelihood.param_shape(self.event_shape, cfg.num_classes)
        enc_ctx = NetworkContext(cfg, latent_dim, self.param_shape, act)
        dec_ctx = NetworkContext(cfg, latent_dim, self.param_shape, decoder_act or act)
        enc_name, enc_opts = (cfg.network, cfg.network_options) if cfg.encoder is None else (cfg.encoder, {})
        dec_name, dec_opts = (cfg.network, cfg.network_options) if cfg.decoder is None else (cfg.decoder, {})
        self.encoder = build(enc_name, "encoder", enc_ctx, {**enc_opts, **cfg.encoder_options})
        self.decoder = build(dec_name, "decoder", dec_ctx, {**dec_opts, **cfg.decoder_options})
        self.networks = (enc_name, dec_name)
        self._embed_dim = self._dry_run(latent_dim)

    def _dry_run(self, latent_dim: int) -> int:
        """Run both networks on two zero items in eval mode: the embedding size, and a named error on a bad shape."""
        modes = [m.training for m in self.modules()]
        self.eval()
        name, (enc, dec) = self.cfg.name, self.networks
        try:
            with torch.no_grad(), activation_floats(self.decoder) as floats:
                e = self.encoder(torch.zeros(2, *self.event_shape, dtype=self.data_dtype()))
                p = self.decoder(torch.zeros(2, latent_dim))
        except (RuntimeError, ValueError, TypeError, IndexError) as err:
            raise NetworkError(
                f"modality {name!r}: networks {enc!r} / {dec!r} cannot take items of shape {list(self.event_shape)} "
                f"or a latent of size {latent_dim}: {err}"
            ) from None
        finally:
            for m, mode in zip(self.modules(), modes, strict=True):
                m.training = mode
        if not isinstance(e, Tensor) or e.dim() != 2 or e.shape[0] != 2:
            got = tuple(e.shape) if isinstance(e, Tensor) else type(e).__name__
            raise NetworkError(f"modality {name!r}: encoder {enc!r} must map (B, *event) to (B, E), got {got} for B=2")
        if not isinstance(p, Tensor) or p.shape[0] != 2 or math.prod(p.shape[1:]) != math.prod(self.param_shape):
            got = tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__
            raise NetworkError(
                f"modality {name!r}: decoder {dec!r} must map (N, {latent_dim}) to (N, *{self.param_shape}) "
                f"for the {self.cfg.likelihood} likelihood, got {got} for N=2"
            )
        # floats of decoder activations per decoded item: what sizes the evaluation's memory-bounded chunks
        self.decoder_floats = max(floats[0], math.prod(self.param_shape))
        return int(e.shape[1])

    @property
    def embed_dim(self) -> int:
        return self._embed_dim

    def encode(self, x: Tensor, encoder: nn.Module | None = None) -> Tensor:
        """The embedding (B, E) of x by this modality's encoder, or by `encoder`, a copy of it (own features)."""
        encoder = self.encoder if encoder is None else encoder
        if self.cfg.kind in INTEGER_KINDS:
            x = x.long()
        if self.cfg.kind == "label" and x.numel() > self.cfg.num_classes:
            # a label has num_classes possible inputs: encode each once and look the batch up
            # (exact, gradients included; 128 rows of MLP become 10)
            table = encoder(torch.arange(self.cfg.num_classes, device=x.device))
            return table[x]
        return encoder(x)

    def null_embedding(self) -> Tensor:
        """The embedding (E,) of an all-zero input: what a zero-filled missing modality contributes (JMVAE-Zero).

        For a label it is the embedding of an all-zero one-hot vector, which the encoder must provide
        as `null_embedding()` (the `mlp` label encoder does).
        """
        if hasattr(self.encoder, "null_embedding"):
            return self.encoder.null_embedding()
        if self.cfg.kind == "label":
            raise NetworkError(
                f"modality {self.cfg.name!r}: zero-filling a label needs an encoder with null_embedding() "
                f"(the embedding of an all-zero one-hot input); {self.networks[0]!r} has none"
            )
        device = next(self.parameters()).device
        return self.encoder(torch.zeros(1, *self.event_shape, dtype=self.data_dtype(), device=device))[0]

    def decode(self, z: Tensor) -> Tensor:
        """Decoder output with z's leading shape kept: (*lead, *param_shape), in float32.

        Every leading dimension is flattened into one batch for the decoder and restored after.
        Under bf16/fp16 autocast the layers run in low precision; the likelihood parameters
        are returned in float32 so log-densities are summed in full precision.
        """
        lead = z.shape[:-1]
        out = full_precision(self.decoder(z.reshape(-1, z.shape[-1])))
        return out.reshape(*lead, *self.param_shape)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        return self.likelihood.log_prob(params, x)

    def mean(self, params: Tensor) -> Tensor:
        return self.likelihood.mean(params)

    def data_dtype(self) -> torch.dtype:
        return torch.long if self.cfg.kind in INTEGER_KINDS else torch.float32
