"""Write the bundled sample cases to resources/samples/ (simulated, with their true dark-field).

Run: python scripts/make_samples.py [--size 512] [--seed 7]

Picks the first phantom cases (seed 7, never used for the demo model's training data, which
used seed 2026) that are: healthy; emphysema without devices; with a pacemaker or ECG leads
(out of distribution). Each sample is ``<name>.dcm`` (attenuation, DICOM DX),
``<name>_darkfield.tiff`` (the simulated measured dark-field, float32) and
``<name>_lung.png`` (the phantom's lung mask).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from dfviewer.atomic import atomic_path
from dfviewer.io import write_dx_dicom, write_tiff
from dfviewer.phantom import PhantomConfig, simulate_case

OUT = Path(__file__).resolve().parents[1] / "resources" / "samples"
WANTED = {
    "healthy": lambda a: a["healthy"] and not a["ood"],
    "emphysema": lambda a: a["emphysema"] and not a["consolidation"] and not a["ood"],
    "pacemaker_ood": lambda a: a["ood"] and "pacemaker" in str(a.get("devices", "")),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = PhantomConfig(size=args.size)
    found: dict[str, int] = {}
    for index in range(200):
        if len(found) == len(WANTED):
            break
        remaining = [n for n in WANTED if n not in found]
        # OOD cases are forced for the device sample; the others stay in distribution
        ood = remaining == ["pacemaker_ood"]
        case = simulate_case(args.seed, index, config, ood=ood)
        for name in remaining:
            if WANTED[name](case.attributes):
                found[name] = index
                write_sample(name, case, config)
                print(f"{name}: phantom seed {args.seed} case {index}: {case.attributes}")
                break
    missing = sorted(set(WANTED) - set(found))
    if missing:
        raise SystemExit(f"no case found for {', '.join(missing)}")
    return 0


def write_sample(name: str, case, config: PhantomConfig) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write_dx_dicom(
        OUT / f"{name}.dcm",
        case.attenuation,
        patient_id=f"DFV-SAMPLE-{name.upper()}",
        patient_name=f"Phantom^{name.replace('_', ' ').title()}",
        pixel_spacing=(config.spacing_mm, config.spacing_mm),
        study_description="dfviewer simulated chest (not a patient)",
    )
    write_tiff(OUT / f"{name}_darkfield.tiff", case.darkfield, map_name="true dark-field", units="-ln(V/V0)")
    with atomic_path(OUT / f"{name}_lung.png") as tmp:
        Image.fromarray(case.masks["lung"].astype(np.uint8) * 255).save(tmp, format="PNG")


if __name__ == "__main__":
    raise SystemExit(main())
