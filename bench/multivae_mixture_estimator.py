"""Why MultiVae 1.0.3's own log p(x,y) for its mixture models disagrees with fusevae's importance sampler (issue 16).

    /work/mv/bin/python bench/multivae_mixture_estimator.py bench/runs/peer-multivae/mopoe_e10_s0 --items 300
    /work/mv/bin/python bench/multivae_mixture_estimator.py bench/runs/peer-multivae/mmvae_e10_s1 --model mmvae

MultiVae's `compute_joint_nll` draws all K samples of an item from ONE mixture component and weights them by the
whole mixture's density: MoPoE picks the component by the item's position in the batch (thirds of the batch go to
q(z|image), q(z|label), q(z|image,label)); MMVAE picks one modality at random for the whole batch. That is not an
importance-sampling estimate of log p(x,y): it does not converge to it as K grows, and it depends on the component
an item gets. fusevae spreads each item's K samples over all components (stratified) and weights by the mixture,
which is consistent. This script scores one trained MultiVae model both ways, and MultiVae's form once per
component for every third test item. Needs the MultiVae environment of bench/multivae_reference.py.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cell", help="a --compare cell folder holding a MultiVae model's model.safetensors")
    p.add_argument("--model", choices=["mopoe", "mmvae"], default="mopoe")
    p.add_argument("--items", type=int, default=300, help="the first test items")
    p.add_argument("--k", type=int, default=1000)
    a = p.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    import multivae_reference as mr

    mr._register_inert_torchvision()
    mr._import_multivae()
    from multivae.data.datasets.base import MultimodalBaseDataset
    from peer_compare import build, external
    from safetensors.torch import load_file

    from fusevae.api import make_config
    from fusevae.data import load_dataset, make_batch
    from fusevae.metrics.likelihood import importance_log_likelihoods

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = build(a.model)
    model.load_state_dict(load_file(Path(a.cell) / "model.safetensors"))
    model.eval()
    test = load_dataset("mnist", binarize=True).test[torch.arange(a.items)]
    x, label = test.data["image"], test.data["label"]
    y = torch.nn.functional.one_hot(label, 10).float()
    with torch.no_grad():
        own = -float(model.compute_joint_nll(MultimodalBaseDataset(data={"image": x, "label": y}), K=a.k)) / a.items
        wrapped = external(model, a.model, make_config("mvae", "mnist").model.modalities)
        batch = make_batch({"image": x, "label": label}, ["image", "label"])
        ours = importance_log_likelihoods(wrapped, batch, ["image", "label"], {"xy": ["image", "label"]}, k=a.k)["xy"]
        print(f"{a.items} test items, K = {a.k}")
        print(f"MultiVae's compute_joint_nll: {own:.2f}")
        print(f"fusevae's importance sampler (stratified over the components): {float(ours.mean()):.2f}")
        if a.model == "mopoe":
            inf = model.inference(MultimodalBaseDataset(data={"image": x, "label": y}))
            mus, logvars = inf["mus"], inf["logvars"]  # (3, n, D) in MultiVae's subset order
            names = [k for k in model.subsets if k]
        else:  # MMVAE's unimodal experts
            outs = [model.encoders["image"](x), model.encoders["label"](y)]
            mus = torch.stack([o.embedding for o in outs])
            logvars = torch.stack([o.log_covariance for o in outs])
            names = ["image", "label"]
        normal = torch.distributions.Normal(0.0, 1.0)
        for c, name in enumerate(names):
            values = []
            for i in range(0, a.items, 3):
                z = mus[c, i] + torch.randn(a.k, mus.shape[-1]) * (0.5 * logvars[c, i]).exp()
                logits = model.decoders["image"](z).reconstruction.reshape(a.k, -1)
                lpx = torch.distributions.Bernoulli(logits=logits).log_prob(x[i].reshape(1, -1)).sum(-1)
                lpy = torch.log_softmax(model.decoders["label"](z).reconstruction, -1)[:, label[i]]
                comps = [torch.distributions.Normal(mus[j, i], (0.5 * logvars[j, i]).exp()) for j in range(len(names))]
                lq = torch.logsumexp(torch.stack([q.log_prob(z).sum(-1) for q in comps]), 0) - math.log(len(names))
                values.append(float(torch.logsumexp(lpx + lpy + normal.log_prob(z).sum(-1) - lq, 0) - math.log(a.k)))
            source = name.replace("_", ",")
            print(f"MultiVae's form with every sample from q(z|{source}): {sum(values) / len(values):.2f}")


if __name__ == "__main__":
    main()
