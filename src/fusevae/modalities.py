"""Per-modality networks: an embedding encoder, a decoder and a likelihood, built from config."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import ModalityConfig
from .distributions import full_precision
from .likelihoods import Likelihood, make_likelihood

ACTIVATIONS: dict[str, type[nn.Module]] = {"swish": nn.SiLU, "relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh}
KINDS = ("image", "label", "vector")


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(sizes: list[int], act: str, final_act: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or final_act:
            layers.append(activation(act))
    return nn.Sequential(*layers)


class ModalityNets(nn.Module):
    """Encoder x -> embedding (B, E), decoder z -> likelihood parameters, and the likelihood."""

    def __init__(self, cfg: ModalityConfig, latent_dim: int, act: str, decoder_act: str | None = None) -> None:
        super().__init__()
        if cfg.kind not in KINDS:
            raise ValueError(f"modality {cfg.name!r}: unknown kind {cfg.kind!r}; expected one of {KINDS}")
        if not cfg.encoder_hidden or not cfg.decoder_hidden:
            raise ValueError(f"modality {cfg.name!r}: encoder_hidden and decoder_hidden must be non-empty")
        self.cfg = cfg
        self.event_shape = tuple(cfg.shape)
        if cfg.kind == "label":
            if cfg.num_classes < 2 or self.event_shape != ():
                raise ValueError(f"modality {cfg.name!r}: a label needs shape [] and num_classes >= 2")
            if cfg.likelihood != "categorical":
                raise ValueError(f"modality {cfg.name!r}: a label needs the categorical likelihood")
            # label embedding 10-512-512: a lookup table, then the MLP
            h = cfg.encoder_hidden
            self.encoder = nn.Sequential(nn.Embedding(cfg.num_classes, h[0]), activation(act), *mlp(h, act, True))
        else:
            d_in = math.prod(self.event_shape)
            self.encoder = nn.Sequential(nn.Flatten(), mlp([d_in, *cfg.encoder_hidden], act, True))
        self.likelihood: Likelihood = make_likelihood(cfg.likelihood, len(self.event_shape), cfg.likelihood_scale)
        self.param_shape = self.likelihood.param_shape(self.event_shape, cfg.num_classes)
        self.decoder = mlp([latent_dim, *cfg.decoder_hidden, math.prod(self.param_shape)], decoder_act or act, False)

    @property
    def embed_dim(self) -> int:
        return self.cfg.encoder_hidden[-1]

    def encode(self, x: Tensor) -> Tensor:
        if self.cfg.kind == "label":
            x = x.long()
            if x.numel() > self.cfg.num_classes:
                # a label has num_classes possible inputs: encode each once and look the batch up
                # (exact, gradients included; 128 rows of MLP become 10)
                table = self.encoder(torch.arange(self.cfg.num_classes, device=x.device))
                return table[x]
            return self.encoder(x)
        return self.encoder(x)

    def null_embedding(self) -> Tensor:
        """The embedding (E,) of an all-zero input: what a zero-filled missing modality contributes (JMVAE-Zero).

        For a label it is the embedding of an all-zero one-hot vector: the layers after the lookup table
        applied to a zero row.
        """
        device = next(self.parameters()).device
        if self.cfg.kind == "label":
            return self.encoder[1:](torch.zeros(1, self.cfg.encoder_hidden[0], device=device))[0]
        return self.encoder(torch.zeros(1, *self.event_shape, device=device))[0]

    def decode(self, z: Tensor) -> Tensor:
        """Decoder output with z's leading shape kept: (*lead, *param_shape), in float32.

        Under bf16/fp16 autocast the layers run in low precision; the likelihood parameters
        are returned in float32 so log-densities are summed in full precision.
        """
        out = full_precision(self.decoder(z))
        return out.reshape(*z.shape[:-1], *self.param_shape)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        return self.likelihood.log_prob(params, x)

    def mean(self, params: Tensor) -> Tensor:
        return self.likelihood.mean(params)

    def data_dtype(self) -> torch.dtype:
        return torch.long if self.cfg.kind == "label" else torch.float32
