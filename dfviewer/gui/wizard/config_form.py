"""An editor for every field of the experiment config, generated from the dataclasses.

Each field gets a widget from its type (check box, spin box, text for floats, combo box for
choices); wrong values are found by constructing the real dataclasses, and the
:class:`~dfviewer.core.config.ConfigError` sentence is shown beside the field it names.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

import qtawesome as qta
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from dfviewer.core import config as C

#: tabs folded into the collapsible "Advanced settings" (the others are always shown)
ADVANCED_TABS = ("Losses", "Augmentation", "Validation && runtime", "Normalisation")

# (tab title, section, [field names]); section is "model", "normalization" or "train".
TABS: list[tuple[str, str, list[str]]] = [
    ("Model", "model", ["n_stages", "base_width", "refine_width", "depth", "convs_per_block", "norm", "dropout", "dropout_kind",
                        "upsampling", "stage_input", "refine_residual", "beta_min", "beta_max", "alpha_floor",
                        "working_size", "in_channels"]),
    ("Schedule", "train", ["epochs_per_stage", "finetune_epochs", "finetune_lr_factor", "frozen_stage_dropout",
                           "batch_size", "lr", "lr_discriminator", "adam_betas", "cosine_min_lr_factor", "seed"]),
    ("Losses", "train", ["lambda_l1", "lambda_nll", "nll_detach_mean", "lambda_adv", "lambda_residual",
                         "residual_kernel", "discriminator_width", "discriminator_layers"]),
    ("Augmentation", "train", ["augment_rotation_deg", "augment_flip", "augment_zoom", "augment_shift",
                               "augment_contrast", "render_input"]),
    ("Validation && runtime", "train", ["val_mc_samples", "num_workers", "amp", "target_percentile"]),
    ("Normalisation", "normalization", ["input_mode", "input_region", "input_low", "input_high", "target_offset",
                                        "target_scale"]),
]

HELP: dict[str, str] = {
    "n_stages": "Stages in the cascade; each refines the previous one's output.",
    "base_width": "Feature maps of the first U-Net level (doubles at every level).",
    "depth": "Number of downsamplings of each U-Net; images are padded to a multiple of 2**depth.",
    "dropout": "Dropout in the decoders; also drives the MC-dropout (epistemic) uncertainty.",
    "working_size": "Training resolution: the longer image side in pixels (a multiple of 2**depth).",
    "epochs_per_stage": "Epochs each stage is trained while the earlier ones are frozen.",
    "finetune_epochs": "End-to-end fine-tuning epochs of all stages after the progressive phase (0: none).",
    "lr": "Adam learning rate of the generator (cosine-annealed per epoch).",
    "adam_betas": "Two numbers, e.g. 0.9, 0.999.",
    "lambda_l1": "Weight of the L1 loss of the mean.",
    "lambda_nll": "Weight of the generalised-Gaussian negative log-likelihood (aleatoric uncertainty).",
    "lambda_adv": "Weight of the adversarial (least-squares GAN) loss.",
    "val_mc_samples": "MC-dropout samples for the validation preview's epistemic uncertainty.",
    "amp": "auto: on GPUs only; bfloat16: on the CPU too (faster where it has bfloat16); off: float32.",
    "target_percentile": "The dark-field is scaled so this percentile of the training data maps to 1 (0: keep target_scale).",
    "target_scale": "Used only when target_percentile is 0.",
    "num_workers": "Data-loading worker processes (0: load in the training process).",
    "batch_size": "Pairs per optimisation step (per process under torchrun).",
    "seed": "Seeds weights, shuffling and augmentations; a run is reproducible and resumable.",
    "lr_discriminator": "Adam learning rate of the discriminators.",
    "finetune_lr_factor": "Fine-tuning learning rate = learning rate x this factor.",
    "cosine_min_lr_factor": "The cosine schedule ends at learning rate x this factor.",
    "lambda_residual": "Weight of the residual (high-pass) loss.",
    "residual_kernel": "Odd kernel size of the residual loss's blur.",
    "discriminator_width": "Feature maps of the PatchGAN discriminator's first layer.",
    "discriminator_layers": "Strided layers of the discriminator (its patch size grows with them).",
    "augment_rotation_deg": "Random rotation of each training pair, up to this angle.",
    "augment_flip": "Randomly mirror training pairs left-right.",
    "augment_contrast": "Random gain and offset of the input, up to this fraction.",
    "norm": "Normalisation layers of the U-Nets.",
    "dropout_kind": "channel: drop whole feature maps (faster on CPUs); element: single activations.",
    "upsampling": "transpose: 2x2 transposed convolutions (the reference); resize: nearest resize + convolution, "
                  "no 2-pixel grid in the maps.",
    "frozen_stage_dropout": "Frozen earlier stages keep sampling dropout while a later stage trains, as at inference.",
    "nll_detach_mean": "The likelihood trains only alpha and beta; the mean learns from the other losses.",
    "stage_input": "What later stages see: attention (the paper), attention with sigma's level, the mean alone, "
                   "or the reference variant.",
    "refine_width": "Feature maps of the first U-Net level of stages 2 and later (0: as base_width).",
    "refine_residual": "Later stages predict a correction to the previous stage's mean.",
    "beta_min": "Lower bound of the GGD shape parameter beta.",
    "beta_max": "Upper bound of the GGD shape parameter beta.",
    "input_mode": "percentile: map each image's low/high percentiles to 0/1; fixed: use the values; equalize: "
                  "each pixel's quantile in the image (any window, gamma or bit depth gives the same input).",
    "input_region": "Where the percentiles or quantiles are taken: the whole image, or the central thorax box "
                    "(not moved by borders, markers or text).",
    "augment_zoom": "Random zoom of each training pair, e.g. 0.15 = 0.85-1.15x.",
    "augment_shift": "Random shift of each training pair, as a fraction of the side.",
    "render_input": "Probability that a training input goes through a random clinical rendering (window, tone "
                    "curve, vendor enhancement, CLAHE, bit depth, JPEG, markers); the target stays as it is.",
}

_FIELD_TYPES = {
    "model": typing.get_type_hints(C.ModelConfig),
    "normalization": typing.get_type_hints(C.Normalization),
    "train": typing.get_type_hints(C.TrainConfig),
}


LABELS = {"n_stages": "Stages", "in_channels": "Input channels", "lr": "Learning rate",
          "lr_discriminator": "Learning rate (discriminator)", "val_mc_samples": "Validation MC samples",
          "amp": "Mixed precision", "augment_rotation_deg": "Rotation (± degrees)",
          "augment_flip": "Left-right flip", "augment_contrast": "Contrast jitter", "augment_zoom": "Zoom (±)",
          "augment_shift": "Shift (± fraction)", "render_input": "Clinical rendering (probability)"}


def _label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    text = name.replace("_", " ")
    text = re.sub(r"\blr\b", "learning rate", text)
    return text[0].upper() + text[1:]


def _format_float(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") and "e" not in text else text


class _Field:
    """One editable field: its widget, how to read it and where its error goes."""

    def __init__(self, section: str, name: str, hint: Any) -> None:
        self.section, self.name, self.hint = section, name, hint
        self.error = QLabel()
        self.error.setObjectName(f"error_{name}")
        self.error.setStyleSheet("color: #ff6b6b;")
        self.error.hide()
        self.help = QLabel(HELP.get(name, ""))
        self.help.setStyleSheet("color: #8a8a92;")
        if hint is bool:
            self.widget: QCheckBox | QComboBox | QSpinBox | QLineEdit = QCheckBox()
        elif get_origin(hint) is Literal:
            self.widget = QComboBox()
            self.widget.addItems([str(c) for c in get_args(hint)])
        elif hint is int:
            self.widget = QSpinBox()
            self.widget.setRange(-1_000_000, 1_000_000)
            self.widget.setMinimumWidth(110)
        else:  # floats, tuples: text, parsed on read, so any wrong value can be typed and explained
            self.widget = QLineEdit()
            self.widget.setMinimumWidth(110)
        self.widget.setObjectName(f"field_{name}")
        self.widget.setToolTip(HELP.get(name, ""))

    def set(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            w.setCurrentText(str(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value))
        elif isinstance(value, (tuple, list)):
            w.setText(", ".join(_format_float(v) for v in value))
        else:
            w.setText(_format_float(value))

    def get(self) -> Any:
        """The value, or raise ConfigError when the text is not a number."""
        w = self.widget
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            return w.currentText()
        if isinstance(w, QSpinBox):
            return w.value()
        text = w.text().strip()
        try:
            if get_origin(self.hint) is tuple:
                return tuple(float(t) for t in re.split(r"[,\s]+", text) if t)
            return float(text)
        except ValueError:
            what = "numbers separated by commas" if get_origin(self.hint) is tuple else "a number"
            raise C.ConfigError(f"{self.name} must be {what}, not {text!r}") from None

    def connect(self, slot: Callable[..., None]) -> None:
        w = self.widget
        if isinstance(w, QCheckBox):
            w.toggled.connect(slot)
        elif isinstance(w, QComboBox):
            w.currentTextChanged.connect(slot)
        elif isinstance(w, QSpinBox):
            w.valueChanged.connect(slot)
        else:
            w.textChanged.connect(slot)


class ConfigForm(QWidget):
    """Tabs of fields for an :class:`ExperimentConfig`; ``changed`` fires on every edit.

    :meth:`experiment` returns the validated config or None; :attr:`errors` maps field names
    (or ``""`` for the whole config) to the messages shown.
    """

    changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fields: dict[str, _Field] = {}
        self.errors: dict[str, str] = {}
        self._loading = False
        self._base = C.preset("fast")
        self.tabs = QTabWidget()  # the settings most runs change
        self.advanced_tabs = QTabWidget()  # the rest, folded away until wanted or wrong
        self._tab_of: dict[str, tuple[QTabWidget, int]] = {}
        for title, section, names in TABS:
            tabs = self.advanced_tabs if title in ADVANCED_TABS else self.tabs
            page = QWidget()
            form = QFormLayout(page)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
            for name in names:
                f = _Field(section, name, _FIELD_TYPES[section][name])
                self.fields[name] = f
                row = QWidget()
                lay = QHBoxLayout(row)
                lay.setContentsMargins(0, 0, 0, 0)
                lay.addWidget(f.widget)
                lay.addWidget(f.error)
                lay.addWidget(f.help, 1)
                label = QLabel(_label(name))
                label.setToolTip(HELP.get(name, ""))
                form.addRow(label, row)
                f.connect(self._on_edit)
                self._tab_of[name] = (tabs, tabs.count())
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(page)
            tabs.addTab(scroll, title)
        self.advanced_tabs.setMinimumHeight(220)
        self.advanced = QCollapsible("Advanced settings: " + ", ".join(t.replace(" && ", " and ").lower()
                                                                          for t in ADVANCED_TABS))
        self.advanced.setObjectName("advancedSettings")
        self.advanced.setDuration(0)
        self.advanced.addWidget(self.advanced_tabs)
        self.summary = QLabel()
        self.summary.setObjectName("configErrors")
        self.summary.setStyleSheet("color: #ff6b6b;")
        self.summary.setWordWrap(True)
        self.summary.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.advanced)
        layout.addWidget(self.summary)
        self.set_experiment(self._base)

    def set_experiment(self, exp: C.ExperimentConfig) -> None:
        """Fill every field from ``exp`` (its presets become the base for error recovery)."""
        self._loading = True
        try:
            self._base = exp
            values = {"model": C.to_dict(exp.model), "train": C.to_dict(exp.train)}
            values["normalization"] = values["model"]["normalization"]
            for f in self.fields.values():
                f.set(values[f.section][f.name])
        finally:
            self._loading = False
        self._on_edit()

    def _values(self) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        values: dict[str, dict[str, Any]] = {
            "model": {"preset": self._base.model.preset},
            "train": {"preset": self._base.train.preset},
            "normalization": {},
        }
        errors: dict[str, str] = {}
        for f in self.fields.values():
            try:
                values[f.section][f.name] = f.get()
            except C.ConfigError as exc:
                errors[f.name] = str(exc)
        return values, errors

    def _build(self, values: dict[str, dict[str, Any]]) -> C.ExperimentConfig:
        norm = C.Normalization(**values["normalization"])
        model = C.ModelConfig(**{**values["model"], "normalization": norm})
        return C.ExperimentConfig(model=model, train=C.TrainConfig(**values["train"]))

    def validate(self) -> C.ExperimentConfig | None:
        """Build the config; collect every error by resetting each culprit to the base value and retrying."""
        values, errors = self._values()
        base = {"model": C.to_dict(self._base.model), "train": C.to_dict(self._base.train)}
        base["normalization"] = base["model"].pop("normalization")
        for name in errors:  # unparsable text: try the rest with the base value
            f = self.fields[name]
            values[f.section][name] = base[f.section][name]
        exp = None
        for _ in range(len(self.fields) + 1):
            try:
                exp = self._build(values)
                break
            except C.ConfigError as exc:
                message = str(exc)
                culprit = self._culprit(message)
                if culprit is None or culprit in errors:
                    errors[""] = message
                    break
                errors[culprit] = message
                f = self.fields[culprit]
                values[f.section][culprit] = base[f.section][culprit]
        self.errors = errors
        return exp if not errors else None

    def _culprit(self, message: str) -> str | None:
        best, where = None, len(message) + 1
        for name in self.fields:
            m = re.search(rf"\b{re.escape(name)}\b", message)
            if m and m.start() < where:
                best, where = name, m.start()
        return best

    def experiment(self) -> C.ExperimentConfig | None:
        return self.validate()

    def _on_edit(self, *_: Any) -> None:
        if self._loading:
            return
        self.validate()
        for name, f in self.fields.items():
            message = self.errors.get(name)
            f.error.setText(message or "")
            f.error.setVisible(bool(message))
            f.help.setVisible(not message)
            f.widget.setStyleSheet("border: 1px solid #ff6b6b;" if message else "")
        bad_tabs = {(id(tabs), i) for tabs, i in (self._tab_of[n] for n in self.errors if n)}
        for tabs in (self.tabs, self.advanced_tabs):
            for i in range(tabs.count()):
                bad = (id(tabs), i) in bad_tabs
                tabs.setTabIcon(i, qta.icon("mdi6.alert-circle", color="#ff6b6b") if bad else qta.icon())
        if any(tabs is self.advanced_tabs for tabs, _ in (self._tab_of[n] for n in self.errors if n)):
            self.advanced.expand(animate=False)  # a wrong setting is never folded away
        if self.errors:
            names = [n for n in self.errors if n]
            text = (f"{len(self.errors)} setting{'s' if len(self.errors) > 1 else ''} to fix"
                    + (f": {', '.join(names)}" if names else "") + (f". {self.errors['']}" if "" in self.errors else ""))
            self.summary.setText(text)
        self.summary.setVisible(bool(self.errors))
        self.changed.emit()

    def set_read_only(self, read_only: bool) -> None:
        for f in self.fields.values():
            f.widget.setEnabled(not read_only)
