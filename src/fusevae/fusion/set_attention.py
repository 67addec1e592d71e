"""SMVAE's set-attention joint posterior (SMVAE eq. 7-8)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..distributions import DiagGaussian, bounded_logvar
from .base import Fusion
from .registry import register_fusion


class SetAttention(Fusion):
    """g(X_S) = H + f_s(H), H = I + MultiHead(I, X_S, X_S)  (SMVAE eq. 8).

    I is one trainable query, keys and values are the embeddings of the present
    modalities (a key padding mask hides the absent ones), and there is no positional
    encoding, so the output is invariant to the order of the modalities and defined for
    any non-empty subset. A linear head maps g to mu and a bounded log-variance (eq. 7).
    """

    consumes = "embeddings"

    def __init__(self, embed_dim: int, latent_dim: int, heads: int, logvar_min: float, logvar_max: float) -> None:
        super().__init__()
        if embed_dim % heads:
            raise ValueError(f"set_attention: embedding size {embed_dim} is not divisible by heads={heads}")
        self.query = nn.Parameter(torch.randn(1, 1, embed_dim) * embed_dim**-0.5)  # I in eq. 8
        self.attention = nn.MultiheadAttention(embed_dim, heads, batch_first=True)
        self.f_s = nn.Linear(embed_dim, embed_dim)  # the fully-connected f_s of eq. 8
        self.head = nn.Linear(embed_dim, 2 * latent_dim)  # g -> (mu, log sigma^2), eq. 7
        self.logvar_min, self.logvar_max = logvar_min, logvar_max

    def forward(self, inputs: DiagGaussian | Tensor, mask: Tensor) -> DiagGaussian:
        if isinstance(inputs, DiagGaussian):
            raise TypeError("SetAttention reads modality embeddings, got Gaussian experts")
        if mask.dim() != 2:
            raise ValueError(f"set_attention takes a modality mask (N, M), got shape {tuple(mask.shape)}")
        n = inputs.shape[0]
        empty = ~mask.any(dim=1)  # (N,)
        # an all-masked row would give softmax over nothing (NaN): let it see one key,
        # then replace its output by the prior below
        key_mask = mask | (empty.unsqueeze(1) & (torch.arange(mask.shape[1], device=mask.device) == 0))
        query = self.query.expand(n, 1, -1)
        attended, _ = self.attention(query, inputs, inputs, key_padding_mask=~key_mask, need_weights=False)
        h = query + attended  # H = I + MultiHead(I, X, X)
        g = (h + self.f_s(h)).squeeze(1)  # g = H + f_s(H)
        mu, raw = self.head(g).chunk(2, dim=-1)
        logvar = bounded_logvar(raw, self.logvar_min, self.logvar_max)
        keep = ~empty.unsqueeze(1)
        return DiagGaussian(torch.where(keep, mu, 0.0), torch.where(keep, logvar, 0.0))


register_fusion(
    "set_attention",
    lambda cfg, e: SetAttention(e, cfg.latent_dim, cfg.fusion.heads, cfg.logvar_min, cfg.logvar_max),
    "embeddings",
    description="set attention over the present modalities' embeddings (SMVAE eq. 8)",
)
