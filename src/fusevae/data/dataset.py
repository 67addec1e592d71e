"""`MultimodalData`: train / validation / test sets, what each modality is, and what evaluation reports."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import ModalityConfig
from .tensor_dataset import MultimodalTensorDataset

Subset = tuple[str, ...]


@dataclass(frozen=True)
class EvaluationSpec:
    """Which log-likelihoods a data set's table reports, beside the joint log p(X) of all modalities.

    `proposals`: subsets S whose q(z | x_S) proposes importance samples, each a row of the table,
    besides the full set's q(z | X) (always the first row). `marginals`: subsets A reported as
    log p(x_A) (None: each modality alone). `conditionals`: pairs (A, B) reported as
    log p(x_A | x_B) = log p(x_A, x_B) - log p(x_B) (None: each modality given all the others).
    SMVAE Table 1 on (image, label) is proposals [(image,)], marginals [(image,)] and
    conditionals [((image,), (label,))].
    """

    proposals: tuple[Subset, ...] = ()
    marginals: tuple[Subset, ...] | None = None
    conditionals: tuple[tuple[Subset, Subset], ...] | None = None

    def resolve(self, names: tuple[str, ...]) -> EvaluationSpec:
        """The spec with its defaults filled in for modalities `names` and every subset in model order."""

        def order(s: Subset) -> Subset:
            unknown = sorted(set(s) - set(names))
            if unknown or not s:
                raise ValueError(f"evaluation subset {list(s)} must name some of the modalities {list(names)}")
            return tuple(n for n in names if n in s)

        marginals = self.marginals if self.marginals is not None else tuple((n,) for n in names)
        if self.conditionals is not None:
            conditionals = self.conditionals
        else:
            conditionals = tuple(((n,), tuple(m for m in names if m != n)) for n in names) if len(names) > 1 else ()
        for a, b in conditionals:
            if set(a) & set(b):
                raise ValueError(f"conditional log p({','.join(a)} | {','.join(b)}): the two sets overlap")
        return EvaluationSpec(
            tuple(dict.fromkeys(order(s) for s in self.proposals if order(s) != names)),
            tuple(order(s) for s in marginals),
            tuple((order(a), order(b)) for a, b in conditionals),
        )

    def select(self, names: tuple[str, ...]) -> EvaluationSpec:
        """Only the parts that name modalities among `names` (for a data set reduced to them)."""
        keep = set(names)
        return EvaluationSpec(
            tuple(s for s in self.proposals if set(s) <= keep),
            None if self.marginals is None else tuple(s for s in self.marginals if set(s) <= keep),
            None
            if self.conditionals is None
            else tuple((a, b) for a, b in self.conditionals if set(a) <= keep and set(b) <= keep),
        )


@dataclass(frozen=True)
class Architecture:
    """The networks a data set's models use unless the user says otherwise."""

    modalities: tuple[ModalityConfig, ...]  # data fields and each modality's network family and options
    latent_dim: int = 64
    activation: str = "swish"
    decoder_activation: str | None = None

    def specs(self) -> list[ModalityConfig]:
        """Fresh copies, so that a config built from them never aliases the registry's."""
        return [copy.deepcopy(m) for m in self.modalities]


TABLE1 = EvaluationSpec(proposals=(("image",),), marginals=(("image",),), conditionals=((("image",), ("label",)),))


@dataclass
class MultimodalData:
    """Train/validation/test sets plus the description of each modality.

    `source` says where the data came from (a registered name, or a user's data spec with the
    content hash of its files), so a run folder can reload exactly the same data.
    """

    name: str
    modalities: list[ModalityConfig]  # data-side fields: name, kind, shape, num_classes, likelihood, networks
    train: MultimodalTensorDataset
    valid: MultimodalTensorDataset
    test: MultimodalTensorDataset
    num_classes: int = 10  # classes of the items' labels (what coherence scores); 0: no labels
    class_names: tuple[str, ...] | None = None
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    source: dict[str, Any] = field(default_factory=dict)
    # model-wide defaults for this data (latent size, activations); None: 64-d latent, Swish
    defaults: Architecture | None = None
    # where the class is a bitmask of presence attributes (bit q = class_bits[q]), their names: the presence AP reads it
    class_bits: tuple[str, ...] = ()
    # where the class is a code of named factors ((name, size), first most significant: easy-VQA's shape x colour),
    # coherence is also reported on each factor (metrics.factors)
    class_factors: tuple[tuple[str, int], ...] = ()
    # (inputs, target) translations a figure of this data shows (SMVAE Fig. 6 on the transformations)
    showcase: tuple[tuple[tuple[str, ...], str], ...] = ()
    # where test items are the steps of episodes (in order), each test item's episode: figures draw one over time
    test_episodes: Any = None
    # the words of each tokens modality by token id, for figures that print generated text
    vocabularies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.class_factors:
            from ..metrics.factors import check_factors

            check_factors(self.class_factors, self.num_classes)

    def architecture(self) -> Architecture:
        """The networks a model of this data uses unless the user says otherwise."""
        if self.defaults is not None:
            return replace(self.defaults, modalities=tuple(self.modalities))
        return Architecture(tuple(self.modalities))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modalities)

    @property
    def has_labels(self) -> bool:
        return self.num_classes > 0 and self.test.labels is not None

    def select(self, names: tuple[str, ...] | list[str]) -> MultimodalData:
        """The same data set with only the modalities `names` (for unimodal baselines)."""
        names = tuple(names)
        return replace(
            self,
            modalities=[m for m in self.modalities if m.name in names],
            train=self.train.select(names),
            valid=self.valid.select(names),
            test=self.test.select(names),
            evaluation=self.evaluation.select(names),
        )

    def content_hash(self) -> str | None:
        """The hash of the data's content when its source records one (user data), else None."""
        return self.source.get("hash")
