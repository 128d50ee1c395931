"""A worked example on lme4's sleepstudy: fit, inspect, predict, simulate, plot, compare.

The R session this follows::

    library(lme4)
    m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
    summary(m)
    coef(m)$Subject
    nd <- data.frame(Days = c(0, 5, 10), Subject = c("308", "308", "new"))
    predict(m, nd, allow.new.levels = TRUE); predict(m, nd, re.form = NA)
    simulate(m, nsim = 1000, seed = 1)
    lattice::dotplot(ranef(m, condVar = TRUE)); plot(m); qqnorm(resid(m))

Run with ``python examples/worked_example.py`` (from the repository root, or anywhere after
``pip install mixedmodels[plot,compare]``). The figures go to ``docs/img/`` (``--out DIR`` to change).
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

try:
    import mixedmodels as mm
except ImportError:  # run from a source checkout without installing: use the repository's package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import mixedmodels as mm
from mixedmodels.post.predict import coef, predict, residuals, simulate

FORMULA = "Reaction ~ Days + (Days | Subject)"
DPI = 72  # small PNGs, fit to commit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "img"),
                        help="folder for the PNG figures (default: docs/img)")
    args = parser.parse_args()
    pd.set_option("display.width", 110)

    sleep = mm.datasets.load("sleepstudy")
    m = mm.lmer(FORMULA, sleep)
    # predict() on new data re-evaluates the formula with the training data's levels and coefficients
    if not isinstance(getattr(m.model, "data", None), pd.DataFrame):
        m.model.data = sleep  # older LinearMixedModel objects do not keep their data

    print(m.summary(), end="\n\n")

    print("coef(m)$Subject  (fixed + random, per subject), first rows:")
    print(coef(m)["Subject"].head(), end="\n\n")

    nd = pd.DataFrame({"Days": [0, 5, 10], "Subject": ["308", "308", "new"]})
    out = nd.assign(all_re=predict(m, nd, allow_new_levels=True),
                    population=predict(m, nd, re_form="~0"),
                    intercepts_only=predict(m, nd, re_form="~(1 | Subject)", allow_new_levels=True))
    print("predict() on new data (the new subject gets the population curve):")
    print(out, end="\n\n")

    sims = simulate(m, nsim=1000, seed=1)
    print("simulate(m, nsim = 1000, seed = 1): mean and SD of the simulated responses on day 0 and day 9")
    day = sleep["Days"].to_numpy()
    for d in (0, 9):
        vals = sims.to_numpy()[day == d]
        print(f"  day {d}: mean {vals.mean():7.2f}  sd {vals.std():6.2f}")
    print()
    r = residuals(m, "pearson", scaled=True)
    print(f"scaled residuals: min {r.min():.3f}, max {r.max():.3f}", end="\n\n")

    try:
        from mixedmodels.interop.compare import compare_statsmodels

        print(compare_statsmodels(m), end="\n\n")
    except ImportError as exc:
        print(f"(statsmodels comparison skipped: {exc})\n")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        print(f"(plots skipped: {exc}; pip install mixedmodels[plot])")
        return
    from mixedmodels import plots

    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    figures = {
        "sleepstudy_caterpillar.png": plots.caterpillar_plot(m),
        "sleepstudy_shrinkage.png": plots.shrinkage_plot(m),
        "sleepstudy_residuals.png": plots.residuals_vs_fitted(m),
        "sleepstudy_qq_residuals.png": plots.qqplot_residuals(m),
        "sleepstudy_qq_ranef.png": plots.qqplot_ranef(m),
    }
    for name, fig in figures.items():
        path = outdir / name
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
