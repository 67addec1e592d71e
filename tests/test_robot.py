"""The simulated vision + touch robot set: the contact model's laws, the camera's geometry, labels, determinism."""

import numpy as np
import pytest
import torch

from fusevae.data import robot
from fusevae.data.robot import (
    BOX_HALF,
    BOX_HEIGHT,
    CLEARANCE,
    HOLE_DEPTH,
    LEVER,
    PEG_RADIUS,
    STIFFNESS,
    TABLE_FRONT_Y,
    WALL_Y,
    Box,
    contact,
    generate_episodes,
    render,
    split_episodes,
)

BOX = Box(0.1, 0.2, 0)


def test_no_contact_no_force_and_the_force_grows_with_the_commanded_penetration():
    above = np.array([0.1, 0.2, 1.0])
    tip, reading = contact(BOX, above, above)
    assert np.array_equal(tip, above) and not reading.any()
    # on the rim (the peg does not fit the hole there): the tip rests on the box top, F_z = K * penetration
    forces = []
    for d in (0.01, 0.05, 0.2):
        command = np.array([BOX.x + 0.2, BOX.y, BOX_HEIGHT - d])
        tip, reading = contact(BOX, np.array([BOX.x + 0.2, BOX.y, 1.0]), command)
        assert tip[2] == BOX_HEIGHT and reading[2] == pytest.approx(STIFFNESS * d)
        assert reading[[0, 1, 3, 4, 5]] == pytest.approx(0.0)
        forces.append(reading[2])
    assert forces == sorted(forces)
    # on the axis the peg fits: it goes down to the hole's bottom before anything pushes back
    bottom = BOX_HEIGHT - HOLE_DEPTH
    tip, reading = contact(BOX, np.array([BOX.x, BOX.y, 1.0]), np.array([BOX.x, BOX.y, bottom + 0.01]))
    assert tip[2] == pytest.approx(bottom + 0.01) and not reading.any()
    tip, reading = contact(BOX, tip, np.array([BOX.x, BOX.y, bottom - 0.1]))
    assert tip[2] == bottom and reading[2] == pytest.approx(STIFFNESS * 0.1)
    # on the table, away from the box
    tip, reading = contact(BOX, np.array([-0.9, 0.2, 0.5]), np.array([-0.9, 0.2, -0.05]))
    assert tip[2] == 0.0 and reading[2] == pytest.approx(STIFFNESS * 0.05)


def test_the_hole_wall_pushes_back_sideways_with_the_matching_torque():
    inside = np.array([BOX.x, BOX.y, BOX_HEIGHT - 0.2])
    command = np.array([BOX.x + CLEARANCE + 0.05, BOX.y, BOX_HEIGHT - 0.2])
    tip, reading = contact(BOX, inside, command)
    assert tip[0] == pytest.approx(BOX.x + CLEARANCE) and tip[1] == pytest.approx(BOX.y)
    f = reading[:3]
    assert f[0] == pytest.approx(-STIFFNESS * 0.05) and f[1] == pytest.approx(0.0) and f[2] == pytest.approx(0.0)
    assert reading[3:] == pytest.approx([LEVER * f[1], -LEVER * f[0], 0.0])


def test_depth_and_colour_agree_with_the_geometry():
    tip = np.array([BOX.x + 0.5, BOX.y - 0.1, 0.9])  # the peg beside the box, above the table
    rgb, depth = render(BOX, tip, size=32)
    assert rgb.shape == (3, 32, 32) and depth.shape == (1, 32, 32)
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0
    col = lambda x: int((x + 1.0) / 2.0 * 32)  # noqa: E731  pixel column of world x
    row = lambda z: int((1.8 - z) / 2.0 * 32)  # noqa: E731  pixel row of world z
    span = WALL_Y - TABLE_FRONT_Y
    assert depth[0, 0, 0] == pytest.approx(1.0)  # the wall, top left
    assert depth[0, 31, 16] == pytest.approx(0.0)  # the table's front, bottom row
    assert depth[0, row(0.25), col(BOX.x)] == pytest.approx((BOX.y - BOX_HALF - TABLE_FRONT_Y) / span)
    # the peg's axis column, above the box: the cylinder's front, within the pixel's width of its axis
    peg = depth[0, row(1.3), col(tip[0])]
    assert (tip[1] - PEG_RADIUS - TABLE_FRONT_Y) / span <= peg <= (tip[1] - 0.7 * PEG_RADIUS - TABLE_FRONT_Y) / span
    # inside the hole the box's front face hides the peg below the rim
    rgb_in, depth_in = render(BOX, np.array([BOX.x, BOX.y, BOX_HEIGHT - 0.2]), size=32)
    assert depth_in[0, row(BOX_HEIGHT - 0.1), col(BOX.x)] == pytest.approx((BOX.y - BOX_HALF - TABLE_FRONT_Y) / span)


def test_episodes_are_deterministic_labelled_by_their_contact_and_split_by_episode():
    a, b = generate_episodes(6, seed=3), generate_episodes(6, seed=3)
    for field in ("rgb", "depth", "force", "action", "tip", "state"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert not np.array_equal(a.force, generate_episodes(6, seed=4).force)
    assert a.rgb.dtype == np.uint8 and a.force.shape == (6 * robot.STEPS, robot.SUBSTEPS, 6)
    touched = np.abs(a.force).reshape(len(a.state), -1).max(1) > 0
    assert np.array_equal(a.state == 0, ~touched & (a.state != 2))  # free exactly when nothing pushed back
    inside = (a.tip[:, 2] < BOX_HEIGHT) & (np.hypot(a.tip[:, 0] - a.box[:, 0], a.tip[:, 1] - a.box[:, 1]) <= CLEARANCE)
    assert np.array_equal(a.state == 2, inside)
    train, valid, test = split_episodes(generate_episodes(10, seed=0))
    assert set(train.episode) & set(test.episode) == set() and set(valid.episode) & set(test.episode) == set()
    assert len(train.state) + len(valid.state) + len(test.state) == 10 * robot.STEPS


def test_the_registered_set_has_the_four_sensors_and_its_networks_fit(monkeypatch):
    from fusevae import api
    from fusevae.data import load_dataset
    from fusevae.model import MultimodalVAE

    monkeypatch.setattr(robot, "load_episodes", lambda root=None: generate_episodes(10, seed=0))
    data = load_dataset("robot")
    assert data.names == ("rgb", "depth", "force", "action") and data.num_classes == 3
    batch = data.train[torch.arange(8)]
    assert batch.data["rgb"].shape == (8, 3, 32, 32) and batch.data["force"].shape == (8, 16, 6)
    model = MultimodalVAE(api.make_config("smvae", "robot").model)
    out = model.generate({"force": batch.data["force"], "action": batch.data["action"]})
    assert out["rgb"].shape == (1, 8, 3, 32, 32) and out["depth"].shape == (1, 8, 1, 32, 32)


def test_the_fig7_figure_draws_each_step_observed_and_generated(monkeypatch, tmp_path):
    from fusevae import api
    from fusevae.data import load_dataset
    from fusevae.figures import generation_over_time
    from fusevae.model import MultimodalVAE

    monkeypatch.setattr(robot, "load_episodes", lambda root=None: generate_episodes(10, seed=0))
    data = load_dataset("robot")
    model = MultimodalVAE(api.make_config("smvae", "robot").model).eval()
    path = generation_over_time(
        model,
        data.test,
        torch.arange(robot.STEPS),
        ["rgb", "depth"],
        [["force", "action"], ["rgb", "depth", "force", "action"]],
        tmp_path / "fig7.png",
        signal="force",
    )
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="not an image"):
        generation_over_time(model, data.test, torch.arange(3), ["force"], [["action"]], tmp_path / "x.png")


def test_generate_draws_fig7_for_a_test_episode_with_both_free_motion_and_contact(monkeypatch, tmp_path):
    from fusevae import api
    from fusevae.data import load_dataset

    monkeypatch.setattr(robot, "load_episodes", lambda root=None: generate_episodes(10, seed=0))
    data = load_dataset("robot")
    assert len(data.test_episodes) == len(data.test) and torch.equal(
        data.test_episodes, torch.sort(data.test_episodes).values
    )  # the steps of each episode, in order
    nets = [f"model.modalities.{m}.network_options.width=8" for m in ("rgb", "depth")]
    cfg = api.make_config("mopoe", data, [*nets, "train.epochs=1", "model.latent_dim=8", "train.threads=1"])
    run = api.train(cfg, data=data, out=tmp_path / "r", progress=False)
    paths = api.generate(run, n=3, data=data)
    assert (tmp_path / "r" / "figures" / "episode.png") in paths
