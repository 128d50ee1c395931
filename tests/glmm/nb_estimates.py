"""Writes tests/fixtures/glmm_nb_ours.json: ``mm.glmer_nb``'s estimates on the cases of
tests/r/make_glmm_nb_fixtures.R, which evaluates lme4's own deviance function there.

Run from the repository root: ``python tests/glmm/nb_estimates.py``, then
``Rscript tests/r/make_glmm_nb_fixtures.R``."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import mixedmodels as mm  # noqa: E402
from glmm_cases import data  # noqa: E402

CASES = {  # id -> (formula, data set); the same in make_glmm_nb_fixtures.R
    "grouse_nb": ("TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)", "grouseticks"),
    "negbin_sim": ("ynb ~ x + (1 | g)", "glmmsim"),
}


def main() -> None:
    out = {}
    for cid, (formula, dname) in CASES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mm.glmer_nb(formula, data(dname))
        out[cid] = {"nb_theta": float(m.nb_theta), "theta": [float(v) for v in m.theta],
                    "beta": [float(v) for v in m.fixef], "minus2loglik": float(m.objective)}
    path = ROOT / "tests" / "fixtures" / "glmm_nb_ours.json"
    path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
