"""R's print options for summaries and fits (tests/fixtures/print_options.json from
tests/r/make_print_fixtures.R: R 4.2.2, lme4 1.1.31; tight BOBYQA fits, so the summaries carry a
"Control:" line, removed before comparing)."""

import pytest

from conftest import fitted, load_fixture, strip_control

REF = load_fixture("print_options.json")["fits"]
FORMULAS = {"slope": ("Reaction ~ Days + (Days | Subject)", True),
            "ml": ("Reaction ~ Days + I(Days^2) + (1 | Subject)", False)}


def _ours(m, call):
    if call.startswith("print(summary(m)"):
        kwargs = {}
        for part in call[len("print(summary(m), "):-1].split(", "):
            key, val = part.split(" = ")
            key = {"ranef.comp": "ranef_comp", "show.resids": "show_resids"}.get(key, key)
            kwargs[key] = {"TRUE": True, "FALSE": False}.get(val, None)
            if kwargs[key] is None:
                kwargs[key] = val.strip('"') if val.startswith('"') else int(val)
        return str(m.summary(**kwargs))
    if "ranef.comp" in call:
        return m.format(ranef_comp=("Variance", "Std.Dev."))
    return m.format(digits=3)


CASES = [(f["id"], o) for f in REF for o in f["outputs"]]


@pytest.mark.parametrize("fid,out", CASES, ids=[f"{i}: {o['call']}" for i, o in CASES])
def test_print_options_as_r(fid, out):
    formula, reml = FORMULAS[fid]
    m = fitted(formula, "sleepstudy", reml)
    assert _ours(m, out["call"]).split("\n") == strip_control(out["text"])
