"""What ``dfviewer evaluate`` reports: the :class:`EvaluationReport`, its JSON, Markdown and plots.

The scores themselves are computed in :mod:`~dfviewer.core.evaluation` and
:mod:`~dfviewer.core.rendering_eval`; this module only presents them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.atomic import atomic_write_text
from dfviewer.core.png_plots import line_plot
from dfviewer.wording import plural

CALIBRATION_BINS = 10

SETTINGS_TEXT = (
    "Images in target units normalised by the checkpoint ((y - offset) / scale) and clipped to [0, 1]; "
    "PSNR per image with data_range=1; SSIM with a Gaussian window (sigma 1.5, 11 taps), "
    "use_sample_covariance=False, data_range=1; mean +/- std over images. Uncertainty inside the lung "
    "masks (whole image where none): Spearman(total sigma, |error|) per image and pooled, and AUSE "
    "(Ilg et al. 2018, MAE, fractions 0-0.95, oracle-subtracted) per image; coverage pooled over pixels, GGD interval of the "
    "aleatoric alpha/beta and Gaussian interval of total sigma; UCE/ENCE of total sigma over "
    f"{CALIBRATION_BINS} equal-count bins."
)


@dataclass
class EvaluationReport:
    """Per-stage metrics (``stages``), curves for the plots, per-image rows and the settings."""

    model: str
    data: str
    split: str
    mc_samples: int
    n_images: int
    stages: dict[int, dict[str, Any]]
    curves: dict[int, dict[str, Any]]
    per_image: list[dict[str, Any]]
    settings: str = SETTINGS_TEXT
    notes: list[str] = field(default_factory=list)
    #: image metrics of the noise-free truth against the measured one (simulations only):
    #: what a generator that knew the signal exactly would score
    reference: dict[str, Any] | None = None
    #: per stage k > 1 and metric: on how many images stage k beats stage k - 1, and the mean change
    paired: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: when the split has clean and out-of-distribution cases: per group, the number of images, the
    #: image metrics per stage and the paired stage comparison on that group alone
    by_group: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: scores by clinical rendering (:func:`dfviewer.core.rendering_eval.evaluate_renderings`), when asked
    renderings: dict[str, Any] | None = None
    #: pairs left out, each ``{"case", "reason"}`` (one sentence)
    failed: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _finite({
            "model": self.model, "data": self.data, "split": self.split, "mc_samples": self.mc_samples,
            "n_images": self.n_images, "settings": self.settings, "notes": self.notes,
            "stages": {str(k): v for k, v in self.stages.items()},
            "curves": {str(k): v for k, v in self.curves.items()},
            "reference_noise_free": self.reference,
            "paired": {str(k): v for k, v in self.paired.items()},
            "by_group": self.by_group,
            "renderings": self.renderings,
            "per_image": self.per_image,
            "failed": self.failed,
        })

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def to_markdown(self) -> str:
        """A Markdown table per stage plus the settings."""

        def pm(d: dict[str, Any] | None, fmt: str) -> str:
            if not d or d.get("mean") is None or not math.isfinite(d["mean"]):
                return "n/a"
            return f"{d['mean']:{fmt}} ± {d['std']:{fmt}}"

        def num(v: Any, fmt: str) -> str:
            return "n/a" if v is None or not math.isfinite(v) else f"{v:{fmt}}"

        lines = [
            f"Evaluation of `{self.model}` on `{self.data}` (split {self.split}, {plural(self.n_images, 'image')}, "
            f"T = {self.mc_samples} MC samples)",
            "",
            "| Stage | MSE | PSNR (dB) | SSIM | Spearman(σ, abs err) per image / pooled | AUSE "
            "| GGD 50 % / 90 % | Gauss(total) 50 % / 90 % | UCE | ENCE |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for k, s in sorted(self.stages.items()):
            lines.append(
                f"| {k} | {pm(s['mse'], '.4f')} | {pm(s['psnr'], '.2f')} | {pm(s['ssim'], '.3f')} | "
                f"{pm(s['spearman'], '.2f')} / {num(s.get('spearman_pooled'), '.2f')} | {pm(s['ause'], '.3f')} | "
                f"{num(s['coverage_ggd'].get('0.5'), '.2f')} / {num(s['coverage_ggd'].get('0.9'), '.2f')} | "
                f"{num(s['coverage_total'].get('0.5'), '.2f')} / {num(s['coverage_total'].get('0.9'), '.2f')} | "
                f"{num(s['uce'], '.2e')} | {num(s['ence'], '.3f')} |"
            )
        ood_rows = [(k, s["epistemic"], s["epistemic_lungs"]) for k, s in sorted(self.stages.items())
                    if s["epistemic"].get("ood") is not None and s["epistemic"].get("clean") is not None]
        if ood_rows:
            lines += ["", "Mean epistemic σ (normalised units), clean vs out-of-distribution (devices) cases:", "",
                      "| Stage | image: clean | image: OOD | ratio | lungs: clean | lungs: OOD | ratio |",
                      "|---|---|---|---|---|---|---|"]
            for k, e, el in ood_rows:
                lines.append(
                    f"| {k} | {num(e['clean'], '.4g')} | {num(e['ood'], '.4g')} | {num(e['ratio'], '.2f')} | "
                    f"{num(el['clean'], '.4g')} | {num(el['ood'], '.4g')} | {num(el['ratio'], '.2f')} |"
                )
        dev_rows = [(k, s["epistemic_devices"], s.get("mse_devices", {})) for k, s in sorted(self.stages.items())
                    if s.get("epistemic_devices", {}).get("n_images")]
        if dev_rows:
            lines += ["", f"Mean epistemic σ and MSE on the pixels of inserted devices against the rest of the same "
                      f"images ({dev_rows[0][1]['n_images']} images with a device mask):", "",
                      "| Stage | σ_ep: device pixels | other pixels | ratio | MSE: device pixels | other pixels |",
                      "|---|---|---|---|---|---|"]
            for k, d, m in dev_rows:
                lines.append(f"| {k} | {num(d['inside'], '.4g')} | {num(d['beside'], '.4g')} | {num(d['ratio'], '.2f')} | "
                             f"{num(m.get('inside'), '.4f')} | {num(m.get('beside'), '.4f')} |")
        if self.paired:
            lines += ["", "Stage against the stage before it, paired per image (images where it is better; mean change):", "",
                      "| Stage | MSE | PSNR (dB) | SSIM |", "|---|---|---|---|"]
            for k, p in sorted(self.paired.items()):
                cells = [f"{p[m]['better']}/{p[m]['n']} ({p[m]['mean_change']:+.4g})" if p.get(m) else "n/a"
                         for m in ("mse", "psnr", "ssim")]
                lines.append(f"| {k - 1} → {k} | " + " | ".join(cells) + " |")
        if self.by_group:
            lines += ["", "Image quality on clean and out-of-distribution cases apart (stage against the one before it: "
                      "images where it is better):", "",
                      "| Cases | Stage | MSE | PSNR (dB) | SSIM | better: MSE / PSNR / SSIM |", "|---|---|---|---|---|---|"]
            for group, g in self.by_group.items():
                for k, q in sorted(g["stages"].items()):
                    p = g["paired"].get(k, {})
                    better = " / ".join(f"{p[m]['better']}/{p[m]['n']}" if p.get(m) else "n/a"
                                        for m in ("mse", "psnr", "ssim")) if p else ""
                    lines.append(f"| {group} ({g['n']}) | {k} | {pm(q['mse'], '.4f')} | {pm(q['psnr'], '.2f')} | "
                                 f"{pm(q['ssim'], '.3f')} | {better} |")
        if self.reference:
            r = self.reference
            lines += ["", f"Reference: the noise-free simulated dark-field scored against the measured one "
                      f"({r['n']} images), the best a generator could reach on these targets: MSE {pm(r['mse'], '.4f')}, "
                      f"PSNR {pm(r['psnr'], '.2f')} dB, SSIM {pm(r['ssim'], '.3f')}."]
        if self.renderings:
            lines += ["", renderings_markdown(self.renderings).rstrip("\n")]
        lines += ["", f"Settings: {self.settings}"]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.floating):
        return _finite(float(value))
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def renderings_markdown(result: dict[str, Any]) -> str:
    """A Markdown table of :func:`evaluate_renderings`' result."""
    last = str(result["last_stage"])

    def f(d: dict[str, Any] | None, fmt: str) -> str:
        if not d or d.get("mean") is None:
            return "n/a"
        return f"{d['mean']:{fmt}} ± {d['std']:{fmt}}"

    lines = [
        f"### By rendering ({result['n_images']} images, {result['renderings_per_family']} renderings per family, "
        f"T = {result['mc_samples']})",
        "",
        f"| family | views | stage 1 MSE | stage {last} MSE | stage {last} PSNR | stage {last} SSIM | MSE / raw | "
        "consistency r | median total σ (lungs) | max total σ | Spearman (lungs) | flagged |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family, d in result["families"].items():
        st = d["stages"]
        flagged = "n/a" if d["flagged_fraction"] is None else f"{100 * d['flagged_fraction']:.1f} %"
        lines.append(
            f"| {family} | {d['views']} | {f(st['1']['mse'], '.4f')} | {f(st[last]['mse'], '.4f')} | "
            f"{f(st[last]['psnr'], '.2f')} | {f(st[last]['ssim'], '.3f')} | {d['mse_ratio_to_raw']:.3f} | "
            f"{f(d['consistency_r'], '.3f')} | {f(d['median_total_sigma_lungs'], '.4f')} | "
            f"{d['max_total_sigma']:.4f} | {f(d['spearman_lungs'], '.3f')} | {flagged} |"
        )
    lines.append("")
    lines.append("σ in network units (the dark-field divided by the model's target scale); consistency: Pearson r "
                 "inside the body of the last stage's mean against the same image's raw-input prediction.")
    return "\n".join(lines) + "\n"


def write_plots(report: EvaluationReport, folder: str | Path) -> list[Path]:
    """PNG plots: per-stage metrics, sparsification vs oracle, calibration (coverage)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ks = sorted(report.stages)
    written = []
    for name, label in (("mse", "MSE"), ("psnr", "PSNR (dB)"), ("ssim", "SSIM")):
        means = [report.stages[k][name]["mean"] for k in ks]
        stds = [report.stages[k][name]["std"] for k in ks]
        series = [(label, ks, means, False, 0)]
        if all(m is not None for m in means):
            series += [("mean - std", ks, [m - s for m, s in zip(means, stds)], True, 1),
                       ("mean + std", ks, [m + s for m, s in zip(means, stds)], True, 1)]
        written.append(line_plot(folder / f"metric_{name}.png", series, f"{label} per stage ({report.split})",
                                 "stage", label, xlim=(0.8, ks[-1] + 0.2), xticks=ks))
    series = []
    for k in ks:
        c = report.curves[k]
        series += [(f"stage {k}", c["fractions"], c["sparsification"], False, k - 1),
                   (f"stage {k} oracle", c["fractions"], c["oracle"], True, k - 1)]
    written.append(line_plot(folder / "sparsification.png", series, "Sparsification (total sigma) vs oracle",
                             "fraction of pixels removed", "relative MAE", xlim=(0, 1)))
    series = [("ideal", [0, 1], [0, 1], False, -1)]
    levels = list(report.curves[ks[0]]["coverage_levels"])
    for k in ks:
        s = report.stages[k]
        series += [(f"stage {k} GGD", levels, [s["coverage_ggd"][str(p)] for p in levels], False, k - 1),
                   (f"stage {k} Gauss(total)", levels, [s["coverage_total"][str(p)] for p in levels], True, k - 1)]
    written.append(line_plot(folder / "calibration.png", series, "Calibration: expected vs observed coverage",
                             "expected coverage", "observed coverage", xlim=(0, 1), ylim=(0, 1)))
    return written


__all__ = ["CALIBRATION_BINS", "SETTINGS_TEXT", "EvaluationReport", "renderings_markdown", "write_plots"]
