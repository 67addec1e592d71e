"""M2VAE (Korthals et al.): the recursive bound on log p(X) over every subset encoder (M2VAE eq. 4-11, 6.1.3).

log p(X) = 1/|X| (sum_m log p(m | X \\ m) + sum_m log p(X \\ m)) (eq. 28-30). The first sum is the
variation-of-information term, bounded as in JMVAE (eq. 3, 17-18): L^M_X = ELBO(X | q(z|X)) - alpha *
sum_m KL(q(z|X) || q(z|X \\ m)); the second recurses into the subsets one smaller, down to the unimodal
ELBOs (eq. 11):

    L^M2_X = 1/|X| (L^M_X + sum_m L^M2_{X \\ m}),      L^M2_{m} = ELBO(m | q(z|m)).

For two modalities this is eq. 6-10: 2 L = L_a + L_b + ELBO(a, b | q(z|a,b)) - alpha KL(q_ab || q_a) -
alpha KL(q_ab || q_b). Unrolled, a subset S of an item's present set X (|X| = n) enters with weight
1 / C(n, |S|) (there are (n - |S|)! paths down to it, each weighted by |S|! / n!), and its L^M_S term
with a further 1 / |S|; so every subset is evaluated once per step, as a batch dimension.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import ObjectiveConfig
from ..data.batch import Batch
from ..distributions import DiagGaussian
from ..model import MultimodalVAE
from ..subsets import nonempty_subsets, within
from .base import Objective, ObjectiveOutput
from .jmvae import check_kl_tied, kl_diag_gaussians


def recursion_weights(sizes: Tensor, n: Tensor) -> tuple[Tensor, Tensor]:
    """Weights of the unrolled eq. 11 for subsets of sizes `sizes` (T,) in sets of size `n` (B,).

    Returns (w_elbo, w_kl), each (T, B): the weight of the subset's ELBO (1 / C(n, |S|) for a single
    modality, 1 / (|S| C(n, |S|)) for a larger set, whose ELBO is part of L^M_S) and of its KL terms
    (the same as its ELBO's; none for a single modality). Subsets larger than n get 0.
    """
    k = sizes.unsqueeze(1).to(torch.float64)
    nn_ = n.unsqueeze(0).to(torch.float64)
    fits = k <= nn_
    log_binom = torch.lgamma(nn_ + 1) - torch.lgamma(k + 1) - torch.lgamma((nn_ - k).clamp(min=0) + 1)
    inv = torch.where(fits, torch.exp(-log_binom), torch.zeros_like(log_binom))
    w_elbo = torch.where(k >= 2, inv / k, inv)
    w_kl = torch.where(k >= 2, inv / k, torch.zeros_like(inv))
    return w_elbo.float(), w_kl.float()


class M2VAEObjective(Objective):
    """L^M2 of eq. 11 for each item's present set X, with beta per subset and alpha on the mutual KL terms.

    The subsets of X are all evaluated in one widened batch: each reconstructs its own modalities
    (eq. 7-9) with its own beta (objective.beta, or beta_norm * D_S / D_z, or subset_beta); every set
    of two or more is tied to its subsets one smaller by alpha * KL (eq. 10). Subset encoders with
    fusion.subsets='all' are the paper's model; any Gaussian fusion gives the same bound.
    """

    options = frozenset({"alpha", "beta_norm", "subset_beta"})

    def __init__(self, cfg: ObjectiveConfig, model: MultimodalVAE) -> None:
        super().__init__(cfg, model)
        check_kl_tied(cfg, model)
        m = len(model.names)
        self.table = nonempty_subsets(m)  # (T, M), smallest first
        rows = [tuple(r) for r in self.table.tolist()]
        index = {r: t for t, r in enumerate(rows)}
        parents, children = [], []
        for t, r in enumerate(rows):
            if sum(r) < 2:
                continue
            for i in range(m):
                if r[i]:
                    parents.append(t)
                    children.append(index[tuple(False if j == i else v for j, v in enumerate(r))])
        self.parents, self.children = torch.tensor(parents, dtype=torch.long), torch.tensor(children, dtype=torch.long)
        self.decode_sets = [frozenset(n for n, on in zip(model.names, r, strict=True) if on) for r in rows]

    def __call__(self, model: MultimodalVAE, batch: Batch, epoch: float | Tensor) -> ObjectiveOutput:
        mask = batch.mask
        table = self.table.to(mask.device)
        t, (b, m) = table.shape[0], mask.shape
        inside = within(table, mask)  # (T, B): subset t lies in item b's present set
        rows = table.unsqueeze(1).expand(t, b, m)
        # a subset outside an item's set has weight 0; it encodes the present set so that no encoder is missing
        rows = torch.where(inside.unsqueeze(-1), rows, mask.unsqueeze(0))
        betas = self.set_betas(rows, epoch)
        out = self.subset_bound(model, model.encode(batch), batch, rows, rows, betas, self.decode_sets)
        q = out.q
        if not isinstance(q, DiagGaussian):
            raise TypeError("scheme 'm2vae' needs Gaussian posteriors")
        w_elbo, w_kl = recursion_weights(table.sum(-1), mask.sum(-1))
        w_elbo, w_kl = w_elbo * inside, w_kl * inside
        elbo = (w_elbo * out.bound).sum(0)
        kl = out.bound.new_zeros(b)
        if len(self.parents):
            parents, children = self.parents.to(mask.device), self.children.to(mask.device)
            q_parent = DiagGaussian(q.mu.index_select(0, parents), q.logvar.index_select(0, parents))
            q_child = DiagGaussian(q.mu.index_select(0, children), q.logvar.index_select(0, children))
            kl = (w_kl.index_select(0, parents) * kl_diag_gaussians(q_parent, q_child)).sum(0)  # eq. 10
        bound = elbo - self.cfg.alpha * kl
        return ObjectiveOutput(
            -bound.mean(),
            {
                "bound": bound.mean().detach(),
                "kl_mutual": kl.mean().detach(),
                "beta": torch.as_tensor(betas if not isinstance(betas, Tensor) else betas.mean()).detach(),
            },
        )
