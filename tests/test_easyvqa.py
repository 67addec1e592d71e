"""easy-VQA (image + question/answer text): what the questions say, what the pixels say, tokens, splits, a run."""

import numpy as np
import pytest

from fusevae.data import easyvqa
from fusevae.data.easyvqa import (
    CLASS_NAMES,
    COLOURS,
    SHAPES,
    attributes_from_pixels,
    attributes_from_text,
    decode,
    encode,
    statements,
)


def test_what_questions_presuppose_their_attributes_and_yes_no_answers_say_presence():
    assert statements("what color is the triangle?", "blue") == [("shape", "triangle", True), ("colour", "blue", True)]
    assert statements("what is the red shape?", "circle") == [("colour", "red", True), ("shape", "circle", True)]
    assert statements("what shape is present?", "rectangle") == [("shape", "rectangle", True)]
    assert statements("is there a circle?", "no") == [("shape", "circle", False)]
    assert statements("is there not a circle in the image?", "no") == [("shape", "circle", True)]
    assert statements("is no gray shape present?", "yes") == [("colour", "gray", False)]
    assert statements("does the image not contain a teal shape?", "no") == [("colour", "teal", True)]
    with pytest.raises(ValueError, match="yes/no"):
        statements("is there a circle?", "blue")


def test_excluding_all_but_one_value_decides_it_and_contradictions_are_refused():
    rows = [
        ("is there a circle?", "no", 0),
        ("is there not a triangle?", "yes", 0),
        ("what color is the shape?", "brown", 0),
        ("is there a red shape?", "no", 1),  # decides nothing
    ]
    known = attributes_from_text(rows, 2)
    assert known.tolist() == [[SHAPES.index("rectangle"), list(COLOURS).index("brown")], [-1, -1]]
    with pytest.raises(ValueError, match="two shapes"):
        attributes_from_text([("what shape is present?", "circle", 0), ("what shape is present?", "triangle", 0)], 1)
    with pytest.raises(ValueError, match="state and exclude"):
        attributes_from_text([("what shape is present?", "circle", 0), ("is there a circle?", "no", 0)], 1)


def _draw(shape: str, colour: str, background=(240, 230, 220)) -> np.ndarray:
    """An image drawn by easy-VQA's rules (a shape of an exact colour on a uniform background)."""
    img = np.empty((64, 64, 3), np.uint8)
    img[:] = background
    yy, xx = np.mgrid[:64, :64]
    if shape == "rectangle":
        inside = (yy >= 10) & (yy < 40) & (xx >= 5) & (xx < 50)
    elif shape == "circle":
        inside = (yy - 30) ** 2 + (xx - 28) ** 2 <= 15**2
    else:  # a triangle on a horizontal base at the bottom: apex (10, 30), base y = 50 from x 10 to 50
        t = (yy - 10) / 40
        inside = (t >= 0) & (t <= 1) & (np.abs(xx - 30) <= 20 * t)
    img[inside] = COLOURS[colour]
    return img.transpose(2, 0, 1)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("colour", ["red", "teal", "black", "yellow"])
def test_the_pixels_give_the_drawn_shape_and_colour(shape, colour):
    assert attributes_from_pixels(_draw(shape, colour)) == (SHAPES.index(shape), list(COLOURS).index(colour))


def test_tokens_decode_back_to_the_question_and_answer():
    vocab = ("<pad>", "blue", "color", "is", "shape", "the", "what")
    ids = encode("what color is the shape?", "blue", vocab, 8)
    assert ids[-2:] == [0, 0] and decode(ids, vocab) == ("what color is the shape?", "blue")
    with pytest.raises(ValueError, match="longer"):
        encode("what color is the shape?", "blue", vocab, 5)


@pytest.fixture(scope="module")
def fetched():
    try:
        return {p: easyvqa.read_part(None, p) for p in ("train", "test")}
    except FileNotFoundError:
        pytest.skip("easy-VQA not fetched (`fusevae data fetch easyvqa`)")


def test_on_the_real_files_questions_and_pixels_agree_on_every_image_where_both_speak(fetched):
    for part in fetched.values():
        text = attributes_from_text(part.questions, len(part.images))
        pixels = np.array([attributes_from_pixels(im) for im in part.images])
        said = text >= 0
        assert said.mean() > 0.9  # the questions decide most attributes; the pixels the rest
        assert np.array_equal(text[said], pixels[said])


def test_on_the_real_files_every_item_decodes_to_its_question_and_the_split_is_by_image(fetched):
    from fusevae.data import load_dataset

    data = load_dataset("easyvqa")
    vocab = data.vocabularies["text"]
    train_rows = [r for r in fetched["train"].questions if r[1] in SHAPES or r[1] in COLOURS]
    test_rows = [r for r in fetched["test"].questions if r[1] in SHAPES or r[1] in COLOURS]
    assert data.test.n == len(test_rows) and data.train.n + data.valid.n == len(train_rows)
    for (q, a, _), tokens in zip(test_rows, data.test.data["text"]):
        assert decode(tokens, vocab) == (q, a)
    train_images = set(data.train.rows["image"].tolist())
    assert not train_images & set(data.valid.rows["image"].tolist())
    assert data.num_classes == 24 and set(data.test.labels.tolist()) == set(range(24))
    # coherence is also scored per factor: the class is shape * 8 + colour
    from fusevae.metrics.factors import factor_values

    assert data.class_factors == (("shape", 3), ("colour", 8))
    labels = data.test.labels[:50]
    parts = factor_values(labels, data.class_factors)
    assert [CLASS_NAMES[int(c)] for c in labels] == [
        f"{list(COLOURS)[int(c)]} {SHAPES[int(s)]}" for s, c in zip(parts["shape"], parts["colour"])
    ]
    everything = load_dataset("easyvqa-all")
    assert everything.test.n == len(fetched["test"].questions)


def test_a_short_run_trains_and_draws_text_from_images_and_images_from_text(tmp_path, fetched):
    from fusevae import api

    overrides = [
        "train.epochs=1",
        "train.limit_train=256",
        "train.limit_val=64",
        "train.threads=1",
        "model.latent_dim=8",
        "model.modalities.image.network_options.width=8",
        "model.modalities.text.network_options.hidden=16",
    ]
    cfg = api.make_config("mopoe", "easyvqa", overrides)
    api.train(cfg, out=tmp_path / "run", progress=False)
    paths = api.generate(tmp_path / "run", n=4)
    assert tmp_path / "run" / "figures" / "text_and_image.png" in paths
    assert (tmp_path / "run" / "figures" / "cross_image.png").exists()
    from fusevae.evaluation import EvaluationSettings

    settings = EvaluationSettings(coherence_items=64, joint_samples=64, judge_epochs=1, judge_items=512)
    out = api.evaluate(
        tmp_path / "run", k=4, n_test=16, progress=False, figures=False, metrics=["coherence"], settings=settings
    )
    scores = out["metrics"]
    for key in ("coherence image -> text (micro)", "coherence text -> image (micro)"):
        assert 0.0 <= scores[key] <= 1.0, key


def test_the_judge_free_colour_reader_names_faint_and_blurred_hues():
    """bench/easyvqa_colour_reader.py: a shape's colour mixed 20 % into a light background, blurred, still reads as
    that colour; a crisp shape too. (Black and gray are crisp here: a faint black cloud is a gray one.)"""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("colour_reader", "bench/easyvqa_colour_reader.py")
    reader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reader)
    g = torch.Generator().manual_seed(0)
    images, truth = [], []
    for i, rgb in enumerate(COLOURS.values()):
        background = 0.9 + 0.08 * torch.rand(3, generator=g)
        image = background[:, None, None].expand(3, 64, 64).clone()
        colour = torch.tensor(rgb, dtype=torch.float32) / 255
        share = 1.0 if i % 2 or i in (3, 4) else 0.2  # crisp, or a faint cloud
        r, c = 10 + 4 * i, 40 - 3 * i
        image[:, r : r + 14, c : c + 14] = (1 - share) * background[:, None, None] + share * colour[:, None, None]
        images.append(torch.nn.functional.avg_pool2d(image[None], 5, 1, 2, count_include_pad=False)[0])  # blurred
        truth.append(i)
    assert reader.read_colour(torch.stack(images)).tolist() == truth
