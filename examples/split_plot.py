"""The split-plot oats trial, estimated four ways: the lecture's R demo in Python.

Yates' oats experiment (nlme's ``Oats``): 6 blocks; each block is split into 3 whole plots, which get the
3 varieties (factor A); each whole plot is split into 4 subplots, which get 4 nitrogen levels (factor C).
Blocks and whole plots (``Block:Variety``) are random.

The R demo this follows::

    library(lme4); data(Oats, package = "nlme")
    summary(aov(yield ~ factor(nitro) * Variety + Error(Block/Variety), data = Oats))  # ANOVA / EMS
    m_reml <- lmer(yield ~ factor(nitro) * Variety + (1 | Block) + (1 | Block:Variety), data = Oats)
    m_ml   <- update(m_reml, REML = FALSE)
    VarCorr(m_reml); VarCorr(m_ml)
    fixef(m_reml)   # BLUEs
    ranef(m_reml)   # BLUPs

Run with ``python examples/split_plot.py``.
"""

import sys
import warnings
from pathlib import Path

import pandas as pd

try:
    import mixedmodels as mm
except ImportError:  # run from a source checkout without installing: use the repository's package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import mixedmodels as mm
from mixedmodels.classical.aov import aov, compare_methods, moments_fit

FORMULA = "yield ~ factor(nitro) * Variety + (1 | Block) + (1 | Block:Variety)"


def main() -> None:
    pd.set_option("display.width", 120)
    oats = mm.datasets.load("Oats")

    print("=" * 100)
    print("1. ANOVA with expected mean squares (the lecture's split-plot table) and moment estimates")
    print("=" * 100)
    table = aov(FORMULA, oats)
    print(table)
    print("\nMoment estimates by hand, from the table (lecture: s2_w = (MS_w - MS_e) / c):")
    ms = table.table["Mean Sq"]
    c = table.ems.loc["Block:Variety", "Block:Variety"]          # 4 nitrogen levels per whole plot
    ac = table.ems.loc["Block", "Block"]                          # 12 subplots per block
    print(f"  s2(whole plot) = ({ms['Block:Variety']:.3f} - {ms['Residual']:.3f}) / {c:g} = "
          f"{(ms['Block:Variety'] - ms['Residual']) / c:.4f}")
    print(f"  s2(block)      = ({ms['Block']:.3f} - {ms['Block:Variety']:.3f}) / {ac:g} = "
          f"{(ms['Block'] - ms['Block:Variety']) / ac:.4f}")

    print("\n" + "=" * 100)
    print("2. REML fit (lmer's default)")
    print("=" * 100)
    model = mm.LinearMixedModel(FORMULA, oats)
    m_reml = model.fit("REML")
    print(m_reml.summary())

    print("\n" + "=" * 100)
    print("3. ML, REML and moments side by side")
    print("=" * 100)
    print(compare_methods(FORMULA, oats))

    print("\n" + "=" * 100)
    print("4. BLUEs and BLUPs")
    print("=" * 100)
    m_mom = moments_fit(model)
    print("Fixed effects (BLUEs, generalized least squares at the estimated variances):")
    print(pd.DataFrame({"REML": m_reml.fixef, "Moments": m_mom.fixef, "Std. Error (REML)": m_reml.se}))
    for group in ("Block", "Block:Variety"):
        print(f"\nRandom effects (BLUPs) for {group}: conditional modes, shrunk towards 0")
        blups = pd.concat({"REML": m_reml.ranef[group]["(Intercept)"],
                           "Moments": m_mom.ranef[group]["(Intercept)"],
                           "cond. SD (REML)": m_reml.ranef_condsd[group]["(Intercept)"]}, axis=1)
        print(blups.to_string(float_format=lambda x: f"{x:9.4f}"))

    print("\n" + "=" * 100)
    print("5. A negative moment estimate (Dyestuff2): set to 0, as REML's boundary fit does")
    print("=" * 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        print(aov("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2")))
    for w in caught:
        print(f"warning ({type(w.message).__name__}): {w.message}")


if __name__ == "__main__":
    main()
