"""MultiVae models trained on fusevae's binarised-MNIST protocol and scored by fusevae's evaluator (see
multivae_reference.py --compare). Needs MultiVae 1.0.3 in the environment; imported by that script only."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

LATENT = 64
NAMES = ("image", "label")


def _multivae_nets() -> tuple[Any, Any]:
    """MultiVae encoder / decoder classes: 784-512-512 and 10-512-512 ReLU MLPs, decoders 64-512-512-out."""
    from multivae.models.nn.base_architectures import BaseDecoder, BaseEncoder
    from pythae.models.base.base_utils import ModelOutput

    class Encoder(BaseEncoder):
        def __init__(self, d_in: int) -> None:
            super().__init__()
            self.latent_dim = LATENT
            self.net = nn.Sequential(nn.Linear(d_in, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU())
            self.mu, self.logvar = nn.Linear(512, LATENT), nn.Linear(512, LATENT)

        def forward(self, x: torch.Tensor) -> ModelOutput:
            h = self.net(x.reshape(x.shape[0], -1))
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self, shape: tuple[int, ...]) -> None:
            super().__init__()
            self.shape = shape
            out = 1
            for s in shape:
                out *= s
            self.net = nn.Sequential(
                nn.Linear(LATENT, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, out)
            )

        def forward(self, z: torch.Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=self.net(z).reshape(*z.shape[:-1], *self.shape))

    return Encoder, Decoder


def build(name: str, comparable: bool = True) -> Any:
    """A MultiVae model with MultiVae's defaults; `comparable`: MMVAE with Gaussian posteriors and a fixed N(0, I)
    prior, which fusevae's estimator assumes (MultiVae's own are Laplace and learned; the speed mode keeps them)."""
    from multivae.models import JMVAE, MMVAE, MVAE, JMVAEConfig, MMVAEConfig, MoPoE, MoPoEConfig, MVAEConfig

    encoder, decoder = _multivae_nets()
    common = {
        "n_modalities": 2,
        "latent_dim": LATENT,
        "input_dims": {"image": (1, 28, 28), "label": (10,)},
        "decoders_dist": {"image": "bernoulli", "label": "categorical"},
    }
    kinds = {
        "mvae": (MVAE, MVAEConfig, {}),
        "mopoe": (MoPoE, MoPoEConfig, {}),
        "mmvae": (
            MMVAE,
            MMVAEConfig,
            {"K": 10, **({"prior_and_posterior_dist": "normal", "learn_prior": False} if comparable else {})},
        ),
        "jmvae": (JMVAE, JMVAEConfig, {}),
    }
    cls, config, extra = kinds[name]
    return cls(
        config(**common, **extra),
        encoders={"image": encoder(784), "label": encoder(10)},
        decoders={"image": decoder((1, 28, 28)), "label": decoder((10,))},
    )


def multivae_inputs(data: dict[str, torch.Tensor]) -> Any:
    """fusevae's (image, integer label) rows as MultiVae's input: the label one-hot."""
    from multivae.data.datasets.base import MultimodalBaseDataset

    y = torch.nn.functional.one_hot(data["label"].long(), 10).float()
    return MultimodalBaseDataset(data={"image": data["image"], "label": y})


class _Reconstruction(nn.Module):
    """A MultiVae decoder as z -> likelihood parameters (Bernoulli logits, categorical logits)."""

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).reconstruction


def external(model: Any, name: str, specs: list[Any]) -> Any:
    """The MultiVae model behind fusevae's ExternalModel: q(z | x_S) per model family, the decoders as they are.

    mvae: MultiVae's product of the subset's experts and the prior (compute_mu_log_var_subset); mopoe: the
    uniform mixture of the PoE of every non-empty subset of S (the PoE of the full set includes the prior, as
    MultiVae's inference does); mmvae: the uniform mixture of S's unimodal Gaussians; jmvae: the joint encoder
    for both modalities, each unimodal encoder alone.
    """
    from fusevae.external import ExternalModel

    def posterior(data: dict[str, torch.Tensor], subset: tuple[str, ...]):  # noqa: ANN202
        inputs = multivae_inputs(data)
        if name == "mvae":
            return model.compute_mu_log_var_subset(inputs, list(subset))
        if name == "mopoe":
            subsets = model.inference(inputs)["subsets"]
            chosen = [k for k, mods in model.subsets.items() if k and set(mods) <= set(subset)]
            return [tuple(subsets[k]) for k in chosen]
        if name == "mmvae":
            outs = [model.encoders[m](inputs.data[m]) for m in subset]
            return [(o.embedding, o.log_covariance) for o in outs]
        if name == "jmvae":
            if len(subset) == len(NAMES):
                o = model.joint_encoder(inputs.data)
            else:
                o = model.encoders[subset[0]](inputs.data[subset[0]])
            return o.embedding, o.log_covariance
        raise ValueError(name)

    decoders = {m: _Reconstruction(model.decoders[m]) for m in NAMES}
    return ExternalModel(specs, LATENT, posterior, decoders)


def binarised_training_set(images: torch.Tensor, labels: torch.Tensor) -> Any:
    """MNIST training items as a MultiVae data set whose image is binarised afresh at every draw (fusevae's
    training protocol)."""
    from multivae.data.datasets.base import MultimodalBaseDataset
    from pythae.data.datasets import DatasetOutput

    class Binarised(MultimodalBaseDataset):
        def __getitem__(self, index: int) -> Any:
            x = torch.bernoulli(self.data["image"][index])
            return DatasetOutput(data={"image": x, "label": self.data["label"][index]}, labels=self.labels[index])

    return Binarised({"image": images, "label": torch.nn.functional.one_hot(labels, 10).float()}, labels)


def compare(name: str, epochs: int, seed: int, a: argparse.Namespace) -> None:
    """Train (unless done) and score one cell; writes <out>/<name>_e<epochs>_s<seed>/{model.safetensors,result.json}."""
    from multivae.data.datasets.base import MultimodalBaseDataset
    from multivae.trainers import BaseTrainer, BaseTrainerConfig
    from safetensors.torch import load_file, save_file

    from fusevae.api import make_config
    from fusevae.data import load_dataset
    from fusevae.evaluation import EvaluationSettings, Evaluator

    cell = Path(a.out) / f"{name}_e{epochs}_s{seed}"
    if (cell / "result.json").exists():
        return
    cell.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(a.threads)
    data = load_dataset("mnist", binarize=True)  # fusevae's fixed binarised test set
    torch.manual_seed(seed)
    model = build(name)
    weights = cell / "model.safetensors"
    train_s = None
    if weights.exists():
        model.load_state_dict(load_file(weights))
    else:
        grey = load_dataset("mnist")
        trainer_cfg = BaseTrainerConfig(
            output_dir=str(cell / "trainer"), per_device_train_batch_size=128, num_epochs=epochs,
            learning_rate=1e-3, no_cuda=True, steps_saving=None, seed=seed,
        )  # fmt: skip
        n = a.limit_train or len(grey.train)  # all 50k unless a smoke test asks for fewer
        train = binarised_training_set(grey.train.data["image"][:n], grey.train.labels[:n])
        trainer = BaseTrainer(model, train_dataset=train, training_config=trainer_cfg)
        start = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - start
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
    model.eval()
    specs = make_config("mvae", "mnist").model.modalities
    wrapped = external(model, name, specs)
    settings = EvaluationSettings(
        k=a.k, n_test=a.n_test, coherence_items=a.coherence_items, joint_samples=a.joint_samples
    )
    torch.manual_seed(seed)
    evaluator = Evaluator(data, a.judges, settings)
    metrics, table = evaluator.run(wrapped, None, ["likelihood", "coherence"], seed=seed)
    # MultiVae's own estimate of log p(x, y) on the same test items and K
    test = data.test[torch.arange(a.n_test)]
    inputs = MultimodalBaseDataset(
        data={"image": test.data["image"], "label": torch.nn.functional.one_hot(test.data["label"], 10).float()}
    )
    with torch.no_grad():
        own = -float(model.compute_joint_nll(inputs, K=a.k)) / a.n_test
    result = {
        "model": name,
        "epochs": epochs,
        "seed": seed,
        "metrics": metrics,
        "multivae log p(image,label)": own,
        "train s": train_s,
        "threads": a.threads,  # torch threads while training: train s is comparable only at equal threads and load
        "settings": {"k": a.k, "n_test": a.n_test, "coherence_items": a.coherence_items, "joint": a.joint_samples},
        "train items": a.limit_train or 50000,
        "judges": evaluator.judge_accuracies(),  # which judge scored it: the table says when rows' judges differ
    }
    (cell / "result.json").write_text(json.dumps(result, indent=2))
    print(name, epochs, seed, f"fusevae {metrics['log p(image,label) from q(z|image,label)']:.2f}, own {own:.2f}")
