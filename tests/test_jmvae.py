"""Subset encoders and JMVAE-kl: one head per needed subset, the KL-tied objective, a short real run."""

import pytest
import torch

from fusevae import api
from fusevae.checkpoint import load_model
from fusevae.config import FusionConfig
from fusevae.distributions import DiagGaussian
from fusevae.fusion.subset_encoders import SubsetEncoders, needed_subsets
from fusevae.model import MultimodalVAE
from fusevae.objectives import make_objective
from fusevae.objectives.jmvae import kl_diag_gaussians
from fusevae.subsets import nonempty_subsets

from .conftest import small_config
from .test_training import SMALL, _test_bound


def test_needed_subsets_are_all_or_the_joint_and_singles():
    assert len(needed_subsets(4, "all")) == 15
    assert needed_subsets(2, "jmvae") == needed_subsets(2, "all") == [(0,), (1,), (0, 1)]
    assert needed_subsets(3, "jmvae") == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]
    assert needed_subsets(4, "jmvae") == [
        (0,),
        (1,),
        (2,),
        (3,),
        (0, 1, 2),
        (0, 1, 3),
        (0, 2, 3),
        (1, 2, 3),
        (0, 1, 2, 3),
    ]
    assert needed_subsets(1, "jmvae") == [(0,)]
    with pytest.raises(ValueError, match="fusion.subsets"):
        needed_subsets(2, "pairs")


def test_each_row_is_encoded_by_the_head_of_its_own_subset():
    torch.manual_seed(0)
    fusion = SubsetEncoders(("a", "b", "c"), 6, 3, "all", -8.0, 4.0)
    e = torch.randn(8, 3, 6)
    table = nonempty_subsets(3)
    mask = torch.cat([table, torch.zeros(1, 3, dtype=torch.bool)])  # every subset, then an empty row
    q = fusion(e, mask)
    for i, row in enumerate(table.tolist()):
        s = [j for j, on in enumerate(row) if on]
        key = "+".join("abc"[j] for j in s)
        mu, _ = fusion.heads[key](e[i, s].flatten()).chunk(2)
        assert torch.allclose(q.mu[i], mu, atol=1e-6), key
    assert torch.equal(q.mu[7], torch.zeros(3)) and torch.equal(q.logvar[7], torch.zeros(3))  # the prior
    # separate networks: the same features under two subsets give different posteriors
    assert not torch.allclose(q.mu[0], fusion(e[:1], torch.tensor([[True, True, False]])).mu[0])


@pytest.mark.parametrize(
    "hidden,widths", [((), [(12, 4)]), ((64,), [(12, 64), (64, 4)]), ((5, 7), [(12, 5), (5, 7), (7, 4)])]
)
def test_each_subset_head_has_the_configured_hidden_widths(hidden, widths):
    """head_hidden=[] is a linear map from the concatenated features (JMVAE's and MultiVae's encoders end in one)."""
    fusion = SubsetEncoders(("a", "b"), 6, 2, "all", -8.0, 4.0, hidden)
    linears = [(m.in_features, m.out_features) for m in fusion.heads["a+b"] if isinstance(m, torch.nn.Linear)]
    assert linears == widths
    assert fusion(torch.randn(3, 2, 6), torch.ones(3, 2, dtype=torch.bool)).mu.shape == (3, 2)


def test_single_modality_heads_can_have_their_own_widths():
    fusion = SubsetEncoders(("a", "b"), 6, 2, "all", -8.0, 4.0, (), (5,))
    widths = {k: [m.out_features for m in h if isinstance(m, torch.nn.Linear)] for k, h in fusion.heads.items()}
    assert widths == {"a": [5, 4], "b": [5, 4], "a+b": [4]}


def test_a_subset_without_an_encoder_is_an_error_naming_it():
    fusion = SubsetEncoders(("a", "b", "c", "d"), 4, 2, "jmvae", -8.0, 4.0)
    with pytest.raises(ValueError, match="no encoder for the subset 'a\\+c'"):
        fusion(torch.randn(2, 4, 4), torch.tensor([[True, False, False, False], [True, False, True, False]]))


def test_kl_of_diagonal_gaussians_matches_monte_carlo():
    torch.manual_seed(1)
    p = DiagGaussian(torch.randn(4), torch.randn(4) * 0.3)
    q = DiagGaussian(torch.randn(4), torch.randn(4) * 0.3)
    z = p.rsample(200_000)
    mc = (p.log_prob(z) - q.log_prob(z)).mean()
    assert float(kl_diag_gaussians(p, q)) == pytest.approx(float(mc), abs=0.03)
    assert float(kl_diag_gaussians(p, p)) == pytest.approx(0.0, abs=1e-6)


def test_the_jmvae_loss_is_the_joint_elbo_minus_alpha_times_the_single_kls(mnist):
    cfg = small_config()
    cfg.fusion = FusionConfig(kind="subset_encoders", subsets="jmvae")
    model = MultimodalVAE(cfg)
    batch = mnist.test[torch.arange(16)]
    batch.mask[:4, 1] = False  # four items lack their label
    obj_cfg = api.make_config("jmvae", "mnist").objective
    obj_cfg.warmup_epochs = obj_cfg.warmup_fraction = 0.0
    objective = make_objective(obj_cfg, model)
    torch.manual_seed(3)
    out = objective(model, batch, epoch=1.0)
    torch.manual_seed(3)
    encoded = model.encode(batch)
    joint = objective.subset_bound(model, encoded, batch, batch.mask.unsqueeze(0), batch.mask.unsqueeze(0), 1.0)
    kl = torch.zeros(16)
    for m in range(2):
        alone = torch.zeros_like(batch.mask)
        alone[:, m] = batch.mask[:, m]
        q_m = model.fuse(encoded, alone)
        kl = kl + kl_diag_gaussians(DiagGaussian(joint.q.mu[0], joint.q.logvar[0]), q_m) * alone.any(-1)
    expected = -(joint.bound[0] - obj_cfg.alpha * kl).mean()
    assert float(out.loss) == pytest.approx(float(expected), rel=1e-5)
    assert float(kl[:4].abs().max()) < 1e-5  # an item with one modality: its joint posterior is that modality's


def test_annealed_ties_rise_with_the_warm_up_and_plain_ties_hold_from_the_start(mnist):
    cfg = small_config()
    cfg.fusion = FusionConfig(kind="subset_encoders", subsets="jmvae")
    model = MultimodalVAE(cfg)
    batch = mnist.test[torch.arange(16)]

    def loss(epoch: float, **changes) -> float:
        obj_cfg = api.make_config("jmvae", "mnist").objective
        obj_cfg.warmup_fraction, obj_cfg.warmup_epochs = 0.0, 4.0
        for k, v in changes.items():
            setattr(obj_cfg, k, v)
        torch.manual_seed(3)
        return float(make_objective(obj_cfg, model)(model, batch, epoch=epoch).loss)

    alpha = api.make_config("jmvae", "mnist").objective.alpha
    for epoch in (0.0, 1.0, 4.0, 6.0):
        factor = min(epoch / 4.0, 1.0)
        # annealed ties at epoch e are plain ties with alpha scaled by the warm-up factor
        assert loss(epoch, anneal_ties=True) == pytest.approx(loss(epoch, alpha=alpha * factor), rel=1e-6)
    assert loss(0.0, anneal_ties=True) < loss(0.0)  # at the start only the plain form pays for the ties


# the jmvae preset's subset heads (MultiVae's) reset, so that another fusion can be named by overrides
_DEFAULT_HEADS = ["model.fusion.head_hidden=[64]", "model.fusion.single_head_hidden=null"]


def test_jmvae_is_refused_with_a_mixture_and_alpha_belongs_to_it():
    with pytest.raises(ValueError, match="Gaussian posteriors"):
        api.make_config("jmvae", "mnist", ["model.fusion.kind=moe", "model.fusion.subsets=all", *_DEFAULT_HEADS])
    with pytest.raises(ValueError, match="objective.alpha is an option of the jmvae / m2vae scheme"):
        api.make_config("mvae", "mnist", ["objective.alpha=0.5"])
    with pytest.raises(ValueError, match="fusion.subsets only applies"):
        api.make_config("mvae", "mnist", ["model.fusion.subsets=jmvae"])


def test_a_short_real_jmvae_run_improves_the_bound_and_infers_from_either_modality(tmp_path, mnist):
    cfg = api.make_config("jmvae", "mnist", SMALL + ["train.epochs=3", "train.limit_train=12000"])
    torch.manual_seed(cfg.train.seed)
    before = _test_bound(MultimodalVAE(cfg.model).eval(), mnist)
    run = api.train(cfg, out=tmp_path / "jmvae", progress=False)
    model, _ = load_model(run)
    after = _test_bound(model, mnist)
    assert after > before + 200 and after > -260, (before, after)
    batch = mnist.test[torch.arange(200)]
    pred = model.reconstruct(batch, ["image"])["label"].argmax(-1)
    # the image encoder is trained only through alpha * KL(q(z|x,y) || q(z|x)): it learns the class slowly
    # (25% after these 360 steps with the preset's constants, binarised images), but well above chance (10%)
    assert float((pred == batch.labels).float().mean()) > 0.2


def test_three_modality_jmvae_ties_the_joint_to_each_leave_one_out_encoder():
    from .test_compose import _specs, _synthetic

    torch.manual_seed(0)
    cfg = api.make_config("jmvae", "mnist")  # for its objective; the model is built on three modalities
    specs = _specs(3)
    for s in specs:
        s.encoder_hidden, s.decoder_hidden = [16], [16]
    from fusevae.config import ModelConfig

    model = MultimodalVAE(ModelConfig(specs, latent_dim=4, fusion=FusionConfig("subset_encoders", subsets="jmvae")))
    data, _ = _synthetic(3, n=12)
    from fusevae.data import make_batch

    batch = make_batch(data, model.names)
    obj_cfg = cfg.objective
    obj_cfg.weights, obj_cfg.warmup_epochs, obj_cfg.warmup_fraction = {}, 0.0, 0.0
    objective = make_objective(obj_cfg, model)
    torch.manual_seed(5)
    out = objective(model, batch, epoch=1.0)
    torch.manual_seed(5)
    encoded = model.encode(batch)
    full = batch.mask.unsqueeze(0)
    joint = objective.subset_bound(model, encoded, batch, full, full, 1.0)
    q = DiagGaussian(joint.q.mu[0], joint.q.logvar[0])
    kl = sum(  # eq. 17-18: KL(q(z|a,b,c) || q(z|b,c)) + KL(.. || q(z|a,c)) + KL(.. || q(z|a,b))
        kl_diag_gaussians(q, model.fuse(encoded, batch.mask & (torch.arange(3) != m))) for m in range(3)
    )
    assert float(out.loss) == pytest.approx(float(-(joint.bound[0] - obj_cfg.alpha * kl).mean()), rel=1e-5)


def _three_modality_jmvae(ties: str):
    from fusevae.config import ModelConfig
    from fusevae.data import make_batch

    from .test_compose import _specs, _synthetic

    torch.manual_seed(0)
    specs = _specs(3)
    for s in specs:
        s.encoder_hidden, s.decoder_hidden = [16], [16]
    model = MultimodalVAE(ModelConfig(specs, latent_dim=4, fusion=FusionConfig("subset_encoders", subsets="jmvae")))
    data, _ = _synthetic(3, n=12)
    batch = make_batch(data, model.names)
    obj_cfg = api.make_config("jmvae", "mnist", [f"objective.ties={ties}"]).objective
    obj_cfg.weights, obj_cfg.warmup_epochs, obj_cfg.warmup_fraction = {}, 0.0, 0.0
    return model, batch, make_objective(obj_cfg, model)


@pytest.mark.parametrize("ties", ["singles", "rest+singles"])
def test_three_modality_jmvae_can_tie_each_single_encoder_too(ties):
    """ties='singles': KL to each modality alone; 'rest+singles': those and eq. 17-18's leave-one-out terms."""
    import itertools

    model, batch, objective = _three_modality_jmvae(ties)
    batch.mask[:3, 2] = False  # three items lack their third modality: their rests are singles, counted once
    torch.manual_seed(5)
    out = objective(model, batch, epoch=1.0)
    torch.manual_seed(5)
    encoded = model.encode(batch)
    present = batch.mask.unsqueeze(0)
    joint = objective.subset_bound(model, encoded, batch, present, present, 1.0)
    q = DiagGaussian(joint.q.mu[0], joint.q.logvar[0])
    n = batch.mask.shape[0]
    terms = []  # per item, the sets tied to its joint posterior
    for b in range(n):
        have = [m for m in range(3) if batch.mask[b, m]]
        sets = {(m,) for m in have}
        if ties == "rest+singles":
            sets |= {tuple(x for x in have if x != m) for m in have}
        terms.append(sets)
    assert [len(t) for t in terms] == [2] * 3 + [6 if ties == "rest+singles" else 3] * (n - 3)
    kl = torch.zeros(n)
    for r in (1, 2):
        for t in itertools.combinations(range(3), r):
            m = torch.zeros(n, 3, dtype=torch.bool)
            m[:, list(t)] = True
            on = torch.tensor([t in terms[b] for b in range(n)])
            kl = kl + kl_diag_gaussians(q, model.fuse(encoded, m)) * on
    expected = -(joint.bound[0] - objective.cfg.alpha * kl).mean()
    assert float(out.loss) == pytest.approx(float(expected), rel=1e-5)


def test_for_two_modalities_every_choice_of_ties_is_the_same_loss(mnist):
    cfg = small_config()
    cfg.fusion = FusionConfig(kind="subset_encoders", subsets="jmvae")
    model = MultimodalVAE(cfg)
    batch = mnist.test[torch.arange(16)]
    batch.mask[:4, 1] = False
    losses = []
    for ties in ("rest", "singles", "rest+singles"):
        obj_cfg = api.make_config("jmvae", "mnist", [f"objective.ties={ties}"]).objective
        obj_cfg.warmup_epochs = obj_cfg.warmup_fraction = 0.0
        torch.manual_seed(3)
        losses.append(float(make_objective(obj_cfg, model)(model, batch, epoch=1.0).loss))
    assert losses[0] == pytest.approx(losses[1], rel=1e-6) and losses[0] == pytest.approx(losses[2], rel=1e-6)


def test_ties_is_checked_and_belongs_to_jmvae():
    with pytest.raises(ValueError, match="objective.ties must be one of rest, singles, rest\\+singles"):
        api.make_config("jmvae", "mnist", ["objective.ties=pairs"])
    with pytest.raises(ValueError, match="objective.ties is an option of the jmvae scheme"):
        api.make_config("mvae", "mnist", ["objective.ties=singles"])


def test_three_modality_jmvae_with_rest_ties_warns_that_single_encoders_learn_only_from_missing_items():
    with pytest.warns(UserWarning, match="objective.ties=rest\\+singles"):
        _three_modality_jmvae("rest")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _three_modality_jmvae("rest+singles")


def _own_features_model(seed: int = 0, own: bool = True) -> MultimodalVAE:
    cfg = small_config()
    cfg.fusion = FusionConfig(kind="subset_encoders", subsets="jmvae", head_hidden=[16], own_features=own)
    torch.manual_seed(seed)
    return MultimodalVAE(cfg)


def test_own_features_start_as_the_shared_ones_and_leave_the_single_encoders_out_of_the_joint(mnist):
    batch = mnist.test[torch.arange(8)]
    joint, image_only = batch.mask, batch.mask & torch.tensor([True, False])
    own, shared = _own_features_model(), _own_features_model(own=False)
    # a copy of each encoder, initialised as the shared one: the same posteriors at the start
    for subset in (joint, image_only):
        qa, qb = own.fuse(own.encode(batch), subset), shared.fuse(shared.encode(batch), subset)
        assert torch.allclose(qa.mu, qb.mu) and torch.allclose(qa.logvar, qb.logvar)
    # the joint posterior's gradient reaches the copies, not the encoders the single heads read
    own.zero_grad()
    q = own.fuse(own.encode(batch), joint)
    (q.mu.square().sum() + q.logvar.sum()).backward()
    assert all(p.grad is None or not p.grad.any() for p in own.nets["image"].encoder.parameters())
    assert any(p.grad is not None and p.grad.any() for p in own.joint_encoders["image"].parameters())
    # and moving the copies moves q(z | image, label) but not q(z | image)
    with torch.no_grad():
        for p in own.joint_encoders["image"].parameters():
            p.add_(0.1)
    moved_joint, moved_single = own.fuse(own.encode(batch), joint), own.fuse(own.encode(batch), image_only)
    assert not torch.allclose(moved_joint.mu, shared.fuse(shared.encode(batch), joint).mu)
    assert torch.allclose(moved_single.mu, shared.fuse(shared.encode(batch), image_only).mu)


def test_own_features_belong_to_subset_encoders_and_survive_a_checkpoint(tmp_path, mnist):
    with pytest.raises(ValueError, match="own_features"):
        api.make_config("mvae", "mnist", ["model.fusion.own_features=true"])
    cfg = api.make_config("jmvae", "mnist", [*SMALL, "train.epochs=1", "train.limit_train=256",
                                             "model.fusion.own_features=true"])  # fmt: skip
    run = api.train(cfg, out=tmp_path / "own", progress=False)
    model, _ = load_model(run)
    assert model.own_features and set(model.joint_encoders) == {"image", "label"}
    batch = mnist.test[torch.arange(4)]
    assert torch.isfinite(model.fuse(model.encode(batch), batch.mask).mu).all()
