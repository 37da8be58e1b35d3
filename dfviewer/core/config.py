"""Typed, validated configuration for the model and its training.

Every setting the CLI, the training wizard and library code use lives here. The
dataclasses validate themselves on construction, round-trip through JSON, and are
saved inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from dfviewer.core import sizes
from dfviewer.core.stages import MAX_STAGES
from dfviewer.errors import UserError

StageInput = Literal["attention", "attention_absolute", "mean_only", "reference"]
NormLayer = Literal["batch", "instance", "none"]
DropoutKind = Literal["channel", "element"]
Upsampling = Literal["transpose", "resize"]
InputNormMode = Literal["percentile", "fixed", "equalize"]
InputRegion = Literal["image", "thorax"]
# Mixed-precision training: "auto" autocasts on a GPU only (bfloat16 where supported, else
# float16), "bfloat16" autocasts on the GPU and the CPU alike, "off" keeps float32 everywhere.
AmpMode = Literal["auto", "bfloat16", "off"]

#: the MC dropout seed of the viewer and ``dfviewer predict`` (and ``generate``'s base seed) unless the
#: user gives another: the same file, working size and T give the same epistemic map in both
MC_SEED = 0

STAGE_INPUT_CHANNELS: dict[str, int] = {
    # concat(x, mean, mean * s, s) with s = sigma / mean(sigma): docs/method.md §3.
    "attention": 4,
    # the same with s = sigma itself (network units): the later stage also sees sigma's level
    "attention_absolute": 4,
    # concat(x, mean): no uncertainty at all (the ablation of the guidance)
    "mean_only": 2,
    # concat(mean, 1 / alpha, beta, x): the public reference code's variant.
    "reference": 4,
}


class ConfigError(UserError):
    """A configuration value is out of range or of the wrong kind."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _check_choice(value: str, literal: Any, name: str) -> None:
    choices = get_args(literal)
    _check(
        isinstance(value, str) and value in choices, f"{name} must be one of {', '.join(choices)}, not {value!r}"
    )


def _is_int(value: Any) -> bool:
    # numbers.Integral admits numpy integers; bool is an int subclass but never a count
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_types(config: Any, ints: tuple[str, ...], floats: tuple[str, ...], bools: tuple[str, ...]) -> None:
    """Whole numbers, finite numbers and booleans where the fields need them (JSON allows any)."""
    for name in ints:
        value = getattr(config, name)
        _check(_is_int(value), f"{name} must be a whole number, not {value!r}")
    for name in floats:
        value = getattr(config, name)
        _check(_is_finite_number(value), f"{name} must be a finite number, not {value!r}")
    for name in bools:
        value = getattr(config, name)
        _check(isinstance(value, bool), f"{name} must be true or false, not {value!r}")


#: the most parameters a model config may ask for (the paper preset has about 100 M)
MAX_MODEL_PARAMETERS = 500_000_000
#: the largest working size (pixels on the longer side) a model may declare: the bound every size option has
MAX_WORKING_SIZE = sizes.MAX_WORKING_SIZE


def estimated_parameters(
    base_width: int, depth: int, convs_per_block: int, n_stages: int, in_channels: int = 1, stage_channels: int = 4,
    refine_width: int = 0,
) -> int:
    """Roughly how many weights a cascade of this shape has (convolution kernels only).

    Closed form over the U-Net's blocks, so a config can be judged before any tensor is made.
    ``refine_width``: the base width of stages 2 and later (0: ``base_width``).
    """

    def block(cin: int, cout: int) -> int:
        return 9 * (cin * cout + (convs_per_block - 1) * cout * cout)

    def stage(width: int, cin: int) -> int:
        widths = [width * 2**i for i in range(depth + 1)]
        trunk = sum(block(widths[i], widths[i + 1]) for i in range(depth))
        # decoder: a (transposed) up-convolution of at most 2 x 2, then a block on the concatenation
        trunk += sum(4 * widths[i + 1] * widths[i] + block(2 * widths[i], widths[i]) for i in range(depth))
        return block(cin, widths[0]) + trunk + 3 * widths[0]

    later = refine_width or base_width
    return sum(stage(base_width, in_channels) if m == 0 else stage(later, stage_channels) for m in range(n_stages))


@dataclass(frozen=True)
class Normalization:
    """How raw images map to the network's roughly [0, 1] range and back.

    Input (attenuation): ``percentile`` maps the ``input_low``-th and ``input_high``-th
    percentiles of each image to 0 and 1 (robust to any DICOM's units); ``fixed`` uses
    ``input_low`` and ``input_high`` as values (quantitative ``-ln T`` only); ``equalize`` maps
    every pixel to its quantile (0..1) among the region's pixels, which any monotone window,
    gamma or bit depth leaves unchanged (the bounds are unused). ``input_region`` is where the
    statistics are taken: the whole ``image`` or the central ``thorax`` box (rows 10-90 %,
    columns 15-85 %), which collimation borders, markers and text at the edges do not move. Target (dark-field): ``(y - target_offset)
    / target_scale``; the inverse maps the generated mean back to the target's units and
    scales alpha and sigma by ``target_scale``.
    """

    input_mode: InputNormMode = "percentile"
    input_low: float = 0.5
    input_high: float = 99.5
    input_region: InputRegion = "image"
    target_offset: float = 0.0
    target_scale: float = 1.0

    def __post_init__(self) -> None:
        _check_types(self, (), ("input_low", "input_high", "target_offset", "target_scale"), ())
        _check_choice(self.input_mode, InputNormMode, "input_mode")
        _check_choice(self.input_region, InputRegion, "input_region")
        _check(self.input_high > self.input_low, "input_high must be larger than input_low")
        if self.input_mode == "percentile":
            _check(
                0.0 <= self.input_low < self.input_high <= 100.0,
                "percentile bounds must lie in [0, 100]",
            )
        _check(self.target_scale > 0, "target_scale must be positive")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the cascade of U-Net generators (docs/method.md §2-4)."""

    preset: str = "fast"
    in_channels: int = 1
    base_width: int = 8
    depth: int = 4
    convs_per_block: int = 2
    norm: NormLayer = "batch"
    dropout: float = 0.1
    # "channel" drops whole feature maps (nn.Dropout2d): as good a posterior sample for a
    # conv net and 2-3x faster on a CPU than per-element masks ("element", nn.Dropout).
    dropout_kind: DropoutKind = "channel"
    # Decoder upsampling: "transpose" (2x2 transposed conv, the reference's) or "resize" (1x1
    # conv, nearest-neighbour resize, then the block's 3x3 conv: resize-convolution, which
    # leaves no 2-pixel grid in the maps, notably in the epistemic sigma).
    upsampling: Upsampling = "transpose"
    n_stages: int = 3
    # base width of stages 2 and later (0: base_width): capacity of the refining stages alone
    refine_width: int = 0
    stage_input: StageInput = "attention"
    # Stage m > 1 predicts a correction added to stage m - 1's mean (refinement).
    refine_residual: bool = True
    beta_min: float = 0.2
    beta_max: float = 8.0
    alpha_floor: float = 1e-4
    working_size: int = 512
    normalization: Normalization = field(default_factory=Normalization)

    def __post_init__(self) -> None:
        if isinstance(self.normalization, dict):
            object.__setattr__(self, "normalization", Normalization(**self.normalization))
        _check(isinstance(self.normalization, Normalization), "normalization must be a group of settings")
        _check(isinstance(self.preset, str), f"preset must be a name, not {self.preset!r}")
        _check_types(
            self,
            ("in_channels", "base_width", "depth", "convs_per_block", "n_stages", "refine_width", "working_size"),
            ("dropout", "beta_min", "beta_max", "alpha_floor"),
            ("refine_residual",),
        )
        _check(self.in_channels >= 1, "in_channels must be at least 1")
        _check(2 <= self.base_width <= 512, "base_width must be between 2 and 512")
        _check(self.refine_width == 0 or 2 <= self.refine_width <= 512,
               "refine_width must be 0 (as base_width) or between 2 and 512")
        _check(1 <= self.depth <= 7, "depth (number of downsamplings) must be between 1 and 7")
        _check(1 <= self.convs_per_block <= 4, "convs_per_block must be between 1 and 4")
        _check_choice(self.norm, NormLayer, "norm")
        _check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        _check_choice(self.dropout_kind, DropoutKind, "dropout_kind")
        _check_choice(self.upsampling, Upsampling, "upsampling")
        _check(1 <= self.n_stages <= MAX_STAGES, f"n_stages must be between 1 and {MAX_STAGES}")
        _check_choice(self.stage_input, StageInput, "stage_input")
        _check(0 < self.beta_min < self.beta_max, "need 0 < beta_min < beta_max")
        _check(self.alpha_floor > 0, "alpha_floor must be positive")
        _check(
            self.working_size >= self.multiple and self.working_size % self.multiple == 0,
            f"working_size must be a positive multiple of {self.multiple} (2 ** depth)",
        )
        _check(self.working_size <= MAX_WORKING_SIZE, f"working_size must be at most {MAX_WORKING_SIZE}")
        params = estimated_parameters(
            self.base_width, self.depth, self.convs_per_block, self.n_stages, self.in_channels,
            STAGE_INPUT_CHANNELS[self.stage_input], self.refine_width,
        )
        _check(
            params <= MAX_MODEL_PARAMETERS,
            f"base_width {self.base_width}, depth {self.depth}, convs_per_block {self.convs_per_block} and "
            f"n_stages {self.n_stages} make a model of about {params / 1e6:.0f} M parameters, more than the "
            f"{MAX_MODEL_PARAMETERS // 1_000_000} M allowed",
        )

    @property
    def multiple(self) -> int:
        """Image sides must be a multiple of this to pass the U-Net."""
        return 2**self.depth

    def stage_width(self, stage: int) -> int:
        """Base width (feature maps of the first U-Net level) of stage ``stage`` (0-based)."""
        return self.base_width if stage == 0 or not self.refine_width else self.refine_width

    def stage_in_channels(self, stage: int) -> int:
        """Input channels of stage ``stage`` (0-based)."""
        return self.in_channels if stage == 0 else STAGE_INPUT_CHANNELS[self.stage_input]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the progressive GAN training (docs/method.md §5)."""

    preset: str = "fast"
    epochs_per_stage: int = 10
    finetune_epochs: int = 0
    finetune_lr_factor: float = 0.1
    batch_size: int = 4
    lr: float = 2e-4
    lr_discriminator: float = 2e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    cosine_min_lr_factor: float = 0.01
    lambda_l1: float = 1.0
    lambda_nll: float = 0.001
    # True: the NLL term trains alpha and beta only (no gradient into the mean through it).
    nll_detach_mean: bool = False
    # True: frozen earlier stages keep sampling dropout while a later stage trains, so that
    # stage sees the same perturbed inputs as under MC dropout at inference (the plain freeze of
    # docs/method.md §5 shows it only deterministic ones; measured: rare MC samples then blow up
    # the later stage's sigma).
    frozen_stage_dropout: bool = False
    lambda_adv: float = 0.001
    lambda_residual: float = 0.5
    residual_kernel: int = 5
    discriminator_width: int = 16
    discriminator_layers: int = 3
    augment_rotation_deg: float = 5.0
    augment_flip: bool = True
    augment_contrast: float = 0.1
    # Zoom (fraction, e.g. 0.1 = 0.9-1.1x) and shift (fraction of the side) of input and target together.
    augment_zoom: float = 0.0
    augment_shift: float = 0.0
    # Probability that a training input goes through a random clinical rendering (VOI, tone
    # curve, vendor enhancement, CLAHE, bit depth, JPEG, markers; dfviewer.imaging.clinical_rendering)
    # while its target stays as it is; validation inputs are rendered with the same
    # probability, one fixed draw per case. 0 = the raw input only.
    render_input: float = 0.0
    val_mc_samples: int = 4
    num_workers: int = 0
    seed: int = 0
    # Configs and checkpoints written before it was a choice say true ("auto") or false ("off").
    amp: AmpMode = "auto"
    # The target scale is set to this percentile of the training dark-field (0: keep the
    # model config's normalisation as given).
    target_percentile: float = 99.5

    def __post_init__(self) -> None:
        if isinstance(self.adam_betas, list):
            object.__setattr__(self, "adam_betas", tuple(self.adam_betas))
        if isinstance(self.amp, bool):
            object.__setattr__(self, "amp", "auto" if self.amp else "off")
        _check(isinstance(self.preset, str), f"preset must be a name, not {self.preset!r}")
        _check_types(
            self,
            ("epochs_per_stage", "finetune_epochs", "batch_size", "residual_kernel", "discriminator_width",
             "discriminator_layers", "val_mc_samples", "num_workers", "seed"),
            ("finetune_lr_factor", "lr", "lr_discriminator", "cosine_min_lr_factor", "lambda_l1", "lambda_nll",
             "lambda_adv", "lambda_residual", "augment_rotation_deg", "augment_contrast", "augment_zoom",
             "augment_shift", "render_input", "target_percentile"),
            ("nll_detach_mean", "frozen_stage_dropout", "augment_flip"),
        )
        _check_choice(self.amp, AmpMode, "amp")
        _check(
            isinstance(self.adam_betas, tuple) and len(self.adam_betas) == 2
            and all(_is_finite_number(b) for b in self.adam_betas),
            "adam_betas must be two numbers in [0, 1)",
        )
        _check(self.epochs_per_stage >= 1, "epochs_per_stage must be at least 1")
        _check(self.finetune_epochs >= 0, "finetune_epochs must not be negative")
        _check(0 < self.finetune_lr_factor <= 1, "finetune_lr_factor must be in (0, 1]")
        _check(self.batch_size >= 1, "batch_size must be at least 1")
        _check(0 < self.lr < 1, "lr must be in (0, 1)")
        _check(0 < self.lr_discriminator < 1, "lr_discriminator must be in (0, 1)")
        _check(
            len(self.adam_betas) == 2 and all(0 <= b < 1 for b in self.adam_betas),
            "adam_betas must be two numbers in [0, 1)",
        )
        _check(0 <= self.cosine_min_lr_factor <= 1, "cosine_min_lr_factor must be in [0, 1]")
        for name in ("lambda_l1", "lambda_nll", "lambda_adv", "lambda_residual"):
            _check(getattr(self, name) >= 0, f"{name} must not be negative")
        _check(
            self.residual_kernel >= 3 and self.residual_kernel % 2 == 1,
            "residual_kernel must be an odd number of at least 3",
        )
        _check(self.discriminator_width >= 2, "discriminator_width must be at least 2")
        _check(1 <= self.discriminator_layers <= 6, "discriminator_layers must be 1-6")
        _check(0 <= self.augment_rotation_deg <= 45, "augment_rotation_deg must be in [0, 45]")
        _check(0 <= self.augment_contrast < 1, "augment_contrast must be in [0, 1)")
        _check(0 <= self.augment_zoom <= 0.5, "augment_zoom must be in [0, 0.5]")
        _check(0 <= self.augment_shift <= 0.25, "augment_shift must be in [0, 0.25]")
        _check(0 <= self.render_input <= 1, "render_input must be in [0, 1]")
        _check(self.val_mc_samples >= 0, "val_mc_samples must not be negative")
        _check(self.num_workers >= 0, "num_workers must not be negative")
        _check(0 <= self.target_percentile <= 100, "target_percentile must be in [0, 100]")


@dataclass(frozen=True)
class ExperimentConfig:
    """Model and training settings together: what ``dfviewer train --config`` reads."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", model_config_from_dict(self.model))
        if isinstance(self.train, dict):
            object.__setattr__(self, "train", train_config_from_dict(self.train))


# --- presets -----------------------------------------------------------------------

PRESETS: dict[str, ExperimentConfig] = {
    # The reference's size: base width 64, four downsamplings, ~33 M parameters a stage;
    # the paper's optimiser settings (Adam, lr 8e-6, 50 epochs a stage, dropout 0.1).
    "paper": ExperimentConfig(
        model=ModelConfig(preset="paper", base_width=64, depth=4, working_size=960),
        train=TrainConfig(
            preset="paper",
            epochs_per_stage=50,
            batch_size=2,
            lr=8e-6,
            lr_discriminator=8e-6,
            lambda_l1=0.8,
            lambda_nll=0.001,
            lambda_adv=0.001,
            val_mc_samples=20,
        ),
    ),
    # Small enough for an interactive CPU: one conv per U-Net block (0.24 M parameters a
    # stage), the full T = 20 result of a 512 x 512 image in under 2 s on two cores. A larger
    # NLL weight with the mean detached trains the alpha / beta heads without bending the mean
    # (measured on the phantom: same MSE, better calibration than the paper's 0.001).
    "fast": ExperimentConfig(
        model=ModelConfig(preset="fast", base_width=8, depth=4, convs_per_block=1, upsampling="resize",
                          working_size=256),
        train=TrainConfig(preset="fast", lambda_nll=0.1, nll_detach_mean=True, frozen_stage_dropout=True),
    ),
}


def preset(name: str) -> ExperimentConfig:
    """The named preset (``fast`` or ``paper``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


# --- JSON round trip ---------------------------------------------------------------


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
    try:
        return cls(**data)
    except TypeError as exc:  # e.g. a list where a number belongs
        raise ConfigError(f"invalid {cls.__name__}: {exc}") from None


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Build a validated :class:`ModelConfig` from a plain dict (as read from JSON)."""
    data = dict(data)
    if isinstance(data.get("normalization"), dict):
        data["normalization"] = _from_dict(Normalization, data["normalization"])
    return _from_dict(ModelConfig, data)


def train_config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a validated :class:`TrainConfig` from a plain dict."""
    return _from_dict(TrainConfig, data)


def experiment_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """Build an :class:`ExperimentConfig`; a ``preset`` key fills unspecified fields."""
    data = dict(data)
    base = preset(data.pop("preset", data.get("model", {}).get("preset", "fast")))
    unknown = sorted(set(data) - {"model", "train"})
    if unknown:
        raise ConfigError(f"unknown experiment setting(s): {', '.join(unknown)}")
    model = {**to_dict(base.model), **data.get("model", {})}
    if "normalization" in data.get("model", {}):
        model["normalization"] = {
            **to_dict(base.model.normalization),
            **data["model"]["normalization"],
        }
    train = {**to_dict(base.train), **data.get("train", {})}
    return ExperimentConfig(model=model_config_from_dict(model), train=train_config_from_dict(train))


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of any config dataclass."""
    data = dataclasses.asdict(config)
    return json.loads(json.dumps(data))  # tuples become lists, as JSON has them


def save_json(config: Any, path: str | Path) -> None:
    """Write a config as indented JSON (atomically)."""
    from dfviewer.atomic import atomic_write_text

    atomic_write_text(Path(path), json.dumps(to_dict(config), indent=2) + "\n")


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read an :class:`ExperimentConfig` JSON file with a clear error on bad content."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    return experiment_from_dict(data)
