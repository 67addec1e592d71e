"""The `conv` and `sequence` network families: shapes through ModalityNets, errors, padding, a short training run."""

import pytest
import torch
import torch.nn.functional as F

import fusevae.networks.conv  # noqa: F401  (registers "conv")
import fusevae.networks.sequence  # noqa: F401  (registers "sequence")
from fusevae.config import ModalityConfig
from fusevae.modalities import ModalityNets
from fusevae.networks import NetworkError, registered_networks

D = 6  # latent size used throughout


def image_nets(shape, likelihood="bernoulli", **options):
    scale = None if likelihood == "gaussian" else 1.0
    opts = {"width": 8, "embed_dim": 16, **options}
    cfg = ModalityConfig("img", "image", shape, likelihood=likelihood, likelihood_scale=scale, network="conv")
    cfg.network_options = opts
    return ModalityNets(cfg, D, "relu")


def token_nets(arch, length=7, vocab=11, pad_index=0, **options):
    opts = {"arch": arch, "hidden": 16, "embed_dim": 12, "layers": 2, "heads": 2, "token_dim": 8, **options}
    cfg = ModalityConfig(
        "text",
        "tokens",
        [length],
        num_classes=vocab,
        likelihood="categorical",
        network="sequence",
        network_options=opts,
        pad_index=pad_index,
    )
    return ModalityNets(cfg, D, "relu")


def series_nets(arch, shape=(10, 3), scale=1.0, **options):
    opts = {"arch": arch, "hidden": 16, "embed_dim": 12, "layers": 2, "heads": 2, **options}
    cfg = ModalityConfig(
        "ts", "timeseries", list(shape), likelihood="gaussian", likelihood_scale=scale, network="sequence"
    )
    cfg.network_options = opts
    return ModalityNets(cfg, D, "relu")


def test_families_are_registered():
    families = registered_networks()
    assert "conv" in families and "sequence" in families
    assert families["conv"].encoder is not None and families["conv"].decoder is not None


# --- conv ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pixels", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_conv_shapes(pixels, channels, likelihood):
    shape = [channels, pixels, pixels]
    nets = image_nets(shape, likelihood)
    assert nets.embed_dim == 16
    params_per_pixel = 2 if likelihood == "gaussian" else 1
    expected = (params_per_pixel, *shape) if params_per_pixel == 2 else tuple(shape)
    assert nets.param_shape == expected
    x = torch.rand(4, *shape)
    assert nets.encode(x).shape == (4, 16)
    z = torch.randn(3, 4, D)  # K samples in front of the batch
    params = nets.decode(z)
    assert params.shape == (3, 4, *expected)
    logp = nets.log_prob(params, x)
    assert logp.shape == (3, 4) and torch.isfinite(logp).all()
    # the encoder and decoder modules themselves keep the plain contract
    assert nets.encoder(x).shape == (4, 16)
    assert nets.decoder(z[0]).shape == (4, *expected)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_conv_two_dim_shape_is_one_channel(likelihood):
    """A depth map or radar grid given as [32, 32] is a one-channel image."""
    nets = image_nets([32, 32], likelihood)
    x = torch.rand(5, 32, 32)
    assert nets.encode(x).shape == (5, 16)
    params = nets.decode(torch.randn(2, 5, D))
    assert params.shape == ((2, 5, 2, 32, 32) if likelihood == "gaussian" else (2, 5, 32, 32))
    assert torch.isfinite(nets.log_prob(params, x)).all()


def test_conv_defaults_and_options():
    cfg = ModalityConfig("img", "image", [1, 28, 28], network="conv")
    nets = ModalityNets(cfg, D, "relu")
    assert nets.embed_dim == 512
    assert nets.encoder.body[0].out_channels == 32  # width 32 by default
    assert any(isinstance(m, torch.nn.ReLU) for m in nets.encoder.modules())  # the model's activation by default
    nets = image_nets([3, 64, 64], activation="tanh", batch_norm=True, width=4, embed_dim=10)
    assert nets.embed_dim == 10
    assert any(isinstance(m, torch.nn.Tanh) for m in nets.decoder.modules())
    assert not any(isinstance(m, torch.nn.ReLU) for m in nets.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in nets.encoder.modules()) == 3  # all but the first conv
    nets.train()  # batch norm in training mode on K x B flattened samples
    assert nets.decode(torch.randn(2, 3, D)).shape == (2, 3, 3, 64, 64)


def test_conv_encoder_and_decoder_options_apart():
    cfg = ModalityConfig(
        "img",
        "image",
        [1, 32, 32],
        network="conv",
        encoder_options={"embed_dim": 20, "width": 4},
        decoder_options={"width": 6},
    )
    nets = ModalityNets(cfg, D, "relu")
    assert nets.embed_dim == 20
    assert nets.decoder.body[-1].in_channels == 6


@pytest.mark.parametrize("shape", [[1, 30, 30], [30, 30], [3, 28, 32], [1, 16, 16]])
def test_conv_rejects_other_sizes(shape):
    with pytest.raises(NetworkError, match="28, 32 or 64 pixel square images") as err:
        image_nets(shape)
    assert f"{shape[-2]}x{shape[-1]}" in str(err.value)
    assert "'img'" in str(err.value)  # the registry names the modality
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    "cfg",
    [
        ModalityConfig("ts", "timeseries", [32, 3], likelihood="gaussian", network="conv"),
        ModalityConfig("vec", "vector", [32], likelihood="gaussian", network="conv"),
        ModalityConfig("text", "tokens", [8], num_classes=5, likelihood="categorical", network="conv"),
    ],
)
def test_conv_rejects_other_kinds(cfg):
    with pytest.raises(ValueError, match="conv networks take image modalities") as err:
        ModalityNets(cfg, D, "relu")
    assert cfg.kind in str(err.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"depth": 3}, "depth"),
        ({"width": 0}, "width"),
        ({"embed_dim": 2.5}, "embed_dim"),
        ({"batch_norm": "yes"}, "batch_norm"),
        ({"activation": "sigmoidish"}, "sigmoidish"),
    ],
)
def test_conv_rejects_bad_options(options, match):
    with pytest.raises(NetworkError, match=match):
        image_nets([1, 28, 28], **options)


# --- sequence: tokens ---------------------------------------------------------------------------------------------


def padded_tokens(batch=6, length=7, vocab=11, pad=0):
    """Random tokens in 1..vocab-1 with a random-length tail of padding (one row all padding, one without any)."""
    x = torch.randint(1, vocab, (batch, length))
    lengths = torch.randint(1, length, (batch,))
    lengths[0], lengths[1] = 0, length
    x[torch.arange(length) >= lengths[:, None]] = pad
    return x


@pytest.mark.parametrize("arch", ["conv", "transformer"])
def test_tokens_shapes_and_log_prob(arch):
    nets = token_nets(arch)
    assert nets.param_shape == (7, 11)
    x = padded_tokens()
    e = nets.encode(x)
    assert e.shape == (6, 12) and torch.isfinite(e).all()  # the all-padding row too
    params = nets.decode(torch.randn(4, 6, D))
    assert params.shape == (4, 6, 7, 11)
    logp = nets.log_prob(params, x)
    assert logp.shape == (4, 6) and torch.isfinite(logp).all()


@pytest.mark.parametrize("arch", ["conv", "transformer"])
@pytest.mark.parametrize("training", [False, True])
def test_tokens_masked_positions_contribute_nothing(arch, training):
    """With the mask built from pad_index, replacing what masked positions hold leaves the embedding unchanged."""
    nets = token_nets(arch)
    nets.train(training)
    enc = nets.encoder
    x = padded_tokens()
    pad_mask = x == 0
    base = enc(x)
    assert torch.allclose(enc(x, pad_mask), base)
    # other tokens at the masked positions, same mask
    noise = torch.randint(1, 11, x.shape)
    x2 = torch.where(pad_mask, noise, x)
    assert not torch.equal(x2, x)
    assert torch.allclose(enc(x2, pad_mask), base, atol=1e-6)
    # and the padding token's own embedding row does not matter either
    with torch.no_grad():
        enc.inputs[0].weight[0].normal_(0.0, 5.0)
    assert torch.allclose(enc(x), base, atol=1e-6)
    # the content of kept positions does matter
    x3 = x.clone()
    x3[1, 0] = 1 + (x3[1, 0] % 10)
    assert not torch.allclose(enc(x3), base, atol=1e-6)


@pytest.mark.parametrize("arch", ["conv", "transformer"])
def test_tokens_without_pad_index(arch):
    nets = token_nets(arch, pad_index=None)
    x = torch.randint(0, 11, (3, 7))
    assert nets.encode(x).shape == (3, 12)
    assert nets.null_embedding().shape == (12,)


@pytest.mark.parametrize("arch", ["conv", "transformer"])
def test_tokens_gradients_reach_every_parameter(arch):
    nets = token_nets(arch)
    x = padded_tokens()[1:]  # skip the all-padding row
    head = torch.nn.Linear(12, D)
    loss = -nets.log_prob(nets.decode(head(nets.encode(x))), x).mean()
    loss.backward()
    missing = [n for n, p in nets.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


# --- sequence: time series ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["conv", "transformer"])
@pytest.mark.parametrize("scale", [1.0, None])
def test_timeseries_shapes(arch, scale):
    nets = series_nets(arch, scale=scale)
    expected = (10, 3) if scale == 1.0 else (2, 10, 3)
    assert nets.param_shape == expected
    x = torch.randn(5, 10, 3)
    assert nets.encode(x).shape == (5, 12)
    params = nets.decode(torch.randn(2, 5, D))
    assert params.shape == (2, 5, *expected)
    logp = nets.log_prob(params, x)
    assert logp.shape == (2, 5) and torch.isfinite(logp).all()
    assert torch.allclose(nets.mean(params), params if scale == 1.0 else params[:, :, 0])


def test_timeseries_learned_scale_layout():
    """Channel c of the location at time t and its scale come from the same position's output (P, T, C layout)."""
    nets = series_nets("conv", shape=(4, 2), scale=None)
    dec = nets.decoder
    z = torch.randn(3, D)
    flat = dec.out(dec.body(dec.stem(z).reshape(3, 4, 16)))  # (N, T, P * C)
    params = dec(z)
    assert torch.allclose(params[:, 0], flat[..., :2]) and torch.allclose(params[:, 1], flat[..., 2:])


def test_sequence_defaults():
    cfg = ModalityConfig("ts", "timeseries", [20, 1], likelihood="gaussian", network="sequence")
    nets = ModalityNets(cfg, D, "tanh")
    assert nets.embed_dim == 256
    assert any(isinstance(m, torch.nn.Conv1d) for m in nets.encoder.modules())  # arch conv by default
    assert any(isinstance(m, torch.nn.Tanh) for m in nets.encoder.modules())


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: token_nets("conv", depth=2), "depth"),
        (lambda: token_nets("lstm"), "lstm"),
        (lambda: token_nets("transformer", hidden=10, heads=4), "divide"),
        (lambda: token_nets("conv", kernel_size=4), "odd"),
        (lambda: series_nets("conv", layers=0), "layers"),
        (lambda: series_nets("conv", hidden="wide"), "hidden"),
    ],
)
def test_sequence_rejects_bad_options(make, match):
    with pytest.raises(NetworkError, match=match):
        make()


@pytest.mark.parametrize(
    "cfg",
    [
        ModalityConfig("img", "image", [1, 28, 28], network="sequence"),
        ModalityConfig("vec", "vector", [12], likelihood="gaussian", network="sequence"),
        ModalityConfig("y", "label", [], num_classes=3, likelihood="categorical", network="sequence"),
    ],
)
def test_sequence_rejects_other_kinds(cfg):
    with pytest.raises(ValueError, match="sequence networks take tokens") as err:
        ModalityNets(cfg, D, "relu")
    assert cfg.kind in str(err.value)


# --- a short training run -----------------------------------------------------------------------------------------


def blurred_squares(n=64, size=28):
    """Binary-ish images: a random bright square per image, softened by a small blur."""
    g = torch.Generator().manual_seed(1)
    x = torch.zeros(n, 1, size, size)
    for i in range(n):
        s = int(torch.randint(6, 14, (1,), generator=g))
        r, c = (int(v) for v in torch.randint(0, size - s, (2,), generator=g))
        x[i, 0, r : r + s, c : c + s] = 1.0
    return F.avg_pool2d(x, 3, stride=1, padding=1).clamp(0, 1)


def test_conv_elbo_decreases():
    torch.manual_seed(0)
    x = blurred_squares()
    nets = image_nets([1, 28, 28], width=8, embed_dim=32)
    head = torch.nn.Linear(32, 2 * D)
    opt = torch.optim.Adam([*nets.parameters(), *head.parameters()], lr=1e-2)
    losses = []
    for _ in range(30):
        mu, logvar = head(nets.encode(x)).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        rec = nets.log_prob(nets.decode(z), x)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
        loss = (kl - rec).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.7 * first, losses
