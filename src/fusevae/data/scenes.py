"""Procedural 3-D scenes seen by three sensors: an RGB image, a depth map and a bird's-eye radar map.

This stands in for the "Multimodal Shapes 3D" data set of the sensor-fusion paper (section on data sets):
17,729 Blender scenes of 1-3 objects on a ground plane, each with an RGB image, a depth map and a radar-like
bird's-eye range map made from the depth map with the ground points removed, plus ground-truth object classes and
bounding boxes. We render our own, deterministically, in pure numpy: each pixel's ray is cast analytically against
the ground plane z=0 and every object (cube, sphere, cylinder, cone), at twice the output resolution.

World frame: x to the right, y forward, z up. A fixed pinhole camera at `CAMERA` looks forward and down at `TARGET`.

- image: Lambertian shading (one directional light plus ambient, no shadows) of the object colours and a grey
  ground with a faint checker pattern; the sky is a fixed colour. Area-averaged 2x2 down to the output size.
- depth: ray length / `MAX_RANGE`, clipped to [0, 1]; sky = 1. Area-averaged like the image.
- radar: an R x R bird's-eye grid (R = output size) over `RADAR_X` x `RADAR_Y` on the ground; row 0 is the far
  edge (y = RADAR_Y[1]), column 0 the left edge. The full-resolution 3-D hit points of the depth map minus sky,
  ground-plane hits and anything lower than `RADAR_MIN_HEIGHT` are binned into it; a cell holds the strongest return
  1 - 0.5 * range / MAX_RANGE (so in [0.5, 1]), 0 where nothing returned. The ground never returns.
- ids: per output pixel the object slot (0-2) covering at least 2 of its 4 sub-pixels (the one covering most), else
  -1 (ground or sky).

Ground truth is padded to `MAX_OBJECTS` slots; an absent slot holds -1 in every field (shapes >= 0 is the mask).
Boxes are int64 (x0, y0, x1, y1) with x1, y1 exclusive, so `ids[y0:y1, x0:x1]` holds the object: `boxes` in output
pixels from the object's pixels in `ids` (-1 if fully occluded), `radar_boxes` the cells its ground footprint (an
axis-aligned rectangle) touches. `labels` is the bitmask of the shape kinds present, sum of 2**shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .mnist import data_root

RENDERER_VERSION = 1
N_SCENES = 17_729
MAX_OBJECTS = 3
SHAPES = ("cube", "sphere", "cylinder", "cone")
COLOURS = {
    "red": (0.85, 0.15, 0.15),
    "orange": (0.95, 0.55, 0.1),
    "yellow": (0.9, 0.85, 0.15),
    "green": (0.2, 0.7, 0.25),
    "blue": (0.15, 0.3, 0.85),
    "purple": (0.6, 0.2, 0.75),
}
SIZE_RANGE = (0.7, 1.4)  # cube side; sphere, cylinder and cone diameter (cylinder and cone height too)
PLACE_X = (-2.5, 2.5)  # ground area where object centres are drawn (then kept only if fully in view)
PLACE_Y = (0.0, 6.0)
GAP = 0.1  # least distance between two objects' footprint circles
PLACE_TRIES = 100  # draws per object before giving up on it (deterministic; in practice never reached)
CAMERA = np.array([0.0, -3.0, 4.0])
TARGET = np.array([0.0, 3.0, 0.0])
FOV = np.deg2rad(45.0)  # horizontal = vertical field of view
MAX_RANGE = 16.0
LIGHT = np.array([-0.4, -0.6, 1.0]) / np.linalg.norm([-0.4, -0.6, 1.0])  # towards the light
AMBIENT = 0.35
SKY = (0.6, 0.75, 0.9)
GROUND = 0.55  # grey level; the checker adds +-0.03 on unit squares
RADAR_X = (-4.0, 4.0)
RADAR_Y = (-1.0, 7.0)  # covers every footprint: PLACE_* widened by the largest half extent
RADAR_MIN_HEIGHT = 0.02


class SceneObject(NamedTuple):
    """One object: shape and colour indices, ground position of its centre, size and yaw (radians, cubes only)."""

    shape: int
    colour: int
    x: float
    y: float
    size: float
    yaw: float = 0.0

    def half_extent(self) -> float:
        """Half the side of the axis-aligned square around its footprint."""
        c, s = abs(np.cos(self.yaw)), abs(np.sin(self.yaw))
        return self.size / 2 * (c + s) if SHAPES[self.shape] == "cube" else self.size / 2


@dataclass
class Scenes:
    """Rendered scenes (uint8 sensors, numpy ground truth), one row per scene; see the module docstring."""

    image: np.ndarray  # (N, 3, S, S) uint8
    depth: np.ndarray  # (N, 1, S, S) uint8
    radar: np.ndarray  # (N, 1, S, S) uint8
    ids: np.ndarray  # (N, S, S) int8, object slot or -1
    shapes: np.ndarray  # (N, 3) int64, -1 absent
    colours: np.ndarray  # (N, 3) int64
    positions: np.ndarray  # (N, 3, 2) float32, ground (x, y)
    sizes: np.ndarray  # (N, 3) float32
    yaws: np.ndarray  # (N, 3) float32
    boxes: np.ndarray  # (N, 3, 4) int64 image box in output pixels
    radar_boxes: np.ndarray  # (N, 3, 4) int64 bird's-eye box in radar cells
    count: np.ndarray  # (N,) int64
    labels: np.ndarray  # (N,) int64 bitmask of shapes present

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> Scenes:
        """The scenes at `index` (an integer or boolean array), as a new Scenes."""
        return Scenes(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


class _Camera(NamedTuple):
    dirs: np.ndarray  # (H, H, 3) unit ray directions at render resolution H
    ground_t: np.ndarray  # (H, H) ray length to the ground, inf for sky
    ground_image: np.ndarray  # (H, H, 3)
    basis: np.ndarray  # rows: right, up, forward


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16 or size % 8:
        raise ValueError(f"scenes: size must be an integer multiple of 8 and at least 16, got {size!r}")


@lru_cache(maxsize=4)
def _camera(size: int) -> _Camera:
    """Rays and the empty ground for one render resolution (2 * size); the same for every scene."""
    h = 2 * size
    forward = (TARGET - CAMERA) / np.linalg.norm(TARGET - CAMERA)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    grid = (np.arange(h) + 0.5) / h * 2 - 1  # pixel centres in [-1, 1]
    half = np.tan(FOV / 2)
    px, py = np.meshgrid(grid * half, grid * half)  # py grows downwards with the row
    dirs = forward + px[..., None] * right - py[..., None] * up
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        ground_t = np.where(dirs[..., 2] < 0, -CAMERA[2] / dirs[..., 2], np.inf)
    hit = np.where(np.isfinite(ground_t), ground_t, 0.0)[..., None] * dirs + CAMERA
    checker = (np.floor(hit[..., 0]) + np.floor(hit[..., 1])) % 2 * 0.06 - 0.03
    shade = AMBIENT + (1 - AMBIENT) * LIGHT[2]
    grey = (GROUND + checker) * shade
    image = np.where(np.isfinite(ground_t)[..., None], grey[..., None], np.asarray(SKY))
    for a in (dirs, ground_t, image):
        a.flags.writeable = False
    return _Camera(dirs, ground_t, image, np.stack([right, up, forward]))


def _project(points: np.ndarray, cam: _Camera, h: int) -> np.ndarray | None:
    """(col, row) render-resolution pixel coordinates of 3-D points, None if any is behind the camera."""
    local = (points - CAMERA) @ cam.basis.T
    if np.any(local[:, 2] <= 1e-6):
        return None
    half = np.tan(FOV / 2)
    col = (local[:, 0] / local[:, 2] / half + 1) / 2 * h
    row = (1 - local[:, 1] / local[:, 2] / half) / 2 * h
    return np.stack([col, row], axis=1)


def _corners(obj: SceneObject) -> np.ndarray:
    e, top = obj.half_extent(), obj.size
    return np.array([[obj.x + sx * e, obj.y + sy * e, z] for sx in (-1, 1) for sy in (-1, 1) for z in (0.0, top)])


def _smallest(*candidates: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per ray, the smallest candidate length t that is valid (else inf) and its index."""
    ts = np.stack([np.where(ok, t, np.inf) for t, ok in candidates])
    which = np.argmin(ts, axis=0)
    return np.take_along_axis(ts, which[None], 0)[0], which


def _intersect(obj: SceneObject, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray lengths (inf = miss) and unit normals where rays from CAMERA along `d` (K, 3) hit the object."""
    kind, r = SHAPES[obj.shape], obj.size / 2
    o = CAMERA - np.array([obj.x, obj.y, 0.0])  # camera relative to the footprint centre
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "sphere":
            oc = o - [0.0, 0.0, r]
            b = d @ oc
            disc = b * b - (oc @ oc - r * r)
            t = np.where(disc >= 0, -b - np.sqrt(np.maximum(disc, 0)), np.inf)
            t = np.where(t > 0, t, np.inf)
            normal = (o - [0.0, 0.0, r] + t[:, None] * d) / r
        elif kind == "cube":
            c, s = np.cos(obj.yaw), np.sin(obj.yaw)
            rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])  # local -> world
            lo_, ld = (o - [0.0, 0.0, r]) @ rot, d @ rot
            ld = np.where(ld == 0, 1e-12, ld)
            t1, t2 = (-r - lo_) / ld, (r - lo_) / ld
            near, far = np.minimum(t1, t2), np.maximum(t1, t2)
            tmin, tmax = near.max(axis=1), far.min(axis=1)
            t = np.where((tmin <= tmax) & (tmin > 0), tmin, np.inf)
            axis = near.argmax(axis=1)
            local = np.zeros_like(d)
            local[np.arange(len(d)), axis] = -np.sign(ld[np.arange(len(d)), axis])
            normal = local @ rot.T
        else:
            height, a = obj.size, d[:, 0] ** 2 + d[:, 1] ** 2
            if kind == "cylinder":
                b = o[0] * d[:, 0] + o[1] * d[:, 1]
                disc = b * b - a * (o[0] ** 2 + o[1] ** 2 - r * r)
                side = (-b - np.sqrt(disc)) / a
                cap = (height - o[2]) / d[:, 2]
                cap_ok = np.hypot(o[0] + cap * d[:, 0], o[1] + cap * d[:, 1]) <= r
                side_z = o[2] + side * d[:, 2]
                t, which = _smallest((side, (disc >= 0) & (side_z >= 0) & (side_z <= height)), (cap, cap_ok))
                p = o + np.where(np.isfinite(t), t, 0)[:, None] * d
                normal = np.where((which == 0)[:, None], p * [1.0, 1.0, 0.0] / r, [0.0, 0.0, 1.0])
            else:  # cone, apex at height, base radius r on the ground
                k2, oz = (r / height) ** 2, height - o[2]
                qa = a - k2 * d[:, 2] ** 2
                qb = 2 * (o[0] * d[:, 0] + o[1] * d[:, 1] + k2 * oz * d[:, 2])
                qc = o[0] ** 2 + o[1] ** 2 - k2 * oz**2
                disc = np.sqrt(qb * qb - 4 * qa * qc)
                roots = [(-qb - disc) / (2 * qa), (-qb + disc) / (2 * qa)]
                checks = []
                for root in roots:
                    z = o[2] + root * d[:, 2]
                    checks.append((root, np.isfinite(root) & (root > 0) & (z >= 0) & (z <= height)))
                t, _ = _smallest(*checks)
                p = o + np.where(np.isfinite(t), t, 0)[:, None] * d
                normal = np.stack([p[:, 0], p[:, 1], k2 * (height - p[:, 2])], axis=1)
                normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    return t, normal


def in_view(obj: SceneObject, size: int = 32) -> bool:
    """Whether the object's bounding box projects wholly inside the image (objects are only placed where it does)."""
    h = 2 * size
    uv = _project(_corners(obj), _camera(size), h)
    return uv is not None and bool(np.all((uv >= 0) & (uv <= h)))


def sample_objects(rng: np.random.Generator) -> list[SceneObject]:
    """Draw 1-3 objects with non-overlapping footprints, all in view, by bounded rejection sampling.

    An object that finds no place in PLACE_TRIES draws is left out, so the count is what was placed.
    """
    objects: list[SceneObject] = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        shape, colour = int(rng.integers(len(SHAPES))), int(rng.integers(len(COLOURS)))
        size = float(rng.uniform(*SIZE_RANGE))
        yaw = float(rng.uniform(0, np.pi / 2)) if SHAPES[shape] == "cube" else 0.0
        for _ in range(PLACE_TRIES):
            obj = SceneObject(shape, colour, float(rng.uniform(*PLACE_X)), float(rng.uniform(*PLACE_Y)), size, yaw)
            apart = all(
                np.hypot(obj.x - o.x, obj.y - o.y) > (obj.size + o.size) / 2 * np.sqrt(2) + GAP for o in objects
            )
            if apart and in_view(obj):
                objects.append(obj)
                break
    return objects


def render_scene(objects: list[SceneObject], size: int = 32) -> dict[str, np.ndarray]:
    """Render one scene as float arrays: image (3,S,S), depth (1,S,S), radar (1,S,S) in [0,1] and ids (S,S) int8.

    An empty list gives the bare ground, which the tests compare against.
    """
    _check_size(size)
    cam, h = _camera(size), 2 * size
    t = cam.ground_t.copy()
    ids = np.full((h, h), -1, np.int8)
    image = cam.ground_image.copy()
    for slot, obj in enumerate(objects):
        uv = _project(_corners(obj), cam, h)
        if uv is None:
            c0 = r0 = 0
            c1 = r1 = h
        else:
            (c0, r0), (c1, r1) = np.floor(uv.min(0)).astype(int) - 1, np.ceil(uv.max(0)).astype(int) + 1
            c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, h), min(r1, h)
        if c0 >= c1 or r0 >= r1:
            continue
        window = (slice(r0, r1), slice(c0, c1))
        t_obj, normal = _intersect(obj, cam.dirs[window].reshape(-1, 3))
        t_obj = t_obj.reshape(r1 - r0, c1 - c0)
        nearer = t_obj < t[window]
        if not nearer.any():
            continue
        shade = AMBIENT + (1 - AMBIENT) * np.maximum(normal.reshape(r1 - r0, c1 - c0, 3)[nearer] @ LIGHT, 0)
        t[window][nearer] = t_obj[nearer]
        ids[window][nearer] = slot
        image[window][nearer] = shade[:, None] * np.asarray(list(COLOURS.values())[obj.colour])

    def down(a: np.ndarray) -> np.ndarray:  # (H, H, ...) -> (S, S, ...), mean of each 2x2 block
        return a.reshape(size, 2, size, 2, *a.shape[2:]).mean(axis=(1, 3))

    counts = ids.reshape(size, 2, size, 2) == np.arange(max(len(objects), 1), dtype=np.int8)[:, None, None, None, None]
    counts = counts.sum(axis=(2, 4))  # (objects, S, S)
    out_ids = np.where(counts.max(0) >= 2, counts.argmax(0), -1).astype(np.int8)
    return {
        "image": down(image).transpose(2, 0, 1),
        "depth": down(np.minimum(t / MAX_RANGE, 1.0))[None],
        "radar": _radar(t, ids, cam, size)[None],
        "ids": out_ids,
    }


def _radar(t: np.ndarray, ids: np.ndarray, cam: _Camera, size: int) -> np.ndarray:
    """Bin the non-ground, non-sky 3-D hit points into the bird's-eye grid (strongest return per cell)."""
    grid = np.zeros((size, size))
    seen = ids >= 0
    rng_ = t[seen]
    p = CAMERA + rng_[:, None] * cam.dirs[seen]
    col = np.floor((p[:, 0] - RADAR_X[0]) / (RADAR_X[1] - RADAR_X[0]) * size).astype(int)
    row = np.floor((RADAR_Y[1] - p[:, 1]) / (RADAR_Y[1] - RADAR_Y[0]) * size).astype(int)
    keep = (p[:, 2] > RADAR_MIN_HEIGHT) & (col >= 0) & (col < size) & (row >= 0) & (row < size)
    np.maximum.at(grid, (row[keep], col[keep]), 1 - 0.5 * np.minimum(rng_[keep] / MAX_RANGE, 1))
    return grid


def radar_cells(x0: float, y0: float, x1: float, y1: float, size: int) -> tuple[int, int, int, int]:
    """The radar cells (col0, row0, col1, row1; ends exclusive) that the ground rectangle [x0,x1] x [y0,y1] touches."""
    cx = (np.array([x0, x1]) - RADAR_X[0]) / (RADAR_X[1] - RADAR_X[0]) * size
    cy = (RADAR_Y[1] - np.array([y1, y0])) / (RADAR_Y[1] - RADAR_Y[0]) * size
    return int(np.floor(cx[0])), int(np.floor(cy[0])), int(np.floor(cx[1])) + 1, int(np.floor(cy[1])) + 1


def _empty(n: int, size: int) -> dict[str, np.ndarray]:
    k = MAX_OBJECTS
    return {
        "image": np.zeros((n, 3, size, size), np.uint8),
        "depth": np.zeros((n, 1, size, size), np.uint8),
        "radar": np.zeros((n, 1, size, size), np.uint8),
        "ids": np.zeros((n, size, size), np.int8),
        "shapes": np.full((n, k), -1, np.int64),
        "colours": np.full((n, k), -1, np.int64),
        "positions": np.full((n, k, 2), -1, np.float32),
        "sizes": np.full((n, k), -1, np.float32),
        "yaws": np.full((n, k), -1, np.float32),
        "boxes": np.full((n, k, 4), -1, np.int64),
        "radar_boxes": np.full((n, k, 4), -1, np.int64),
        "count": np.zeros(n, np.int64),
        "labels": np.zeros(n, np.int64),
    }


def _check(n: int, seed: int, size: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"scenes: n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"scenes: seed must be a non-negative integer, got {seed!r}")
    _check_size(size)


def render_scenes(n: int, seed: int = 0, size: int = 32, progress: bool = False) -> Scenes:
    """Render n scenes; scene i depends only on (seed, i), so a prefix of a bigger set is the smaller set."""
    _check(n, seed, size)
    out = _empty(n, size)
    indices = range(n)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="rendering scenes", unit="scene")
    for i in indices:
        objects = sample_objects(np.random.default_rng([seed, i]))
        r = render_scene(objects, size)
        for key in ("image", "depth", "radar"):
            out[key][i] = np.rint(r[key] * 255)
        out["ids"][i] = r["ids"]
        for j, obj in enumerate(objects):
            out["shapes"][i, j], out["colours"][i, j] = obj.shape, obj.colour
            out["positions"][i, j], out["sizes"][i, j], out["yaws"][i, j] = (obj.x, obj.y), obj.size, obj.yaw
            rows, cols = np.nonzero(r["ids"] == j)
            if len(rows):
                out["boxes"][i, j] = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
            e = obj.half_extent()
            out["radar_boxes"][i, j] = radar_cells(obj.x - e, obj.y - e, obj.x + e, obj.y + e, size)
        out["count"][i] = len(objects)
        out["labels"][i] = sum({2**o.shape for o in objects})
    return Scenes(**out)


def cache_path(root: str | os.PathLike[str] | None = None, n: int = N_SCENES, seed: int = 0, size: int = 32) -> Path:
    """Where `load_scenes` keeps a rendered set."""
    return data_root(root) / "scenes" / f"scenes-v{RENDERER_VERSION}-n{n}-s{seed}-{size}px.npz"


def _read(path: Path, n: int, size: int) -> Scenes | None:
    """The cached set, or None if the file is missing, unreadable or not the expected arrays."""
    expected = {k: (v.shape, v.dtype) for k, v in _empty(1, size).items()}
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in expected}
    except Exception:  # any damage means: render again
        return None
    for k, (shape, dtype) in expected.items():
        if arrays[k].shape != (n, *shape[1:]) or arrays[k].dtype != dtype:
            return None
    return Scenes(**arrays)


def load_scenes(
    root: str | os.PathLike[str] | None = None,
    n: int = N_SCENES,
    seed: int = 0,
    size: int = 32,
    progress: bool = False,
) -> Scenes:
    """The rendered set from the cache under `<data root>/scenes`, rendering and caching it first if needed.

    A damaged cache file is rendered again and replaced.
    """
    _check(n, seed, size)
    path = cache_path(root, n, seed, size)
    scenes = _read(path, n, size) if path.exists() else None
    if scenes is not None:
        return scenes
    scenes = render_scenes(n, seed, size, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    with open(part, "wb") as f:
        np.savez_compressed(f, **{f_.name: getattr(scenes, f_.name) for f_ in fields(scenes)})
    os.replace(part, path)
    return scenes


QUADRANTS = ("near-right", "near-left", "far-right", "far-left")  # bit q of a layout label
FAR_Y = sum(PLACE_Y) / 2  # objects whose centre lies beyond this are far


def layout_labels(scenes: Scenes) -> np.ndarray:
    """Which ground quadrants (left/right of the camera axis x 0, near/far of FAR_Y) hold an object centre.

    A bitmask over QUADRANTS in 1 .. 15: the class a coherence judge reads from any of the three
    views (positions show in image, depth and radar alike, while the radar cannot tell a sphere
    from a cylinder), standing in for the positions the paper's detector scored.
    """
    present = scenes.shapes >= 0
    q = (scenes.positions[..., 0] < 0).astype(np.int64) + 2 * (scenes.positions[..., 1] > FAR_Y).astype(np.int64)
    return np.bitwise_or.reduce(np.where(present, 1 << q, 0), axis=1)


def split_scenes(scenes: Scenes) -> tuple[Scenes, Scenes, Scenes]:
    """Fixed split by position: test = the last n // 5 scenes, valid = the n // 10 before them, train = the rest.

    For 17,729 scenes: 12,412 / 1,772 / 3,545.
    """
    n = len(scenes)
    n_test, n_valid = n // 5, n // 10
    n_train = n - n_test - n_valid
    bounds = np.cumsum([0, n_train, n_valid, n_test])
    train, valid, test = (scenes.take(np.arange(a, b)) for a, b in zip(bounds[:-1], bounds[1:]))
    return train, valid, test
