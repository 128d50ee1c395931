"""``python -m mixedmodels precompile`` compiles (or loads from the cache) every Numba kernel and says so."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_precompile_runs_and_reports():
    out = subprocess.run([sys.executable, "-m", "mixedmodels", "precompile"], capture_output=True, text=True,
                         cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "compiled kernels ready" in out.stdout


def test_precompile_background_is_the_same_compile_at_low_priority():
    """What a fit starts when the level-block kernels are not compiled yet (mixedmodels.fit.kernels)."""
    out = subprocess.run([sys.executable, "-m", "mixedmodels", "precompile", "--background"], capture_output=True,
                         text=True, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "compiled kernels ready" in out.stdout
