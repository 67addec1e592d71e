"""Every metric of a trained model on its data, by name: what `fusevae evaluate` and the benchmark run.

`likelihood`: the importance-sampled table of the data's evaluation spec; `subset_elbo`: M2VAE eq. 12,
the ELBO of every modality under each subset's encoder; `coherence`: cross coherence of every subset
-> missing judged modality and joint coherence; `joint_pairs`: with three or more modalities, the joint coherence
of each pair (comparable with a two-modality paper's); `presence`: where classes are bitmasks of presence attributes
(the scenes' layouts), the average precision of each attribute in generated data (a detector's kind of score);
`cross_error`: the mean squared error of each real-valued modality generated from each other one and from all
others; `synergy`: the gain against unimodal VAEs; `missing`: coherence with sensors dropped from a share of the
items; `latent`: linear probes per subset (and t-SNE maps when drawn). Judges and unimodal baselines are
cached under `cache_dir` (judges under `judge_dir` where one is given, a folder shared by several benchmarks),
keyed by the hash of the data and their config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ExperimentConfig
from .data import MultimodalData
from .locks import holding
from .metrics.likelihood import CONDITIONING
from .model import MultimodalVAE

METRICS = (
    "likelihood",
    "subset_elbo",
    "coherence",
    "joint_pairs",
    "presence",
    "synergy",
    "latent",
    "missing",
    "cross_error",
)


@dataclass
class EvaluationSettings:
    """Sizes and budgets of the metrics; the benchmark's config carries the same fields."""

    k: int = 1000  # importance samples for the likelihoods
    n_test: int = 1000  # test items for the likelihoods (0: all)
    precision: str = "32"
    coherence_items: int = 2000  # test items for cross coherence and synergy (0: all)
    joint_samples: int = 10_000  # prior samples for joint coherence
    elbo_k: int = 100  # samples of z per item for the subset ELBOs
    map_items: int = 1000  # test items in each t-SNE panel
    probe_items: int = 10_000  # training items the linear probes are fitted on
    judge_epochs: int = 3  # coherence judges: epochs on the training set ...
    judge_items: int = 0  # ... of its first n items (0: all)
    judge_seed: int = 0  # ... from this seed (initialisation and batch order); bench/judge_spread.py varies it
    judge_arch: str = "flat"  # ... with this image body (`ClassifierConfig.arch`: "flat" or "pooled")
    # the split scored: "test" for reported numbers, "valid" when a constant is being chosen (never on test)
    split: str = "test"
    missing_rates: tuple[float, ...] = (0.0, 0.25, 0.5)  # "missing": shares of items that lose each sensor
    # how log p(x_B) of a conditional log p(x_A | x_B) is estimated: "mixture" or "own" (`likelihood_table`)
    conditioning: str = "mixture"

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"evaluation split must be one of {list(SPLITS)}, got {self.split!r}")
        if self.conditioning not in CONDITIONING:
            raise ValueError(f"conditioning must be one of {list(CONDITIONING)}, got {self.conditioning!r}")
        from .metrics.classifier import JUDGE_ARCHS

        if self.judge_arch not in JUDGE_ARCHS:
            raise ValueError(f"judge_arch must be one of {list(JUDGE_ARCHS)}, got {self.judge_arch!r}")


SPLITS = ("test", "valid")


def check_metrics(metrics: list[str] | tuple[str, ...], data: MultimodalData | None = None) -> list[str]:
    """The metrics asked for, in order; "all" means every metric the data allows (coherence needs labels)."""
    asked = list(METRICS) if list(metrics) == ["all"] else list(metrics)
    unknown = sorted(set(asked) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; expected some of {list(METRICS)} or 'all'")
    if data is not None and not data.has_labels:
        needs = [m for m in asked if m in ("coherence", "joint_pairs", "presence", "synergy", "latent", "missing")]
        if needs and list(metrics) != ["all"]:
            raise ValueError(f"metrics {needs} need class labels, and data set {data.name!r} has none")
        asked = [m for m in asked if m not in needs]
    if data is not None and "joint_pairs" in asked and len(data.names) < 3:
        if list(metrics) != ["all"]:
            raise ValueError(
                f"metric 'joint_pairs' needs three or more modalities (with two it is the joint coherence), and data "
                f"set {data.name!r} has {len(data.names)}"
            )
        asked.remove("joint_pairs")
    if data is not None and "presence" in asked and not data.class_bits:
        if list(metrics) != ["all"]:
            raise ValueError(
                f"metric 'presence' needs classes that are bitmasks of named attributes (class_bits, as the scenes' "
                f"layouts), and data set {data.name!r} has none"
            )
        asked.remove("presence")
    return asked


def coherence_by_inputs(cells: list[Any]) -> dict[str, float]:
    """Cross coherence averaged over every (subset, target) cell with k inputs, for each k (MoPoE's Fig. 3 / Table 2
    layout on PolyMNIST); only when some k has more than one cell."""
    by_k: dict[int, list[float]] = {}
    for c in cells:
        by_k.setdefault(len(c.inputs), []).append(c.micro)
    if all(len(v) == 1 for v in by_k.values()):
        return {}
    return {f"coherence from {k} input{'s' * (k > 1)} (mean, micro)": sum(v) / len(v) for k, v in sorted(by_k.items())}


class Evaluator:
    """Runs the named metrics of models on one data set, with judges cached once for all of them."""

    def __init__(
        self,
        data: MultimodalData,
        cache_dir: str | os.PathLike[str],
        settings: EvaluationSettings | None = None,
        judge_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data, self.cache_dir = data, Path(cache_dir)
        # judges trained on another machine are not bit-identical (other float kernels): a folder shared by every
        # benchmark and kept with the results lets all of a table's cells, on any machine, be judged by one set
        self.judge_dir = Path(judge_dir) if judge_dir else self.cache_dir
        self.settings = settings or EvaluationSettings()
        self._judges: dict[str, Any] | None = None
        self._levels_accuracy: dict[str, tuple[float, float]] = {}
        self._factor_accuracy: dict[str, dict[str, float]] = {}

    @property
    def scored(self) -> Any:
        """The split the metrics read: the test set, or the validation set while choosing constants."""
        return self.data.valid if self.settings.split == "valid" else self.data.test

    @property
    def coherence_set(self) -> Any:
        """The items coherence and synergy are scored on: the first `coherence_items` of the scored split."""
        n = self.settings.coherence_items
        return self.scored.subset(n) if n else self.scored

    def judges(self) -> dict[str, Any]:
        """Judge classifiers of every modality that is not a label, trained on the data's labels and cached."""
        from .metrics.classifier import ClassifierConfig, load_or_fit_classifier

        if self._judges is None:
            s, data = self.settings, self.data
            jcfg = ClassifierConfig(
                epochs=s.judge_epochs, max_items=s.judge_items or None, seed=s.judge_seed, arch=s.judge_arch
            )
            self._judges = {}
            for m in data.modalities:
                if m.kind == "label":
                    continue
                with holding(self.judge_dir / f"classifier-{m.name}"):  # one worker fits it, the others load it
                    self._judges[m.name] = load_or_fit_classifier(
                        data.train, data.test, m.name, data.num_classes, self.judge_dir, jcfg
                    )
        return self._judges

    def likelihoods(self, model: MultimodalVAE, progress: bool = False) -> dict[str, Any]:
        from .metrics.likelihood import likelihood_table

        s = self.settings
        return likelihood_table(
            model,
            self.scored,
            self.data.evaluation,
            k=s.k,
            n=s.n_test or None,
            progress=progress,
            precision=s.precision,
            conditioning=s.conditioning,
        )

    def unimodal_baselines(self, cfg: ExperimentConfig, modalities: list[str]) -> dict[str, MultimodalVAE]:
        """The synergy baselines of a model trained by `cfg`: one unimodal VAE per modality, cached in the folder."""
        from .metrics.synergy import unimodal_baseline

        return {m: unimodal_baseline(cfg, self.data, m, self.cache_dir / "unimodal") for m in modalities}

    def baseline_scores(
        self, cfg: ExperimentConfig, modalities: list[str], seed: int = 0
    ) -> dict[str, tuple[float, float, float]]:
        """Per modality: U, the baseline's rate in nats (below MIN_BASELINE_RATE: collapsed) and its KL hold, on
        the items and noise `run` scores synergy with, from this folder's baselines (each loaded once)."""
        from .metrics.synergy import baseline_hold, baseline_rates, unimodal_scores

        nets = {m: j.net for m, j in self.judges().items()}
        base = self.unimodal_baselines(cfg, modalities)
        u = unimodal_scores(base, self.coherence_set, nets, self.data.num_classes, seed=seed)
        rates = baseline_rates(base, self.coherence_set)
        return {m: (u[m], rates[m], baseline_hold(base[m])) for m in modalities}

    def run(
        self,
        model: MultimodalVAE,
        cfg: ExperimentConfig,
        metrics: list[str] | tuple[str, ...] = METRICS,
        seed: int = 0,
        map_path: str | os.PathLike[str] | None = None,
        progress: bool = False,
        on_stage: Any = None,
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """(flat metrics: name -> value, the full likelihood table or {}) for one model.

        `on_stage(name)` is called as each metric starts (the benchmark's progress bar).
        """
        from .metrics.coherence import cross_coherence, judged_names, prior_predictions

        model.eval()
        s, data = self.settings, self.data
        out: dict[str, float] = {}
        table: dict[str, Any] = {}
        asked = check_metrics(metrics, data)
        stage = on_stage or (lambda name: None)
        if "likelihood" in asked:
            stage("likelihoods")
            table = self.likelihoods(model, progress)
            for proposal, cols in table.items():
                if proposal.startswith("q(z"):  # standard errors stay in the full table
                    out.update({f"{c} from {proposal}": v for c, v in cols.items() if not c.endswith(" se")})
        if "subset_elbo" in asked:
            stage("subset elbos")
            from .metrics.subset_elbo import subset_elbo_table

            elbos = subset_elbo_table(model, self.scored, k=s.elbo_k, n_items=s.n_test or None, seed=seed)
            out.update({f"ELBO q(z|{k})": v for k, v in elbos.items()})
        test = self.coherence_set
        if "coherence" in asked:
            stage("coherence")
            nets = {m: j.net for m, j in self.judges().items()}
            cells = cross_coherence(model, test, nets, seed=seed, factors=data.class_factors)
            for c in cells:
                key = f"coherence {'+'.join(c.inputs)} -> {c.target}"
                out[f"{key} (micro)"], out[f"{key} (macro)"] = c.micro, c.macro
                out.update({f"{key} ({f})": v for f, v in c.factors.items()})
            out.update(coherence_by_inputs(cells))
        # joint coherence (metric coherence) and that of each pair (joint_pairs) from one decode of the prior samples
        judges = {m: j.net for m, j in self.judges().items()} if {"coherence", "joint_pairs"} & set(asked) else {}
        judged = judged_names(model, judges)
        want_all, want_pairs = "coherence" in asked and len(judged) > 1, "joint_pairs" in asked and len(judged) > 2
        if want_all or want_pairs:
            stage("joint coherence of pairs" if want_pairs else "coherence")
            prior = prior_predictions(model, judges, n=s.joint_samples, seed=seed)
            if want_all:
                out["joint coherence"] = prior.all_agree()
                if data.class_factors:
                    from .metrics.factors import joint_factor_agreement

                    agree = joint_factor_agreement(prior.classes, data.class_factors)
                    out.update({f"joint coherence ({f})": v for f, v in agree.items()})
            if want_pairs:
                out.update({f"joint coherence {a}+{b}": v for (a, b), v in prior.pairs().items()})
        if "presence" in asked:
            stage("presence")
            from .metrics.presence import presence_ap

            nets = {m: j.net for m, j in self.judges().items()}
            for c in presence_ap(model, test, nets, data.class_bits, seed=seed):
                key = f"presence {'+'.join(c.inputs)} -> {c.target}"
                out[f"{key} (mAP)"] = c.mean_ap
                out.update({f"{key}: AP {bit}": v for bit, v in c.ap.items()})
        if "synergy" in asked and len(model.names) > 1:
            stage("synergy")
            from .metrics.synergy import synergy

            nets = {m: j.net for m, j in self.judges().items()}
            judged = [m for m in model.names if m in nets or model.nets[m].cfg.kind == "label"]
            base = self.unimodal_baselines(cfg, judged)
            for g in synergy(model, base, test, nets, data.num_classes, seed=seed):
                if g.gain is not None:  # a collapsed baseline gives no G: its rate says why
                    out[f"synergy {g.modality}"] = g.gain
                # its parts: a baseline retrained elsewhere (another machine) shows as another U between cells
                out[f"synergy {g.modality}: S from all"] = g.joint
                out[f"synergy {g.modality}: U unimodal"] = g.unimodal
                out[f"synergy {g.modality}: baseline rate (nats)"] = g.rate
                out[f"synergy {g.modality}: baseline KL hold"] = g.hold
        if "missing" in asked:
            stage("missing sensors")
            from .metrics.missing import coherence_with_missing

            nets = {m: j.net for m, j in self.judges().items()}
            for c in coherence_with_missing(model, test, nets, s.missing_rates, seed=seed):
                out[f"missing {c.dropped} {c.rate:.0%}: coherence of {c.target} (micro)"] = c.micro
        if "cross_error" in asked:
            stage("cross error")
            from .metrics.cross_error import cross_error

            for c in cross_error(model, test, seed=seed):
                out[f"error {'+'.join(c.inputs)} -> {c.target} (MSE)"] = c.mse
        if "latent" in asked:
            stage("latent maps")
            from .metrics.latent import latent_maps

            probes = latent_maps(
                model,
                data.train,
                self.scored,
                map_path or self.cache_dir / "latent.png",
                n_map=s.map_items,
                n_probe=s.probe_items,
                seed=seed,
                class_names=data.class_names,
                draw=map_path is not None,
            )
            out.update({f"probe {k}": v for k, v in probes.items()})
        return out, table

    def judge_accuracies(self) -> dict[str, dict[str, float]]:
        """Each judge's test accuracy (micro, macro); for test images binarised once, also on the grey levels they
        were drawn from (micro_levels, macro_levels): coherence judges decoded Bernoulli means, which are grey levels,
        and binarising costs a judge much of what it sees (Fashion-MNIST's texture)."""
        if self._judges is None:
            return {}
        from .metrics.classifier import accuracies, present_items

        out = {m: {"micro": j.accuracy, "macro": j.macro_accuracy} for m, j in self._judges.items()}
        test = self.data.test
        grey = test.at_levels()
        if grey is not None and test.labels is not None:
            for m, j in self._judges.items():
                if m not in test.levels:
                    continue
                if m not in self._levels_accuracy:
                    items = present_items(test, m, None)
                    pred = j.net.predict(grey.values(m, items))
                    self._levels_accuracy[m] = accuracies(pred, test.labels[items], self.data.num_classes)
                out[m]["micro_levels"], out[m]["macro_levels"] = self._levels_accuracy[m]
        if self.data.class_factors and test.labels is not None:  # what each judge reads of each factor of real data
            from .metrics.factors import factor_agreement

            for m, j in self._judges.items():
                if m not in self._factor_accuracy:
                    items = present_items(test, m, None)
                    pred = j.net.predict(test.values(m, items))
                    self._factor_accuracy[m] = factor_agreement(pred, test.labels[items], self.data.class_factors)
                out[m].update({f"factor {f}": v for f, v in self._factor_accuracy[m].items()})
        return out
