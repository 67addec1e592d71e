"""A simulated vision + touch robot: peg insertion seen by an RGB-D camera and felt by a wrist force/torque sensor.

The stand-in for the Vision&Touch set of SMVAE's robotics case study (section 4.4; Lee et al. 2020), which ships
nowhere we can reach: an arm inserts a round peg into the hole of a box, and each time step of an episode gives
four modalities: `rgb` and `depth` (3x32x32 and 1x32x32, one side camera), `force` (a 6-axis force/torque reading
at each of `SUBSTEPS` sub-steps of the step, (16, 6)) and `action` (the commanded displacement of the step, (3,)).
Everything is generated deterministically from a seed, in numpy, and cached like the scenes.

World: x to the right, y away from the camera, z up; the table top is z = 0. A box of half-width `BOX_HALF` and
height `BOX_HEIGHT` stands at (bx, by) with a round hole of radius `HOLE_RADIUS` and depth `HOLE_DEPTH` on its
axis. The peg (radius `PEG_RADIUS`, the arm above it to the top of the view) is position-controlled: its tip
follows the commanded point c except where solid material stops it, and the wrist sensor measures the spring
between command and tip, F = stiffness * (tip - c), the environment's push on the peg.

Contact model, at each sub-step, with the command moving linearly through the step:
- outside the hole (or above its rim), the tip goes where commanded laterally and rests on the support under the
  peg's disc: the hole's bottom if the disc fits in the hole (its centre within `HOLE_RADIUS - PEG_RADIUS` of the
  axis), else the box top where the disc overlaps the box, else the table;
- inside the hole below the rim, the wall keeps the centre within the clearance of the axis (a lateral force when
  the command pushes beyond it), and the bottom is the support;
- tip_z = max(c_z, support): no contact, no force; F_z = K (support - c_z) grows with the commanded penetration;
  torques at the sensor, `LEVER` above the tip: (L F_y, -L F_x, 0).

Camera: orthographic, looking along +y at the x-z plane, x in [-1, 1], z in [Z_BOTTOM, Z_TOP]; each pixel shows
the nearest of the wall (y = WALL_Y), the table's front (z < 0, y = TABLE_FRONT_Y), the box's front face and the
peg/arm cylinder (shaded by its normal; the last `TIP_LENGTH` of the peg red). depth = (y - TABLE_FRONT_Y) /
(WALL_Y - TABLE_FRONT_Y) in [0, 1]. Rendered at twice the size and area-averaged 2x2.

A scripted policy drives each episode: it aims at the hole with a per-episode misalignment (half the episodes
within the clearance, the others on the rim), descends at a random rate and presses on, and halves its
misalignment whenever it feels a large vertical force (a crude search), so some misaligned episodes still go in.
Class label per step: 0 free (no force during the step), 1 touching outside the hole, 2 in the hole (the tip below
the rim inside it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from ..config import ModalityConfig
from .dataset import Architecture, MultimodalData
from .mnist import data_root
from .registry import DatasetEntry, register_dataset
from .tensor_dataset import MultimodalTensorDataset
from .user import fixed_binarization

GENERATOR_VERSION = 1
N_EPISODES = 800
STEPS = 20  # time steps per episode
SUBSTEPS = 16  # force/torque readings per step
SIZE = 32
BOX_HALF, BOX_HEIGHT = 0.35, 0.5
HOLE_RADIUS, HOLE_DEPTH = 0.12, 0.35
PEG_RADIUS = 0.08
CLEARANCE = HOLE_RADIUS - PEG_RADIUS
STIFFNESS = 4.0  # force per unit of commanded penetration (vertical and lateral): readings of order 1
LEVER = 0.5  # the wrist sensor's height above the tip (torque arm)
TIP_LENGTH = 0.12
X_RANGE = (-1.0, 1.0)
Z_BOTTOM, Z_TOP = -0.2, 1.8
WALL_Y, TABLE_FRONT_Y = 1.5, -1.0
COLOURS = np.array(
    [(0.15, 0.3, 0.85), (0.2, 0.7, 0.25), (0.95, 0.55, 0.1), (0.6, 0.2, 0.75), (0.9, 0.85, 0.15), (0.1, 0.6, 0.7)]
)
WALL_COLOUR, TABLE_COLOUR = np.array([0.85, 0.85, 0.8]), np.array([0.55, 0.4, 0.25])
ARM_COLOUR, TIP_COLOUR = np.array([0.6, 0.6, 0.62]), np.array([0.85, 0.1, 0.1])
STATES = ("free", "touching", "in the hole")


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    colour: int


def support(box: Box, x: float, y: float) -> float:
    """The height the peg's tip rests on when its axis is at (x, y) and it is not inside the hole."""
    r = np.hypot(x - box.x, y - box.y)
    if r <= CLEARANCE:
        return BOX_HEIGHT - HOLE_DEPTH
    overlaps = abs(x - box.x) < BOX_HALF + PEG_RADIUS and abs(y - box.y) < BOX_HALF + PEG_RADIUS
    return BOX_HEIGHT if overlaps else 0.0


def contact(box: Box, tip: np.ndarray, command: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tip's next position given its last one and the command, and the 6-axis reading (F, torque)."""
    axis = np.array([box.x, box.y])
    offset = tip[:2] - axis
    inside = tip[2] < BOX_HEIGHT and np.hypot(*offset) <= CLEARANCE + 1e-9
    if inside:
        want = command[:2] - axis
        r = np.hypot(*want)
        xy = axis + (want if r <= CLEARANCE else want * (CLEARANCE / r))
        floor = BOX_HEIGHT - HOLE_DEPTH
    else:
        xy = command[:2].copy()
        floor = support(box, *xy)
    new = np.array([xy[0], xy[1], max(command[2], floor)])
    force = STIFFNESS * (new - command)
    torque = np.array([LEVER * force[1], -LEVER * force[0], 0.0])
    return new, np.concatenate([force, torque])


def in_hole(box: Box, tip: np.ndarray) -> bool:
    return bool(tip[2] < BOX_HEIGHT and np.hypot(tip[0] - box.x, tip[1] - box.y) <= CLEARANCE + 1e-9)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    n = 2 * size
    x = X_RANGE[0] + (X_RANGE[1] - X_RANGE[0]) * (np.arange(n) + 0.5) / n
    z = Z_TOP - (Z_TOP - Z_BOTTOM) * (np.arange(n) + 0.5) / n
    return np.meshgrid(x, z)  # (n, n): rows from the top of the view down


def render(box: Box, tip: np.ndarray, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """RGB (3, size, size) and depth (1, size, size) in [0, 1] of the scene with the peg's tip at `tip`."""
    x, z = _grid(size)
    depth = np.full(x.shape, WALL_Y)
    colour = np.broadcast_to(WALL_COLOUR, (*x.shape, 3)).copy()

    def paint(where: np.ndarray, y: np.ndarray, rgb: np.ndarray) -> None:
        nearer = where & (y < depth)
        depth[nearer] = y[nearer] if np.ndim(y) else y
        colour[nearer] = rgb[nearer] if np.ndim(rgb) == 3 else rgb

    paint(z < 0, np.full(x.shape, TABLE_FRONT_Y), TABLE_COLOUR)
    face = (np.abs(x - box.x) <= BOX_HALF) & (z >= 0) & (z <= BOX_HEIGHT)
    paint(face, np.full(x.shape, box.y - BOX_HALF), 0.85 * COLOURS[box.colour])
    dx = x - tip[0]
    on_peg = (np.abs(dx) <= PEG_RADIUS) & (z >= tip[2])
    cos = np.sqrt(np.clip(1.0 - (dx / PEG_RADIUS) ** 2, 0.0, 1.0))
    peg_y = tip[1] - PEG_RADIUS * cos
    shade = (0.55 + 0.45 * cos)[..., None]
    peg_rgb = np.where((z <= tip[2] + TIP_LENGTH)[..., None], TIP_COLOUR, ARM_COLOUR) * shade
    paint(on_peg, peg_y, peg_rgb)
    d = (depth - TABLE_FRONT_Y) / (WALL_Y - TABLE_FRONT_Y)

    def down(a: np.ndarray) -> np.ndarray:  # 2x2 area average
        return a.reshape(size, 2, size, 2, *a.shape[2:]).mean(axis=(1, 3))

    return down(colour).transpose(2, 0, 1), down(d)[None]


@dataclass
class RobotEpisodes:
    """Every time step of every episode, in episode order; uint8 images, float32 sensors."""

    rgb: np.ndarray  # (N, 3, S, S) uint8
    depth: np.ndarray  # (N, 1, S, S) uint8
    force: np.ndarray  # (N, SUBSTEPS, 6) float32: F_x, F_y, F_z, tau_x, tau_y, tau_z
    action: np.ndarray  # (N, 3) float32: the commanded displacement of the step
    tip: np.ndarray  # (N, 3) float32: the tip at the end of the step
    state: np.ndarray  # (N,) int64: 0 free, 1 touching, 2 in the hole
    episode: np.ndarray  # (N,) int64
    box: np.ndarray  # (N, 3) float32: box x, y, colour index

    def take(self, idx: np.ndarray) -> RobotEpisodes:
        return RobotEpisodes(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _episode(rng: np.random.Generator, size: int) -> dict[str, list]:
    box = Box(float(rng.uniform(-0.3, 0.3)), float(rng.uniform(0.0, 0.4)), int(rng.integers(len(COLOURS))))
    angle = rng.uniform(0, 2 * np.pi)
    aligned = rng.random() < 0.5
    bias = (rng.uniform(0, 0.5 * CLEARANCE) if aligned else rng.uniform(0.06, 0.2)) * np.array(
        [np.cos(angle), np.sin(angle)]
    )
    rate = rng.uniform(0.04, 0.07)
    command = np.array([box.x + rng.uniform(-0.6, 0.6), box.y + rng.uniform(-0.2, 0.2), rng.uniform(1.1, 1.5)])
    tip = command.copy()
    lowest = BOX_HEIGHT - HOLE_DEPTH - 0.15  # the policy presses this far below the hole's bottom at most
    out: dict[str, list] = {k: [] for k in ("rgb", "depth", "force", "action", "tip", "state", "box")}
    for _ in range(STEPS):
        target = np.array([box.x, box.y]) + bias
        step = np.zeros(3)
        step[:2] = 0.35 * (target - command[:2]) + rng.normal(0, 0.01, 2)
        step[2] = -min(rate, command[2] - lowest) if command[2] > lowest else 0.0
        readings = []
        start = command.copy()
        for s in range(1, SUBSTEPS + 1):
            tip, reading = contact(box, tip, start + step * s / SUBSTEPS)
            readings.append(reading)
        command = start + step
        readings = np.stack(readings)
        if readings[:, 2].max() > 0.5 * STIFFNESS * rate:  # pressing: search closer to where it aims
            bias = 0.5 * bias
        rgb, depth = render(box, tip, size)
        out["rgb"].append(rgb)
        out["depth"].append(depth)
        out["force"].append(readings)
        out["action"].append(step)
        out["tip"].append(tip.copy())
        touched = bool(np.abs(readings).max() > 0)
        out["state"].append(2 if in_hole(box, tip) else int(touched))
        out["box"].append((box.x, box.y, box.colour))
    return out


def _to_bytes(a: np.ndarray) -> np.ndarray:
    return np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)


def generate_episodes(n: int = N_EPISODES, seed: int = 0, size: int = SIZE) -> RobotEpisodes:
    """`n` episodes of `STEPS` steps, the same for the same (n, seed, size)."""
    if n < 1:
        raise ValueError(f"need at least one episode, got {n}")
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {}
    for e in range(n):
        ep = _episode(rng, size)
        ep["episode"] = [e] * STEPS
        for k, v in ep.items():
            parts.setdefault(k, []).extend(v)
    return RobotEpisodes(
        rgb=_to_bytes(np.stack(parts["rgb"])),
        depth=_to_bytes(np.stack(parts["depth"])),
        force=np.stack(parts["force"]).astype(np.float32),
        action=np.stack(parts["action"]).astype(np.float32),
        tip=np.stack(parts["tip"]).astype(np.float32),
        state=np.asarray(parts["state"], dtype=np.int64),
        episode=np.asarray(parts["episode"], dtype=np.int64),
        box=np.asarray(parts["box"], dtype=np.float32),
    )


def cache_path(root: str | os.PathLike[str] | None = None, n: int = N_EPISODES, seed: int = 0) -> Path:
    return data_root(root) / "robot" / f"robot-v{GENERATOR_VERSION}-n{n}-s{seed}-{SIZE}px.npz"


def load_episodes(root: str | os.PathLike[str] | None = None, n: int = N_EPISODES, seed: int = 0) -> RobotEpisodes:
    """The generated set from its cache (generating and caching it first); a damaged cache is generated again."""
    path = cache_path(root, n, seed)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                episodes = RobotEpisodes(**{f.name: z[f.name] for f in fields(RobotEpisodes)})
            if len(episodes.state) == n * STEPS:
                return episodes
        except (OSError, ValueError, KeyError):
            pass
    episodes = generate_episodes(n, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part.npz")
    np.savez_compressed(part, **{f.name: getattr(episodes, f.name) for f in fields(RobotEpisodes)})
    os.replace(part, path)
    return episodes


def split_episodes(episodes: RobotEpisodes) -> tuple[RobotEpisodes, RobotEpisodes, RobotEpisodes]:
    """70 / 10 / 20 % of the episodes (whole episodes, so no step of a test episode is seen in training)."""
    n = int(episodes.episode.max()) + 1
    cut = (round(0.7 * n), round(0.8 * n))
    return tuple(
        episodes.take(np.nonzero((episodes.episode >= lo) & (episodes.episode < hi))[0])
        for lo, hi in ((0, cut[0]), (cut[0], cut[1]), (cut[1], n))
    )


# -- the registry entry ---------------------------------------------------------------------------------------------


def _architecture() -> Architecture:
    """Convolutions for the camera, 1-D convolutions over the force readings, a small MLP for the action; 64-d z.

    The force has a fixed scale (0.1): free-space readings are exactly zero, and a learned scale would shrink
    towards its floor there and let those zeros dominate the bound.
    """
    return Architecture(
        (
            ModalityConfig(name="rgb", kind="image", shape=[3, SIZE, SIZE], likelihood="bernoulli", network="conv"),
            ModalityConfig(name="depth", kind="image", shape=[1, SIZE, SIZE], likelihood="bernoulli", network="conv"),
            ModalityConfig(
                name="force",
                kind="timeseries",
                shape=[SUBSTEPS, 6],
                likelihood="gaussian",
                likelihood_scale=0.1,
                network="sequence",
            ),
            ModalityConfig(
                name="action",
                kind="vector",
                shape=[3],
                likelihood="gaussian",
                likelihood_scale=None,
                network="mlp",
                encoder_hidden=[128, 128],
                decoder_hidden=[128, 128],
            ),
        ),
        latent_dim=64,
        activation="swish",
    )


def _load(root: str | os.PathLike[str] | None, binarize: bool) -> MultimodalData:
    names = ("rgb", "depth", "force", "action")
    images = ("rgb", "depth")
    sets = []
    parts = split_episodes(load_episodes(root))
    for seed, (part, eps) in enumerate(zip(("train", "valid", "test"), parts)):
        data = {
            "rgb": torch.from_numpy(eps.rgb),
            "depth": torch.from_numpy(eps.depth),
            "force": torch.from_numpy(eps.force),
            "action": torch.from_numpy(eps.action),
        }
        levels = {k: data[k] for k in images} if binarize and part != "train" else None
        if levels:  # evaluation images binarised once, with a fixed seed
            for k in images:
                data[k] = fixed_binarization(data[k], True, seed)
        sets.append(
            MultimodalTensorDataset(
                data,
                names,
                labels=torch.from_numpy(eps.state),
                binarize=images if binarize and part == "train" else (),
                quantized=images,
                levels=levels,
            )
        )
    test_episodes = torch.from_numpy(parts[2].episode)
    return MultimodalData("robot", _architecture().specs(), *sets, len(STATES), STATES, test_episodes=test_episodes)


def _fetch(root: str | os.PathLike[str] | None) -> str:
    load_episodes(root)
    return str(cache_path(root))


register_dataset(
    DatasetEntry(
        "robot",
        f"simulated vision + touch peg insertion (the stand-in for SMVAE 4.4's Vision&Touch): {N_EPISODES} scripted "
        f"episodes of {STEPS} steps, each step an RGB and a depth image of one side camera (32x32), a 6-axis "
        f"force/torque reading at {SUBSTEPS} sub-steps from a spring contact model, and the commanded displacement; "
        "labels: free / touching / in the hole; split 70/10/20 by episode; generated in about 35 s and cached",
        _architecture,
        _load,
        _fetch,
    )
)
