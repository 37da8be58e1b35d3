"""How a model's domain check treats a real chest film framed, posed and rendered otherwise.

    python scripts/domain_check_framings.py [--model resources/models/demo.safetensors]

Scores (relative to the check's threshold: above 1 is flagged) of RG1 (pydicom-data's real PA
chest CR) as stored and mirrored; of inputs that must be flagged (RG1 inverted, turned or upside
down, pydicom's CT / MR / ultrasound / extremity files, two photographs); how many of 16 random
cuts of RG1 to 90-100 %, 80-90 % and 70-80 % of each side (another collimation of the same chest)
and of 16 random poses are flagged; 30 clinical renderings of RG1; and 100 phantom views (25
cases of seed 2031, raw and 3 renderings each). The figures quoted in docs/real_radiographs.md's
domain-check paragraph come from this script.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image


def main() -> int:
    from pydicom.data import get_testdata_file
    from skimage import color, data

    from dfviewer.core.inference import Predictor
    from dfviewer.imaging.clinical_rendering import render
    from dfviewer.io import read_radiograph
    from dfviewer.phantom import PhantomConfig, simulate_case
    from dfviewer.phantom.poses import apply_pose, random_pose

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resources/models/demo.safetensors")
    args = parser.parse_args()
    p = Predictor.from_checkpoint(args.model, device="cpu")
    if p.domain is None:
        raise SystemExit(f"{args.model} has no domain check")
    th = p.domain.threshold

    def dicom(name: str) -> np.ndarray:
        return read_radiograph(get_testdata_file(name)).pixels.astype(np.float32)

    def rel(x: np.ndarray) -> float:
        return float(p.domain_score(x)) / th

    rg1 = dicom("RG1_UNCR.dcm")
    s = 1024 / max(rg1.shape)
    base = np.asarray(Image.fromarray(rg1).resize((round(rg1.shape[1] * s), round(rg1.shape[0] * s)),
                                                  Image.Resampling.LANCZOS), dtype=np.float32)
    print(f"threshold {th:.3f}; RG1 {rel(rg1):.2f}, mirrored {rel(rg1[:, ::-1].copy()):.2f}")
    others = {"RG1 inverted": rg1.max() - rg1, "turned 90": np.rot90(rg1).copy(), "turned 180": np.rot90(rg1, 2).copy(),
              "turned 270": np.rot90(rg1, 3).copy(), "upside down": rg1[::-1].copy(), "CT_small": dicom("CT_small.dcm"),
              "693_UNCR": dicom("693_UNCR.dcm"), "MR_small": dicom("MR_small.dcm"), "MR2_UNCR": dicom("MR2_UNCR.dcm"),
              "US1_UNCR": dicom("US1_UNCR.dcm"), "RG3_UNCR": dicom("RG3_UNCR.dcm"),
              "astronaut": color.rgb2gray(data.astronaut()).astype(np.float32) * 255, "camera": data.camera().astype(np.float32)}
    scores = {k: round(rel(v), 2) for k, v in others.items()}
    print(f"must be flagged (score / threshold): {scores}; lowest {min(scores.values())}")
    rng = np.random.default_rng(11)
    for lo, hi in ((0.9, 1.0), (0.8, 0.9), (0.7, 0.8)):
        values = []
        for _ in range(16):
            fh, fw, oy, ox = rng.uniform(lo, hi), rng.uniform(lo, hi), rng.random(), rng.random()
            h, w = base.shape
            ch, cw = int(h * fh), int(w * fw)
            top, left = int((h - ch) * oy), int((w - cw) * ox)
            values.append(rel(base[top:top + ch, left:left + cw].copy()))
        print(f"RG1 cut to {lo:.0%}-{hi:.0%} of each side: {sum(v > 1 for v in values)} of 16 flagged (max {max(values):.2f})")
    for limits in ((5, 0.1, 0.05), (8, 0.12, 0.05)):
        values = [rel(apply_pose(base, random_pose(np.random.default_rng([12, k]), *limits))) for k in range(16)]
        print(f"RG1 posed (rotation, zoom, shift up to {limits}): {sum(v > 1 for v in values)} of 16 flagged")
    values = [rel(render(base, np.random.default_rng([13, k]), f))
              for f in ("png8", "cr12", "clahe_jpeg", "multiscale", "mixture") for k in range(6)]
    print(f"RG1 rendered: {sum(v > 1 for v in values)} of {len(values)} flagged (max {max(values):.2f})")
    flagged = 0
    for i in range(25):
        x = simulate_case(2031, i, PhantomConfig(size=256)).attenuation
        for r in range(4):
            flagged += rel(x if r == 0 else render(x, np.random.default_rng([2031, i, r]))) > 1
    print(f"phantom views (seed 2031, raw and rendered): {flagged} of 100 flagged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
