"""`mlp`: fully connected encoders and decoders (MVAE's MNIST networks are mlp with 512-unit layers)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from . import layers
from .registry import NetworkContext, register_network


def mlp(sizes: list[int], act: str, final_act: bool) -> nn.Sequential:
    seq: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        seq.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or final_act:
            seq.append(layers.activation(act))
    return nn.Sequential(*seq)


class LabelEncoder(nn.Sequential):
    """A class index through a lookup table (the one-hot input's first layer), then the MLP."""

    def __init__(self, num_classes: int, hidden: list[int], act: str) -> None:
        super().__init__(nn.Embedding(num_classes, hidden[0]), layers.activation(act), *mlp(hidden, act, True))

    def null_embedding(self) -> Tensor:
        """The embedding of an all-zero one-hot vector: the layers after the table on a zero row (JMVAE-Zero)."""
        table = self[0]
        h = torch.zeros(1, table.embedding_dim, device=table.weight.device)
        for layer in list(self)[1:]:  # slicing would rebuild this class
            h = layer(h)
        return h[0]


class TokenMLPEncoder(nn.Module):
    """Tokens (B, T) -> an embedding per token, flattened, then the MLP."""

    def __init__(self, vocab: int, length: int, hidden: list[int], act: str, token_dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab, token_dim)
        self.body = mlp([length * token_dim, *hidden], act, True)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(self.table(x).flatten(1))


def _hidden(ctx: NetworkContext, key: str, options: dict) -> list[int]:
    sizes = list(options.pop(key, getattr(ctx.spec, key)))
    if not sizes or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"{key} must be a non-empty list of positive widths, got {sizes}")
    return sizes


def mlp_encoder(
    ctx: NetworkContext, activation: str | None = None, token_dim: int = 32, **options: object
) -> nn.Module:
    """Flatten + MLP (encoder_hidden); a label or token input first goes through a lookup table."""
    hidden = _hidden(ctx, "encoder_hidden", options)
    if options:
        raise ValueError(f"unknown mlp option(s) {sorted(options)}")
    act = activation or ctx.activation
    spec = ctx.spec
    if spec.kind == "label":
        return LabelEncoder(spec.num_classes, hidden, act)
    if spec.kind == "tokens":
        return TokenMLPEncoder(spec.num_classes, ctx.event_shape[0], hidden, act, token_dim)
    return nn.Sequential(nn.Flatten(), mlp([math.prod(ctx.event_shape), *hidden], act, True))


def mlp_decoder(ctx: NetworkContext, activation: str | None = None, **options: object) -> nn.Module:
    """z -> MLP (decoder_hidden) -> the likelihood's parameters, flat (the library reshapes them)."""
    hidden = _hidden(ctx, "decoder_hidden", options)
    options.pop("token_dim", None)  # an encoder option shared through network_options
    if options:
        raise ValueError(f"unknown mlp option(s) {sorted(options)}")
    return mlp([ctx.latent_dim, *hidden, math.prod(ctx.param_shape)], activation or ctx.activation, False)


register_network("mlp", mlp_encoder, mlp_decoder, "fully connected layers (encoder_hidden / decoder_hidden)")
