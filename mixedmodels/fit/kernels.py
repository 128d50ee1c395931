"""Compiled kernels (Numba) for the one step of an evaluation that NumPy cannot do without large
temporaries: the downdate ``M -= C C'`` of the dense block by the rows below the first term's block.

``C`` has the sparsity of ``A_R1 = rest' Z_1``: for level ``j`` of the first term, its ``s1`` columns are
non-zero only in the rest rows ``R_j`` (the levels of the other factors that co-occur with ``j``, plus the
X and y rows). So ``C C' = sum_j C_j C_j'`` with ``C_j`` a small dense ``|R_j| x s1`` block, and the
downdate costs ``sum_j |R_j|^2 s1 / 2`` multiply-adds written straight into the lower triangle of ``M``
(Cholesky reads only that) -- no sparse product, no temporary ``m x m`` matrix.

With a diagonal scaling of the rest rows (every term after the first has one column), ``C_j`` is
``d[R_j] * (V_j @ T_j)`` where ``V_j`` are the stored cross-products and ``T_j = lambda_1 L11_j^-T``; the
kernel forms it on the fly.

Numba is imported only when a model takes this path (``"blocks"``, chosen by
:func:`mixedmodels.fit.paths.choose_path`), so small fits and ``import mixedmodels`` never pay its import
or compile time; compiled code is cached on disk (:func:`njit`: in the package's ``__pycache__``, else
Numba's user-wide cache directory or ``NUMBA_CACHE_DIR``; where no location is writable the code is
compiled in memory, never an error).

Compiling the level-block kernels (this downdate and the gradient's two kernels) takes ~3 s of CPU the
first time after installation; loading them from the cache ~0.2 s, and importing Numba to do either
another ~0.2 s. Whether the cache is cold is told from its files (:func:`indexed`: an index file for each
of :data:`BLOCKS_KERNELS` in :func:`cache_dir`), without importing Numba. A large fit runs on the sparse
(SciPy) path -- as fast as the compiled one on InstEval and the 30,000-level crossed model, up to ~1.4x
slower on others -- unless the rule below has the kernels loaded or its own predicted saving pays the
load; where that fit finds them not compiled yet, it runs on the sparse path while they are compiled once
in a separate process at the lowest priority (:func:`compile_in_background`, ``python -m mixedmodels
precompile --background``; one at a time: the process holds a lock file in the cache directory,
:func:`compile_lock`, and a fit starts none while another process holds it) that fills the on-disk cache;
the fit switches to the compiled path at its first evaluation after the cache is filled
(:class:`~mixedmodels.fit.paths.WarmingPath`). No fit compiles them itself, whatever its size.
Set :data:`COMPILE_IN_BACKGROUND` to False to compile in the fit instead (the behaviour before);
``python -m mixedmodels precompile`` after installing does it ahead of time.

When to load compiled code at all is one rule for every group of kernels (the small-model evaluator,
the level-block kernels, the GLMM kernels): rent or buy (:class:`Account`, :func:`account`). Loading a
group costs a fixed amount once per process (:meth:`Account.load_cost`: importing Numba, building its
compilation contexts, reading the group's machine code); every fit that runs on the NumPy/SciPy path
instead pays some extra time (metered while it runs, :meth:`Account.meter`). The process loads the group
once the extra time it has paid reaches the load cost (then in a background thread, so that no fit
waits for it), or at once when a single fit is predicted to save more than the load cost (large models).
Kernels whose machine code is not cached are never compiled inside a fit that has a NumPy path: the
background compile (:func:`compile_in_background`) fills the cache and the rule loads it from there.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import math
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np

__all__ = ["LevelBlocks", "available", "njit", "compiled_small_pays", "blocks_ready", "Account", "account",
           "COMPILED", "LOAD", "WAIT", "RENT", "LOAD_IMPORT", "LOAD_CONTEXT", "LOAD_GROUP", "SAVED_SHARE",
           "BLOCKS_SAVED_PER_PAIR", "BLOCKS_SAVED_PER_LEVEL", "LOAD_IN_THREAD", "THREAD_BUY_AT", "load_cached", "blocks_saving",
           "compile_in_background", "COMPILE_IN_BACKGROUND", "BACKGROUND_NICE", "BLOCKS_KERNELS", "cache_dir",
           "indexed", "compile_lock", "compiling_elsewhere", "on_disk"]

# a large fit whose level-block kernels are not compiled yet runs on the sparse path while a separate
# process compiles them (True), or compiles them itself first (False: seconds, once after installation)
COMPILE_IN_BACKGROUND = True

# the background compile's niceness (19, the lowest priority: a fit, here or in another process, gets the core first)
BACKGROUND_NICE = 19

# the level-block kernels as Numba names their cache files (module, then the function's qualified name):
# this module's downdate and the gradient's two (mixedmodels.fit.gradient); all three must be cached for
# a fit to take the compiled path without compiling (tests check that the list is complete)
BLOCKS_KERNELS = ("kernels._compile.locals.downdate", "gradient._compile.locals.qh",
                  "gradient._compile.locals.rest_first")
LOCK_NAME = "mixedmodels-precompile.lock"  # in cache_dir(): held by the compiling process
LOCK_MAX_AGE = 3600.0  # seconds after which a lock is taken to be left over (its process killed)

_downdate = None
_available = None
_blocks_ready = False
_background = None  # the compiling process started by this one (subprocess.Popen)


def available() -> bool:
    """Whether Numba can be imported (looked up without importing it)."""
    global _available
    if _available is None:
        _available = importlib.util.find_spec("numba") is not None
    return _available


def compiled_small_pays() -> bool:
    """Whether the next small model should take the compiled path (the rent-or-buy rule of the
    ``"small"`` group, :func:`account`): its evaluator is loaded in this process (by the rule, or by
    :func:`mixedmodels.fit.smallfit.load_compiled`)."""
    return available() and account("small").decide() == COMPILED


def njit(**options):
    """``numba.njit(cache=True, **options)``, or without the on-disk cache when no cache location is
    writable (a read-only install with no writable home or ``NUMBA_CACHE_DIR``): slower first use, no
    error."""
    import numba

    def decorate(fn):
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            return numba.njit(cache=False, **options)(fn)
    return decorate


def _compile():
    global _downdate
    if _downdate is not None:
        return _downdate
    # Serial on purpose: a parallel version (numba.prange over tiles, which write disjoint rows) was no
    # faster on 2 cores once OpenBLAS's threads run the Cholesky right after, and OpenMP's spin-waiting
    # made it 10x slower under load.
    @njit(nogil=True)
    def downdate(M, ptr, rows, vals, T, d, Cflat, tile_ptr, run_level, run_start, run_end):  # pragma: no cover
        nlev = ptr.shape[0] - 1
        s = T.shape[1]
        # C, level by level: C_j = d[R_j] * (V_j @ T_j)
        for j in range(nlev):
            for a in range(ptr[j], ptr[j + 1]):
                ra = rows[a]
                for c in range(s):
                    acc = 0.0
                    for k in range(s):
                        acc += vals[a, k] * T[j, k, c]
                    Cflat[a, c] = acc * d[ra]
        # M[ra, rb] -= C[ra] . C[rb] for the pairs of each level, tile by tile of rows: a tile's rows stay
        # in cache
        ntiles = tile_ptr.shape[0] - 1
        if s == 1:  # the common scalar case, without the inner loop
            C1 = Cflat[:, 0]
            for t in range(ntiles):
                for r in range(tile_ptr[t], tile_ptr[t + 1]):
                    p0 = ptr[run_level[r]]
                    for a in range(run_start[r], run_end[r]):
                        ra = rows[a]
                        ca = C1[a]
                        for b in range(p0, a + 1):
                            M[ra, rows[b]] -= ca * C1[b]
            return M
        for t in range(ntiles):
            for r in range(tile_ptr[t], tile_ptr[t + 1]):
                p0 = ptr[run_level[r]]
                for a in range(run_start[r], run_end[r]):
                    ra = rows[a]
                    for b in range(p0, a + 1):
                        acc = 0.0
                        for c in range(s):
                            acc += Cflat[a, c] * Cflat[b, c]
                        M[ra, rows[b]] -= acc
        return M

    _downdate = downdate
    return downdate


def cache_dir() -> str:
    """The directory where Numba keeps the machine code of this folder's kernels (its cache locators, the
    first that applies): ``NUMBA_CACHE_DIR``; else the package's ``__pycache__`` when writable; else the
    user-wide cache directory. Outside ``__pycache__``, in a subdirectory named after the source
    directory and the SHA-1 of its path."""
    src_dir = os.path.dirname(os.path.abspath(__file__))
    sub = f"{os.path.basename(src_dir)}_{hashlib.sha1(src_dir.encode()).hexdigest()}"
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.path.join(os.environ["NUMBA_CACHE_DIR"], sub)
    in_tree = os.path.join(src_dir, "__pycache__")
    if os.access(in_tree if os.path.isdir(in_tree) else src_dir, os.W_OK):
        return in_tree
    user = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(user, "numba", sub)


def indexed(names) -> bool:
    """Whether Numba's on-disk cache (:func:`cache_dir`) holds an index file for every kernel in ``names``
    (as Numba names them: ``"module.qualified_name"``), looked up without importing Numba. A stale index
    (the source changed since) counts: whether it is fresh, only Numba can tell."""
    where = glob.escape(cache_dir())
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}.nbi"
    return all(glob.glob(os.path.join(where, f"{name}-*.{tag}")) for name in names)


def _on_disk(fn) -> bool:
    """Whether Numba's on-disk cache holds machine code for ``fn`` (its index is read; a stale index,
    written for another version of the source, reads as empty). True when the layout of Numba's cache
    is not the one known here, or there is no cache (compiled in memory): then nothing is gained by
    waiting, and the fit compiles as before."""
    try:
        return bool(fn._cache._cache_file._load_index())
    except Exception:
        return True


def on_disk(fn) -> bool:
    """Whether Numba's on-disk cache holds machine code for the compiled function ``fn`` (see
    :func:`_on_disk`); for the other kernel modules of this folder."""
    return _on_disk(fn)


def _background_finished() -> bool:
    """Whether the compile this process started has ended having compiled (status 0; 3: it found
    another process compiling and left)."""
    return bool(_background) and _background.poll() == 0


def blocks_ready(start_compile: bool = True) -> bool:
    """Whether the level-block kernels run without compiling: compiled in this process, or in Numba's
    on-disk cache. Cold (no index file for one of :data:`BLOCKS_KERNELS`, the first large fit after
    installation, or while another process compiles them) this costs a directory listing and never
    imports Numba (~0.3-0.5 s); when every index is there, Numba reads the downdate's (the kernels are
    compiled together: a fresh one stands for the three). When they are not ready, and
    :data:`COMPILE_IN_BACKGROUND` is set, starts :func:`compile_in_background` (once a process, and not
    while another process compiles them; not with ``start_compile=False``) and returns False."""
    global _blocks_ready
    if _blocks_ready or not COMPILE_IN_BACKGROUND:
        return True
    # this process's compile ended without the index files where they were looked for: Numba's own
    # look-up decides (a cache location this module does not know)
    if indexed(BLOCKS_KERNELS) or _background_finished():
        fn = _compile()
        if fn.overloads or _on_disk(fn):
            _blocks_ready = True
            return True
    if start_compile:
        compile_in_background()
    return False


def _lock_path() -> str:
    return os.path.join(cache_dir(), LOCK_NAME)


def _lock_holder(path: str) -> int | None:
    """The process id in a lock file when that process still runs and the lock is not older than
    :data:`LOCK_MAX_AGE`; else None (no lock, or one left over)."""
    try:
        with open(path) as fh:
            pid = int(fh.read().strip() or 0)
        if time.time() - os.path.getmtime(path) > LOCK_MAX_AGE:
            return None
        os.kill(pid, 0)
    except (OSError, ValueError):  # no file, unreadable, no such process
        return None
    return pid


def compiling_elsewhere() -> bool:
    """Whether another process holds the compile lock (:func:`compile_lock`): a background compile is
    running, and this process need not start one."""
    pid = _lock_holder(_lock_path())
    return pid is not None and pid != os.getpid()


@contextmanager
def compile_lock():
    """Hold the compile lock (a file in :func:`cache_dir` with this process's id) for the body; yields
    False when another running process holds it (then nothing should be compiled here), True otherwise
    (also when no lock can be written: compiling twice is only slower)."""
    path = _lock_path()
    fd = None
    for _ in range(2):
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            if _lock_holder(path) is not None:
                yield False
                return
            try:  # left over by a process that was killed: take it over
                os.unlink(path)
            except OSError:
                pass
        except OSError:  # not writable: no lock
            break
    if fd is not None:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
    try:
        yield True
    finally:
        if fd is not None:
            try:
                os.unlink(path)
            except OSError:
                pass


def compile_in_background() -> None:
    """Start ``python -m mixedmodels precompile --background`` (at the lowest priority,
    :data:`BACKGROUND_NICE`, detached, output discarded), once a process, and not while another process
    compiles (:func:`compiling_elsewhere`); it fills Numba's on-disk cache, where the fits of this
    process (see :class:`~mixedmodels.fit.paths.WarmingPath`) and of later ones find the machine code.
    Never raises: without it the fits stay on the sparse path."""
    global _background
    if _background is not None or compiling_elsewhere():
        return
    # the child imports this very package (and compiles into the cache this process reads), wherever
    # it was imported from
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p))
    try:
        _background = subprocess.Popen([sys.executable, "-m", "mixedmodels", "precompile", "--background"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    except Exception:  # pragma: no cover - no process can be started here
        _background = False


# ------------------------------------------------------------------------------- rent or buy
# The one-off cost of loading a group of compiled kernels into a process, in CPU seconds (measured on the
# 2-core benchmark machine, new processes with numpy, scipy and pandas imported, warm Numba cache, best
# and median of 3-5 runs each; docs/performance.md, "No warm-up tax"):
LOAD_IMPORT = 0.17    # ``import numba``: 0.14-0.23 s
LOAD_CONTEXT = 0.15   # the first cached kernel a process calls: Numba builds its typing and target
                      # contexts (0.15-0.25 s); paid once, by whichever group loads first
LOAD_GROUP = {"small": 0.03, "blocks": 0.02, "glmm": 0.3}  # reading a group's machine code once the above
                      # are paid (the small evaluator 0.02 s after the GLMM kernels, the level-block
                      # kernels 0.01-0.03 s; the GLMM kernels 0.3-0.55 s with the contexts, 0.17-0.39 s
                      # past the first)
# The share of a NumPy path's metered time that the compiled path saves (1 - compiled / NumPy time of the
# same calls; best of 50 calls, thread CPU time): the small-model evaluation with its gradient by the
# NumPy small evaluator, 0.78-0.88 (sleepstudy 70.5 against 8.5 us, Penicillin 55 / 9.2, Pastes 58 /
# 12.8, a boundary fit 88 / 16); a GLMM's PIRLS with its Laplace deviance, 0.95 (cbpp 255 against
# 14 us). Rounded down. The meter measures the NumPy time, so a faster NumPy path charges less.
SAVED_SHARE = {"small": 0.78, "glmm": 0.9}
# The blocks path: the sparse path's extra time per evaluation with its gradient against the compiled
# level-block kernels, per pair of the level-by-level downdate (``LevelBlocks.work``): 2.2-3.1 ns on
# crossed intercepts with 50,000-200,000 rows (2.4-12 ms an evaluation), none on InstEval or on the
# 30,000 x 500 crossed model (the sparse path is as fast there).
BLOCKS_SAVED_PER_PAIR = 2.2e-9
# ... and per level of the first term: the pair model misses the sparse path's per-level cost on a first
# factor with very many levels. The 30,000 x 500 crossed model (300,000 rows; the sweep's crossed30k):
# sparse 0.72 s against blocks 0.44 s a warm fit, 12 evaluations (integrator, 2026-12-07, one thread,
# quiet machine): 23 ms an evaluation, 0.78 us a level. Rounded down. InstEval (2,972 levels) stays on the
# sparse path under both models (45 ms predicted for a fit against the ~0.34 s load).
BLOCKS_SAVED_PER_LEVEL = 0.6e-6
LOAD_IN_THREAD = False  # buy in the fit that buys (default) or in a background thread
# Measured on the loaded 2-core machine (2026-12-07, new processes, CPU seconds, 2 runs each): 30 cbpp glmer fits
# 1.65-1.79 s loading in the buying fit against 2.22-2.73 s loading in a thread (0.99 s with everything
# loaded first); 300 sleepstudy fits 1.36-1.48 s against 1.52-1.58 s. The load holds the interpreter lock
# for long stretches, and the fits beside it wait for the lock at every NumPy call that releases it (a
# convoy: single cbpp fits took 0.2-0.7 s wall while the thread loaded), so the thread costs more in total
# than the one fit that waits for the load (0.5 s on a quiet machine).
# With the load in a thread, the fits keep renting while it runs: sharing the interpreter lock with them,
# the load of the GLMM kernels (~0.6 s of CPU) took 10-11 cbpp fits on the loaded 2-core machine, about
# as much extra time again as the load cost. So the thread starts when the extra time reaches this
# share of the load cost: the total paid is then ~1.5x the load cost, against 1x for the synchronous
# rule (where the buying fit waits for the whole load) and 2x for a thread started at the full cost.
THREAD_BUY_AT = 0.5

COMPILED, LOAD, WAIT, RENT = "compiled", "load", "wait", "rent"
_ACCOUNTS: dict = {}


class Account:
    """The rent-or-buy (ski-rental) account of one group of compiled kernels in this process.

    ``loaded()``: the group's machine code is in memory; ``cached()``: it is in Numba's on-disk cache
    (told without importing Numba); ``load()``: load it (from the cache; compiles only when it is not
    there). :meth:`decide` is asked before each fit that could use the group, with the time that fit is
    predicted to save on the compiled path (0 when the saving is not known beforehand: then only the
    metered past counts); :meth:`meter` charges each NumPy-path fit's extra time to :attr:`excess`.

    The rule: compiled once loaded; rent (the NumPy path) while the extra time paid so far is below the
    load cost, then buy: load it in the fit that buys (``LOAD``; or, with :data:`LOAD_IN_THREAD`, start
    loading in a background thread from :data:`THREAD_BUY_AT` of the load cost while the fits rent) when
    the code is cached, else start the background compile
    (:func:`compile_in_background`) and keep renting until the cache is filled. A fit whose predicted
    saving alone reaches the load cost buys at once, in the fit (``LOAD``) -- or, with the code not
    cached, starts the compile and rents until it is cached (``WAIT``). Rent-or-buy never pays more than twice what the best choice
    in hindsight would (the load cost in extra time, then the load), and a process that fits one small
    model pays nothing. ``clock``: the meter's clock (the fitting thread's CPU time).
    """

    def __init__(self, group: str, loaded, cached, load, clock=time.thread_time):
        self.group = group
        self.loaded, self.cached, self._load = loaded, cached, load
        self.clock = clock
        self.excess = 0.0          # extra time (s) the NumPy paths have cost this process so far
        self.fits = 0              # fits metered
        self._thread: threading.Thread | None = None
        self._failed = False       # a load found no machine code (a stale cache): compile instead
        self.log: list = []        # (decision, excess, load cost) of each decision, for the tests
        _ACCOUNTS[group] = self

    def load_cost(self) -> float:
        """What loading the group would cost this process now: Numba's import unless it is imported,
        Numba's contexts unless a group is loaded, and the group's own machine code."""
        cost = LOAD_GROUP.get(self.group, 0.0)
        if "numba" not in sys.modules:
            cost += LOAD_IMPORT
        if not any(a.loaded() for a in _ACCOUNTS.values() if a is not self):
            cost += LOAD_CONTEXT
        return cost

    def loading(self) -> bool:
        """Whether a background thread is loading the group now."""
        return self._thread is not None and self._thread.is_alive()

    def decide(self, saving: float = 0.0) -> str:
        """:data:`COMPILED` (loaded: use it), :data:`LOAD` (load it now, in this fit: ``saving`` alone
        reaches the load cost and the code is cached), :data:`WAIT` (the same, but the code is not
        cached: the background compile is started; the fit runs on the NumPy path and may switch when the
        cache is filled) or :data:`RENT` (the NumPy path for this fit)."""
        if not available():
            return RENT
        if self.loading():
            return self._note(RENT, math.nan)
        if self.loaded():
            return COMPILED
        cost = self.load_cost()
        if saving < cost and self.excess < min(THREAD_BUY_AT, 1.0) * cost:  # the common case: rent, nothing to look up
            return self._note(RENT, cost)
        cached = (not COMPILE_IN_BACKGROUND) or (self.cached() and not self._failed)
        if saving >= cost:
            if cached:
                return self._note(LOAD, cost)
            compile_in_background()
            return self._note(WAIT, cost)
        if self.excess >= (THREAD_BUY_AT * cost if LOAD_IN_THREAD and cached else cost):
            if not cached:
                compile_in_background()
            elif LOAD_IN_THREAD and COMPILE_IN_BACKGROUND:
                self._thread = threading.Thread(target=self._load_quietly, name=f"mixedmodels-load-{self.group}",
                                                daemon=True)
                self._thread.start()
            else:
                return self._note(LOAD, cost)
        return self._note(RENT, cost)

    def _note(self, decision: str, cost: float) -> str:
        if len(self.log) < 10_000:
            self.log.append((decision, self.excess, cost))
        return decision

    def _load_quietly(self) -> None:
        try:
            self._load()
        except Exception:  # pragma: no cover - the fits stay on the NumPy path
            pass
        if not self.loaded():  # nothing loaded from the cache (stale): the compile refills it
            self._failed = True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background load (tests, benchmarks); whether the group is loaded."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.loaded()

    def charge(self, seconds: float) -> None:
        """Add extra time a NumPy path cost (seconds)."""
        self.excess += seconds

    def meter(self, obj, names, share: float | None = None, per_call: float | None = None) -> None:
        """Charge the extra time of the NumPy path ``obj`` (a path, a PIRLS problem) to this account: each
        call of its methods ``names`` adds ``share`` of its CPU time (:attr:`clock`) or a fixed
        ``per_call`` (a predicted saving per call). The methods are wrapped on the instance."""
        self.fits += 1
        clock = self.clock
        for name in names:
            fn = getattr(obj, name)
            if per_call is not None:
                def timed(*args, _fn=fn, **kw):
                    self.excess += per_call
                    return _fn(*args, **kw)
            else:
                def timed(*args, _fn=fn, **kw):
                    t = clock()
                    try:
                        return _fn(*args, **kw)
                    finally:
                        self.excess += share * (clock() - t)
            setattr(obj, name, timed)


def account(group: str) -> Account:
    """The process's :class:`Account` of a kernel group: ``"small"``, ``"blocks"`` or ``"glmm"``."""
    return _ACCOUNTS[group]


def load_cached(dispatchers) -> None:
    """Load the machine code of every signature that Numba's on-disk cache holds for each of the compiled
    functions ``dispatchers`` (for this CPU), compiling nothing: after this their first calls cost no
    load. For the background load of :meth:`Account.decide`."""
    for fn in dispatchers:
        try:
            index = fn._cache._cache_file._load_index()
            magic = fn.targetctx.codegen().magic_tuple()
        except Exception:  # an unknown layout of Numba's cache: the first call loads it
            continue
        for key in index:
            try:
                if key[1] == magic and key[0] not in fn.overloads:
                    fn.compile(key[0])
            except Exception:
                pass
            time.sleep(0)  # let the fitting thread take the interpreter lock between kernels


def blocks_loaded() -> bool:
    """Whether the level-block downdate has machine code in this process (run, or loaded)."""
    return _downdate is not None and bool(_downdate.overloads)


def blocks_saving(crit, evaluations: float | None = None) -> float:
    """The time (s) one fit of ``crit`` is predicted to save on the compiled level-block kernels against
    the sparse path: :data:`BLOCKS_SAVED_PER_PAIR` per pair of the downdate an evaluation (or
    :data:`BLOCKS_SAVED_PER_LEVEL` per level of the first term, whichever is more), times the
    evaluations (lme4-like counts: ~10 plus 5 a parameter)."""
    if evaluations is None:
        evaluations = 10 + 5 * crit.ntheta
    blocks = crit.level_blocks
    per_evaluation = max(BLOCKS_SAVED_PER_PAIR * blocks.work, BLOCKS_SAVED_PER_LEVEL * blocks.nlevels)
    return per_evaluation * evaluations


def mark_blocks_ready() -> None:
    """The level-block kernels' machine code is loaded (by :meth:`Account.decide`'s background load)."""
    global _blocks_ready
    _blocks_ready = True


class LevelBlocks:
    """``A_R1`` stored level by level: for level ``j`` of the first term, the rest rows ``rows[ptr[j]:
    ptr[j+1]]`` (sorted) and their values ``vals[...]`` (one column per column of the first term)."""

    def __init__(self, AR1, nlevels: int, s1: int):
        csc = AR1.tocsc()
        csc.sort_indices()
        m = AR1.shape[0]
        if s1 == 1:
            self.ptr = csc.indptr.astype(np.int64)
            self.rows = csc.indices.astype(np.int64)
            self.vals = csc.data.reshape(-1, 1).copy()
            self.m = m
            counts = np.diff(self.ptr)
            self.work = int((counts * (counts + 1) // 2).sum())
            self._tiles(nlevels)
            return
        ptr = np.zeros(nlevels + 1, dtype=np.int64)
        rows_list = []
        vals_list = []
        for j in range(nlevels):
            cols = range(j * s1, (j + 1) * s1)
            r = np.unique(np.concatenate([csc.indices[csc.indptr[c]: csc.indptr[c + 1]] for c in cols]))
            v = np.zeros((len(r), s1))
            for k, c in enumerate(cols):
                rr = csc.indices[csc.indptr[c]: csc.indptr[c + 1]]
                v[np.searchsorted(r, rr), k] = csc.data[csc.indptr[c]: csc.indptr[c + 1]]
            rows_list.append(r)
            vals_list.append(v)
            ptr[j + 1] = ptr[j] + len(r)
        self.ptr = ptr
        self.rows = np.concatenate(rows_list).astype(np.int64) if rows_list else np.zeros(0, np.int64)
        self.vals = np.concatenate(vals_list) if vals_list else np.zeros((0, s1))
        self.m = m
        counts = np.diff(ptr)
        self.work = int((counts * (counts + 1) // 2).sum()) * s1
        self._tiles(nlevels)

    def _tiles(self, nlevels: int) -> None:
        """Cut each level's sorted rows into runs that fall in one tile of ``tile`` rows of M, and order
        the runs by tile (``tile_ptr``): the downdate then works through M one cache-sized tile at a time."""
        self.nlevels = nlevels
        m = max(self.m, 1)
        tile = max(8, min(512, (1 << 20) // (8 * m)))  # a tile of rows of M is ~1 MB
        nnz = len(self.rows)
        level = np.repeat(np.arange(nlevels), np.diff(self.ptr))
        tid = self.rows // tile
        start = np.ones(nnz, dtype=bool)
        if nnz:
            start[1:] = (tid[1:] != tid[:-1]) | (level[1:] != level[:-1])
        run_start = np.flatnonzero(start)
        run_end = np.append(run_start[1:], nnz)
        run_tile = tid[run_start]
        order = np.argsort(run_tile, kind="stable")
        ntiles = (self.m + tile - 1) // tile
        self.tile_ptr = np.concatenate([[0], np.cumsum(np.bincount(run_tile, minlength=ntiles))]).astype(np.int64)
        self.run_level = level[run_start][order].astype(np.int64)
        self.run_start = run_start[order].astype(np.int64)
        self.run_end = run_end[order].astype(np.int64)
        self._cflat = np.empty_like(self.vals)

    def downdate(self, M: np.ndarray, T: np.ndarray, d: np.ndarray) -> np.ndarray:
        """``M[lower] -= (C C')[lower]`` with ``C_j = d[R_j] * (V_j @ T_j)``."""
        fn = _compile()
        return fn(M, self.ptr, self.rows, self.vals, np.ascontiguousarray(T), d, self._cflat,
                  self.tile_ptr, self.run_level, self.run_start, self.run_end)
