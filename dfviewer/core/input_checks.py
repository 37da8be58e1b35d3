"""Whether an image is what a model was trained on: the value range and the domain check, shared by both predictors."""

from __future__ import annotations

import numpy as np

from dfviewer.core.config import ModelConfig
from dfviewer.core.domain import DomainModel, domain_sentence
from dfviewer.core.normalize import input_range_warning, normalize_input
from dfviewer.core.prepare import check_image


def domain_score(image: np.ndarray, config: ModelConfig, domain: DomainModel | None) -> float | None:
    """The domain check's score of ``image`` (above ``domain.threshold``: flagged); None without a check."""
    if domain is None:
        return None
    return domain.score_image(normalize_input(check_image(image), config.normalization))


def input_warning(image: np.ndarray, config: ModelConfig, domain: DomainModel | None) -> str | None:
    """A sentence when ``image`` is not what the model was trained on, else None.

    A ``fixed``-unit model checks the values' range (:func:`input_range_warning`); a model with a
    domain check flags images that do not look like frontal chest radiographs.
    """
    warning = input_range_warning(image, config.normalization)
    if warning is None and domain is not None:
        score = domain_score(image, config, domain)
        if score is not None and score > domain.threshold:
            warning = domain_sentence(score, domain.threshold)
    return warning


__all__ = ["domain_score", "input_warning"]
