"""A judge-free reading of the colour of images generated from easy-VQA text: does the learned judge miss faint hues?

    python bench/easyvqa_colour_reader.py bench/runs/easyvqa

For each test item, z ~ q(z | text) is decoded into an image mean. Its background is the median colour of the
border pixels. The shape's hue is read from the 5 % of pixels farthest from the background: the palette colour whose
direction from the background best matches (cosine) theirs. Faint or blurred colour clouds keep their direction, so
this reader names their hue where a classifier trained on crisp shapes may not (except black against gray: a faint
black cloud is a gray one). It is checked on the real test images first. Only the items whose text names the
colour are scored: from the others the colour is not determined.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from fusevae.checkpoint import load_model
from fusevae.data import load_dataset
from fusevae.data.easyvqa import COLOURS, statements
from fusevae.metrics.classifier import ClassifierConfig, load_or_fit_classifier
from fusevae.metrics.factors import factor_values

PALETTE = torch.tensor(list(COLOURS.values()), dtype=torch.float32) / 255.0  # (8, 3)


def read_colour(images: torch.Tensor, top: float = 0.05) -> torch.Tensor:
    """Palette index of the hue of each (N, 3, H, W) image in [0, 1], by the direction from its background."""
    n = images.shape[0]
    border = torch.cat(
        [images[:, :, 0], images[:, :, -1], images[:, :, :, 0], images[:, :, :, -1]], dim=2
    )  # (N, 3, 4W)
    bg = border.median(dim=2).values  # (N, 3)
    flat = images.reshape(n, 3, -1)
    dev = flat - bg[:, :, None]
    k = max(1, int(top * flat.shape[2]))
    idx = dev.norm(dim=1).topk(k, dim=1).indices  # (N, k)
    direction = torch.gather(dev, 2, idx[:, None, :].expand(n, 3, k)).mean(2)  # (N, 3)
    towards = PALETTE[None] - bg[:, None, :]  # (N, 8, 3)
    cos = torch.nn.functional.cosine_similarity(direction[:, None, :], towards, dim=2)
    return cos.argmax(1)


def names_colour(tokens: torch.Tensor, vocab: tuple[str, ...]) -> bool:
    words = [vocab[int(t)] for t in tokens if int(t) != 0]
    q, a = " ".join(words[:-1]) + "?", words[-1]
    return any(kind == "colour" and present for kind, _, present in statements(q, a))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="the easyvqa benchmark folder")
    p.add_argument("--presets", nargs="+", default=["smvae", "mopoe", "mvae"])
    args = p.parse_args()
    data = load_dataset("easyvqa")
    test = data.test
    vocab = data.vocabularies["text"]
    colour = factor_values(test.labels, data.class_factors)["colour"]
    named = torch.tensor([names_colour(t, vocab) for t in test.data["text"]])
    real = test.values("image", torch.arange(len(test)))
    print(f"real test images: colour read right for {float((read_colour(real) == colour).float().mean()):.3f}")
    print(f"test items whose text names the colour: {int(named.sum())} of {len(test)}")
    print("| preset | text -> image colour, items naming it: this reader | the judge's class, same items |")
    print("|---|---|---|")
    # the benchmark's image judge (configs/benchmarks/easyvqa.yaml: pooled body, 3 epochs), from bench/judges
    judge = load_or_fit_classifier(data.train, test, "image", 24, "bench/judges", ClassifierConfig(arch="pooled"))
    for preset in args.presets:
        model, _ = load_model(Path(args.folder) / "runs" / preset / "seed0")
        model.eval()
        reads, judged = [], []
        torch.manual_seed(0)  # each preset's draws of z, whatever building the models consumed before
        with torch.no_grad():
            for block in torch.arange(len(test)).split(500):
                z = model.posterior(test[block], ["text"]).rsample()
                mean = model.nets["image"].mean(model.decode(z, ["image"])["image"])
                reads.append(read_colour(mean))
                judged.append(judge.net.predict(mean) % 8)
        reads, judged = torch.cat(reads), torch.cat(judged)
        ok = float((reads == colour)[named].float().mean())
        jok = float((judged == colour)[named].float().mean())
        print(f"| {preset} | {ok:.3f} | {jok:.3f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
