"""Which input normalisation survives clinical rendering? A measurement, no training involved.

    python scripts/normalization_options.py [--cases 12] [--renderings 4] [--seed 2026]

For phantom cases (``simulate_case(seed, i)`` at 256 px) every option normalises the raw
``-ln T`` image and each of its clinical renderings (``dfviewer.imaging.clinical_rendering.render``, per
family and for the random mixture the training uses). Printed per option and family: the RMS
difference between the two normalised images inside the body (0 = the network sees the same
input whatever the rendering) and, for scale, the RMS spread of the raw normalised image itself.
"""

from __future__ import annotations

import argparse

import numpy as np

from dfviewer.core.config import Normalization
from dfviewer.core.normalize import normalize_input
from dfviewer.imaging.clinical_rendering import FAMILIES, render
from dfviewer.phantom import PhantomConfig, simulate_case

OPTIONS = {
    "percentile 0.5-99.5, image": Normalization(),
    "percentile 0.5-99.5, thorax": Normalization(input_region="thorax"),
    "percentile 1-99, thorax": Normalization(input_low=1.0, input_high=99.0, input_region="thorax"),
    "equalize, image": Normalization(input_mode="equalize"),
    "equalize, thorax": Normalization(input_mode="equalize", input_region="thorax"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--renderings", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    families = [f for f in FAMILIES if f != "raw"] + ["random"]
    diff = {o: {f: [] for f in families} for o in OPTIONS}
    spread = {o: [] for o in OPTIONS}
    for i in range(args.cases):
        case = simulate_case(args.seed, i, PhantomConfig(size=256))
        x, body = case.attenuation, case.masks["body"]
        base = {o: normalize_input(x, n) for o, n in OPTIONS.items()}
        for o in OPTIONS:
            spread[o].append(float(np.std(base[o][body])))
        for f in families:
            for r in range(args.renderings):
                rng = np.random.default_rng([args.seed, i, families.index(f), r])
                shown = render(x, rng, family=None if f == "random" else f)
                for o, n in OPTIONS.items():
                    d = normalize_input(shown, n) - base[o]
                    diff[o][f].append(float(np.sqrt(np.mean(d[body] ** 2))))
    head = " | ".join(families)
    print(f"RMS difference inside the body, raw vs rendered ({args.cases} cases x {args.renderings} renderings)\n")
    print(f"| option | {head} | spread of the raw input |")
    print("|---|" + "---|" * (len(families) + 1))
    for o in OPTIONS:
        cells = " | ".join(f"{np.mean(diff[o][f]):.3f}" for f in families)
        print(f"| {o} | {cells} | {np.mean(spread[o]):.3f} |")


if __name__ == "__main__":
    main()
