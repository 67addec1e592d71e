"""`sequence`: encoders and decoders for token sequences (kind "tokens", [T]) and time series ("timeseries", [T, C]).

Two bodies, chosen by `arch`:
    "conv": a stack of same-length 1-D convolutions over time (the temporal CNN of text encoders,
        Kim 2014, with a masked mean in place of max-over-time pooling);
    "transformer": pre-LayerNorm `nn.TransformerEncoder` layers (Vaswani et al. 2017) on learned
        positional embeddings.

Encoder: tokens through an embedding table (time-series channels through a Linear) to `hidden`
features, plus a learned positional embedding, then the body, then a mean over the positions that are
not padding, then Linear -> `embed_dim`. With `pad_index` set, padding positions contribute nothing:
the conv body zeroes them before every convolution, the transformer masks them as keys, and the
pooling skips them, so the embedding does not depend on what they hold.
Decoder: z -> per-position features (conv: a Linear to a T x hidden grid; transformer: learned
positional queries plus a projection of z added to every position) -> the body -> a Linear per
position to the likelihood's parameters: (T, V) logits for tokens, (T, C) or (2, T, C) for a series.

Options (shared by encoder and decoder through `network_options`):
    arch (str, "conv"): "conv" or "transformer".
    hidden (int, 128): feature width of every position.
    embed_dim (int, 256): the encoder's output size E (the decoder ignores it).
    layers (int, 2): convolutions or transformer layers, in the encoder and in the decoder.
    heads (int, 4): transformer attention heads (must divide `hidden`).
    kernel_size (int, 5): conv kernel over time (odd, so a layer keeps the length).
    token_dim (int, 64): width of the token embedding table (tokens only; a series ignores it).
    activation (str | None, None): hidden activation; None takes the model's `activation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import layers
from .registry import NetworkContext, register_network

ARCHS = ("conv", "transformer")
KNOWN = ("activation", "arch", "embed_dim", "heads", "hidden", "kernel_size", "layers", "token_dim")


@dataclass(frozen=True)
class SequenceOptions:
    arch: str = "conv"
    hidden: int = 128
    embed_dim: int = 256
    layers: int = 2
    heads: int = 4
    kernel_size: int = 5
    token_dim: int = 64
    activation: str = "relu"


def _options(ctx: NetworkContext, options: dict[str, object]) -> SequenceOptions:
    """Check the options against the modality; unknown names and bad values raise ValueError."""
    unknown = sorted(set(options) - set(KNOWN))
    if unknown:
        raise ValueError(f"unknown sequence option(s) {unknown}; known: {', '.join(KNOWN)}")
    spec = ctx.spec
    if spec.kind not in ("tokens", "timeseries"):
        raise ValueError(
            f"sequence networks take tokens ([T]) or timeseries ([T, C]) modalities; got kind {spec.kind!r} "
            f"with shape {list(spec.shape)}"
        )
    want = 1 if spec.kind == "tokens" else 2
    if len(spec.shape) != want:
        raise ValueError(f"a {spec.kind} modality needs {'[T]' if want == 1 else '[T, C]'}, got {list(spec.shape)}")
    values = dict(options)
    values["activation"] = values.get("activation") or ctx.activation
    opts = SequenceOptions(**values)
    if opts.arch not in ARCHS:
        raise ValueError(f"sequence option arch must be one of {ARCHS}, got {opts.arch!r}")
    for key in ("hidden", "embed_dim", "layers", "heads", "kernel_size", "token_dim"):
        value = getattr(opts, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"sequence option {key} must be a positive integer, got {value!r}")
    if opts.kernel_size % 2 == 0:
        raise ValueError(f"sequence option kernel_size must be odd (a layer keeps the length), got {opts.kernel_size}")
    if opts.arch == "transformer" and opts.hidden % opts.heads:
        raise ValueError(f"sequence option heads ({opts.heads}) must divide hidden ({opts.hidden})")
    layers.activation(opts.activation)  # an unknown name fails here, at build time
    return opts


class _ConvBody(nn.Module):
    """`layers` same-length Conv1d + activation over (B, T, H); masked positions are zeroed before each conv."""

    def __init__(self, opts: SequenceOptions) -> None:
        super().__init__()
        k = opts.kernel_size
        self.convs = nn.ModuleList(nn.Conv1d(opts.hidden, opts.hidden, k, padding=k // 2) for _ in range(opts.layers))
        self.act = layers.activation(opts.activation)

    def forward(self, h: Tensor, keep: Tensor | None = None) -> Tensor:
        h = h.transpose(1, 2)  # (B, H, T)
        mask = None if keep is None else keep.unsqueeze(1).to(h.dtype)
        for conv in self.convs:
            if mask is not None:
                h = h * mask
            h = self.act(conv(h))
        return h.transpose(1, 2)


class _TransformerBody(nn.Module):
    """`layers` pre-LN transformer layers over (B, T, H); masked positions are never attended to."""

    def __init__(self, opts: SequenceOptions) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            opts.hidden,
            opts.heads,
            dim_feedforward=2 * opts.hidden,
            dropout=0.0,
            activation=layers.activation(opts.activation),
            batch_first=True,
            norm_first=True,
        )
        self.body = nn.TransformerEncoder(
            layer, opts.layers, norm=nn.LayerNorm(opts.hidden), enable_nested_tensor=False
        )

    def forward(self, h: Tensor, keep: Tensor | None = None) -> Tensor:
        if keep is None:
            return self.body(h)
        # a row of nothing but padding would give attention no key at all (NaN): let it attend everywhere;
        # the pooling skips its positions anyway
        empty = ~keep.any(dim=1, keepdim=True)
        return self.body(h, src_key_padding_mask=~(keep | empty))


def _body(opts: SequenceOptions) -> nn.Module:
    return _ConvBody(opts) if opts.arch == "conv" else _TransformerBody(opts)


class SequenceEncoder(nn.Module):
    """Tokens (B, T) or a series (B, T, C) -> per-position features -> body -> masked mean -> (B, embed_dim)."""

    def __init__(self, ctx: NetworkContext, opts: SequenceOptions) -> None:
        super().__init__()
        spec = ctx.spec
        length = spec.shape[0]
        self.tokens = spec.kind == "tokens"
        self.pad_index = spec.pad_index if self.tokens else None
        if self.tokens:
            self.inputs: nn.Module = nn.Sequential(
                nn.Embedding(spec.num_classes, opts.token_dim), nn.Linear(opts.token_dim, opts.hidden)
            )
        else:
            self.inputs = nn.Linear(spec.shape[1], opts.hidden)
        self.position = nn.Parameter(torch.randn(length, opts.hidden) * 0.02)
        self.body = _body(opts)
        self.head = nn.Sequential(nn.Linear(opts.hidden, opts.embed_dim), layers.activation(opts.activation))

    def forward(self, x: Tensor, pad_mask: Tensor | None = None) -> Tensor:
        """`pad_mask` (B, T), True at padding, overrides the mask built from `pad_index` (x == pad_index)."""
        if pad_mask is None and self.pad_index is not None:
            pad_mask = x == self.pad_index
        keep = None if pad_mask is None else ~pad_mask.bool()
        h = self.inputs(x.long() if self.tokens else x) + self.position
        if keep is not None:
            h = h * keep.unsqueeze(-1).to(h.dtype)  # padding contributes nothing, whatever it holds
        h = self.body(h, keep)
        if keep is None:
            pooled = h.mean(dim=1)
        else:
            w = keep.unsqueeze(-1).to(h.dtype)
            pooled = (h * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)


class SequenceDecoder(nn.Module):
    """z (N, D) -> T positions of `hidden` features -> body -> Linear per position -> (N, *param_shape)."""

    def __init__(self, ctx: NetworkContext, opts: SequenceOptions) -> None:
        super().__init__()
        spec = ctx.spec
        length = spec.shape[0]
        self.param_shape = ctx.param_shape
        self.length, self.hidden = length, opts.hidden
        self.arch = opts.arch
        if spec.kind == "tokens":
            if ctx.param_shape != (length, spec.num_classes):
                raise ValueError(f"a tokens decoder emits (T, V) = {(length, spec.num_classes)}, not {ctx.param_shape}")
            self.per_step, self.series = spec.num_classes, False
        else:
            channels = spec.shape[1]
            if ctx.param_shape == (length, channels):
                self.params = 1
            elif len(ctx.param_shape) == 3 and ctx.param_shape[1:] == (length, channels):
                self.params = ctx.param_shape[0]
            else:
                raise ValueError(
                    f"a timeseries decoder emits (T, C) or (P, T, C) for T, C = {length}, {channels}; "
                    f"the likelihood wants {ctx.param_shape}"
                )
            self.per_step, self.series = self.params * channels, True
        act = layers.activation(opts.activation)
        if opts.arch == "conv":
            self.stem: nn.Module = nn.Sequential(nn.Linear(ctx.latent_dim, length * opts.hidden), act)
        else:
            self.stem = nn.Linear(ctx.latent_dim, opts.hidden)
            self.position = nn.Parameter(torch.randn(length, opts.hidden) * 0.02)
        self.body = _body(opts)
        self.out = nn.Linear(opts.hidden, self.per_step)

    def forward(self, z: Tensor) -> Tensor:
        n = z.shape[0]
        if self.arch == "conv":
            h = self.stem(z).reshape(n, self.length, self.hidden)
        else:
            h = self.stem(z).unsqueeze(1) + self.position  # z conditions every position
        out = self.out(self.body(h))  # (N, T, per_step)
        if self.series:
            # (N, T, P, C) -> (N, P, T, C): the likelihood's (P, *event) layout
            out = out.reshape(n, self.length, self.params, -1).transpose(1, 2)
        return out.reshape(n, *self.param_shape)


def sequence_encoder(ctx: NetworkContext, **options: object) -> nn.Module:
    """Token or time-series encoder: embedding + conv or transformer body, mean-pooled over non-padding positions."""
    return SequenceEncoder(ctx, _options(ctx, options))


def sequence_decoder(ctx: NetworkContext, **options: object) -> nn.Module:
    """Token logits (T, V) or time-series parameters ((T, C) or (2, T, C)) from z, by a conv or transformer body."""
    return SequenceDecoder(ctx, _options(ctx, options))


register_network(
    "sequence",
    sequence_encoder,
    sequence_decoder,
    "tokens [T] and time series [T, C]: 1-D conv or transformer (arch, hidden, embed_dim, layers, heads, "
    "kernel_size, token_dim, activation)",
)
