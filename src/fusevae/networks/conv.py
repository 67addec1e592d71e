"""`conv`: convolutional image encoders and decoders for square 28, 32 and 64 pixel images, any channel count.

28 px follows the PolyMNIST networks of Sutter et al. 2021 (MoPoE): three stride-2 3x3 convolutions,
28 -> 14 -> 7 -> 4, widths 32-64-128 by default, mirrored by transposed convolutions in the decoder.
32 and 64 px follow DCGAN (Radford et al. 2016): stride-2 4x4 convolutions halving the size down to
4x4 while the width doubles, mirrored by stride-2 4x4 transposed convolutions.

Options (shared by encoder and decoder through `network_options`):
    width (int, 32): channels of the first convolution; each stride-2 layer doubles them.
    embed_dim (int, 512): the encoder's output size E (the decoder ignores it).
    activation (str | None, None): hidden activation; None takes the model's `activation`.
    batch_norm (bool, False): BatchNorm after every hidden convolution but the encoder's first (as in
        DCGAN). Off by default: batch statistics couple the items of a batch, and a VAE's batches mix
        K samples, subsets and zero-filled stand-ins.
    channels_last (bool, False): run the convolutions on channels-last (NHWC) tensors, which some
        backends convolve faster (bench/perf.py --conv measures it); outputs keep the usual layout.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from . import layers
from .registry import NetworkContext, register_network

SIZES = (28, 32, 64)
GRID = 4  # the encoder's last feature map is GRID x GRID at every size


def _image_geometry(ctx: NetworkContext) -> tuple[int, int]:
    """(channels, pixels) of an image modality, or a ValueError naming what the conv networks cannot take."""
    spec = ctx.spec
    if spec.kind != "image":
        raise ValueError(f"conv networks take image modalities; got kind {spec.kind!r} with shape {list(spec.shape)}")
    shape = tuple(spec.shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        raise ValueError(f"conv networks take images of shape [C, H, W] or [H, W]; got {list(spec.shape)}")
    c, h, w = shape
    if h != w or h not in SIZES:
        raise ValueError(f"conv networks take 28, 32 or 64 pixel square images; got {h}x{w} (shape {list(spec.shape)})")
    return c, h


def _options(ctx: NetworkContext, options: dict, role: str) -> tuple[int, int, str, bool, bool]:
    """Check and return (width, embed_dim, activation, batch_norm, channels_last); unknown names raise ValueError."""
    channels_last = options.pop("channels_last", False)
    if not isinstance(channels_last, bool):
        raise ValueError(f"conv option channels_last must be true or false, got {channels_last!r}")
    width = options.pop("width", 32)
    embed_dim = options.pop("embed_dim", 512)
    act = options.pop("activation", None) or ctx.activation
    batch_norm = options.pop("batch_norm", False)
    if options:
        raise ValueError(
            f"unknown conv {role} option(s) {sorted(options)}; known: activation, batch_norm, channels_last, "
            "embed_dim, width"
        )
    for key, value in (("width", width), ("embed_dim", embed_dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"conv option {key} must be a positive integer, got {value!r}")
    if not isinstance(batch_norm, bool):
        raise ValueError(f"conv option batch_norm must be true or false, got {batch_norm!r}")
    layers.activation(act)  # an unknown name fails here, at build time
    return width, embed_dim, act, batch_norm, channels_last


def _memory_format(module: nn.Module, channels_last: bool) -> nn.Module:
    """The module with its convolution weights channels-last when asked (its forward converts the input too)."""
    module.channels_last = channels_last
    return module.to(memory_format=torch.channels_last) if channels_last else module


def _plan(pixels: int, width: int) -> tuple[list[int], int, list[int]]:
    """Channel widths per stride-2 stage (narrowest first), the kernel size, and the decoder's output paddings.

    28 px (MoPoE): 3x3 kernels, 28 -> 14 -> 7 -> 4; going back, 4 -> 7 -> 14 -> 28 needs output paddings 0, 1, 1.
    32 / 64 px (DCGAN): 4x4 kernels (padding 1) halve and double the size exactly, down to 4x4.
    Every plan ends on a 4x4 grid (`GRID`).
    """
    if pixels == 28:
        return [width, 2 * width, 4 * width], 3, [0, 1, 1]
    stages = int(math.log2(pixels // GRID))  # 32 -> 3 stages, 64 -> 4
    return [width * 2**i for i in range(stages)], 4, [0] * stages


class ConvEncoder(nn.Module):
    """Image (B, C, H, W) or (B, H, W) -> stride-2 convolutions -> flatten -> Linear -> (B, embed_dim)."""

    def __init__(self, channels: int, pixels: int, width: int, embed_dim: int, act: str, batch_norm: bool) -> None:
        super().__init__()
        widths, kernel, _ = _plan(pixels, width)
        seq: list[nn.Module] = []
        prev = channels
        for i, w in enumerate(widths):
            seq.append(nn.Conv2d(prev, w, kernel, stride=2, padding=1, bias=not (batch_norm and i > 0)))
            if batch_norm and i > 0:
                seq.append(nn.BatchNorm2d(w))
            seq.append(layers.activation(act))
            prev = w
        self.channels = channels
        self.body = nn.Sequential(*seq)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(prev * GRID * GRID, embed_dim), layers.activation(act))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 3:  # an [H, W] modality: one channel
            x = x.unsqueeze(1)
        if getattr(self, "channels_last", False):
            x = x.contiguous(memory_format=torch.channels_last)
        return self.head(self.body(x))


class ConvDecoder(nn.Module):
    """z (N, D) -> Linear -> a 4x4 grid -> stride-2 transposed convolutions -> (N, *param_shape).

    The last layer emits P * C channels, P the likelihood parameters per pixel (2 for a learned scale),
    laid out as (P, C, H, W) to match the likelihood's (2, *event) convention.
    """

    def __init__(
        self,
        latent_dim: int,
        channels: int,
        pixels: int,
        param_shape: tuple[int, ...],
        width: int,
        act: str,
        batch_norm: bool,
    ) -> None:
        super().__init__()
        widths, kernel, out_pad = _plan(pixels, width)
        widths = widths[::-1]  # widest first
        per_pixel = math.prod(param_shape) // (channels * pixels * pixels)
        self.param_shape = param_shape
        self.grid = (widths[0], GRID, GRID)
        self.stem = nn.Sequential(nn.Linear(latent_dim, widths[0] * GRID * GRID), layers.activation(act))
        seq: list[nn.Module] = []
        outs = [*widths[1:], per_pixel * channels]
        for i, (w_in, w_out) in enumerate(zip(widths, outs)):
            last = i == len(widths) - 1
            seq.append(
                nn.ConvTranspose2d(
                    w_in,
                    w_out,
                    kernel,
                    stride=2,
                    padding=1,
                    output_padding=out_pad[i],
                    bias=last or not batch_norm,
                )
            )
            if not last:
                if batch_norm:
                    seq.append(nn.BatchNorm2d(w_out))
                seq.append(layers.activation(act))
        self.body = nn.Sequential(*seq)

    def forward(self, z: Tensor) -> Tensor:
        h = self.stem(z).reshape(z.shape[0], *self.grid)
        if getattr(self, "channels_last", False):
            h = h.contiguous(memory_format=torch.channels_last)
        return self.body(h).contiguous().reshape(z.shape[0], *self.param_shape)


def _check_param_shape(ctx: NetworkContext) -> None:
    """The decoder's output must be the event shape, or P copies of it (P parameters per pixel)."""
    event = tuple(ctx.spec.shape)
    if ctx.param_shape != event and ctx.param_shape[1:] != event:
        raise ValueError(
            f"conv decoders emit the image shape {list(event)} or P x that shape; the likelihood wants "
            f"{list(ctx.param_shape)}"
        )


def conv_encoder(ctx: NetworkContext, **options: object) -> nn.Module:
    """Convolutional image encoder (MoPoE PolyMNIST style at 28 px, DCGAN style at 32 / 64 px)."""
    channels, pixels = _image_geometry(ctx)
    width, embed_dim, act, batch_norm, last = _options(ctx, dict(options), "encoder")
    return _memory_format(ConvEncoder(channels, pixels, width, embed_dim, act, batch_norm), last)


def conv_decoder(ctx: NetworkContext, **options: object) -> nn.Module:
    """Transposed-convolution image decoder mirroring `conv_encoder`, emitting the likelihood's parameters."""
    channels, pixels = _image_geometry(ctx)
    width, _embed_dim, act, batch_norm, last = _options(ctx, dict(options), "decoder")
    _check_param_shape(ctx)
    return _memory_format(ConvDecoder(ctx.latent_dim, channels, pixels, ctx.param_shape, width, act, batch_norm), last)


register_network(
    "conv",
    conv_encoder,
    conv_decoder,
    "convolutional images, square 28 / 32 / 64 px, any channels (width, embed_dim, activation, batch_norm)",
)
