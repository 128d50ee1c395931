"""Thread pools inside the fit: one BLAS thread unless the user asks for more.

A fit is a long sequence of small and mid-size dense operations (a numpy product, then scipy's
``dpotrf`` on the result, then a few triangular solves). numpy's and scipy's wheels each load their own
OpenBLAS, each with its own pool of threads; when one pool's threads are still spinning after a product,
the other pool's threads contend with them, and with any other busy process on the machine. Measured on
a 2-core machine (see ``benchmarks/README.md``), two threads were never faster than one for any block
size a fit factors (100 x 100 to 4000 x 4000), and were 2-50x slower as soon as another process was busy;
so the default inside the fit is one thread for every BLAS pool (numpy's, scipy's, MKL's, whichever are
loaded) and for Numba's pool when it is running.

The user's own setting wins:

* ``threads=n`` on :func:`mixedmodels.lmer`, :meth:`LinearMixedModel.fit` and the other entry points that
  factor (profile, bootstrap, Satterthwaite and Kenward-Roger) sets ``n`` threads for that call;
* :func:`set_threads` (``mm.set_threads(n)``) sets ``n`` for every later call; ``mm.set_threads(None)``
  returns to the default;
* when ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set in the environment and
  neither of the above is given, the pools are left as the environment configured them.

The limits are scoped: they are set on entry to the outermost call and the previous values are restored
on exit, so code around the fit keeps its own thread settings. This module is imported with the model
(not by ``import mixedmodels``); it finds the loaded BLAS libraries then, so the first fit does not pay
for it.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from ..errors import MixedModelsError

__all__ = ["set_threads", "get_threads", "effective_threads", "limited_threads", "scoped", "DEFAULT_THREADS",
           "ENV_VARS"]

DEFAULT_THREADS = 1  # inside the fit, when the user has said nothing (measured: more never paid)
ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

_setting: int | None = None     # mm.set_threads(n)
_lock = threading.RLock()
_controller = None              # threadpoolctl.ThreadpoolController
_controller_saw_scipy = False   # scipy's OpenBLAS is a second library: look again once it is loaded
_depth = 0                      # nesting of limited_threads() in this process
_active: int | None = None      # the limit in force (None: pools untouched)
_base_saved: list = []          # what the outermost call changed, restored when the last call returns


def _check(n, what: str) -> int | None:
    if n is None:
        return None
    if isinstance(n, bool) or not hasattr(n, "__index__"):  # int or numpy integer, not bool/float/str
        raise MixedModelsError(f"{what} must be a whole number >= 1 or None, not {n!r}")
    n = int(n.__index__())
    if n < 1:
        raise MixedModelsError(f"{what} must be a whole number >= 1 or None, not {n!r}")
    return n


def set_threads(n: int | None) -> None:
    """Threads used inside every later fit (BLAS and Numba); ``None`` restores the default (one thread,
    or the environment's ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` if set)."""
    global _setting
    _setting = _check(n, "set_threads(n)")


def get_threads() -> int | None:
    """The value given to :func:`set_threads` (None when not set)."""
    return _setting


def _env_threads() -> bool:
    return any(os.environ.get(v, "").strip() for v in ENV_VARS)


def effective_threads(threads: int | None = None) -> int | None:
    """The limit a fit called with ``threads`` would set: the argument, else :func:`set_threads`'s value,
    else None when an environment variable configures the pools (left alone), else one thread."""
    threads = _check(threads, "threads")
    if threads is not None:
        return threads
    if _setting is not None:
        return _setting
    if _env_threads():
        return None
    return DEFAULT_THREADS


def _get_controller():
    global _controller, _controller_saw_scipy, _pools
    if _controller is None or (not _controller_saw_scipy and "scipy.linalg" in sys.modules):
        _controller_saw_scipy = "scipy.linalg" in sys.modules
        _controller = ThreadpoolController()  # ~1 ms: inspects every loaded library; built once or twice
        _pools = [(lc.get_num_threads, lc.set_num_threads) for lc in _controller.lib_controllers]
    return _controller


_pools: list = []  # (get, set) of every BLAS/OpenMP pool the controller found, resolved once


def _numba_pool():
    """Numba's threading layer, only when it is already running (never started here: starting it costs
    more than any fit it could help, and the package's compiled kernels are serial)."""
    numba = sys.modules.get("numba")
    if numba is None:
        return None
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if parallel is None or not getattr(parallel, "_is_initialized", False):
        return None
    return numba


def _set_all(n: int) -> list:
    """Set every pool to ``n`` threads; return what to restore. A pool already at ``n`` is not touched, so
    entering and leaving the limit costs two reads and two writes per pool (~5 us with numpy's and scipy's
    OpenBLAS: measured, see docs/performance.md), and nothing is written when the pools are at ``n``."""
    saved = []
    _get_controller()
    for get, set_ in _pools:
        try:
            old = get()
            if old != n:
                set_(n)
                saved.append((set_, old))
        except Exception:  # pragma: no cover - a library that refuses: leave it as it is
            continue
    numba = _numba_pool()
    if numba is not None:
        try:
            old = numba.get_num_threads()
            if old != n:
                numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
                saved.append((numba.set_num_threads, old))
        except Exception:  # pragma: no cover
            pass
    return saved


@contextmanager
def limited_threads(threads: int | None = None):
    """Run the body with the thread limit :func:`effective_threads` gives. Nested calls without an explicit
    ``threads`` keep the outer call's limit; the libraries' own settings come back when the last call
    in the process returns (also when several Python threads fit at once)."""
    global _depth, _active, _base_saved
    n = effective_threads(threads)
    with _lock:
        frame_saved = []
        if _depth == 0:
            _base_saved = _set_all(n) if n is not None else []
            _active = n
        elif threads is not None and n != _active:
            frame_saved = _set_all(n)  # an explicit, different limit for this inner call only
        outer_active = _active
        if frame_saved:
            _active = n
        _depth += 1
    try:
        yield _active
    finally:
        with _lock:
            _restore(frame_saved)
            if frame_saved:
                _active = outer_active
            _depth -= 1
            if _depth == 0:
                _restore(_base_saved)
                _base_saved = []
                _active = None


def _restore(saved: list) -> None:
    for setter, old in reversed(saved):
        try:
            setter(old)
        except Exception:  # pragma: no cover
            pass


def scoped(func):
    """Decorator for the entry points that factor: adds a ``threads=`` keyword (see the module docstring)
    and runs the call inside :func:`limited_threads`."""
    @functools.wraps(func)
    def wrapper(*args, threads: int | None = None, **kwargs):
        with limited_threads(threads):
            return func(*args, **kwargs)
    return wrapper


_get_controller()  # find the BLAS libraries now, with the model's imports, not during the first fit
