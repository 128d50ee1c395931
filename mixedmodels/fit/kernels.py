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
first time after installation; loading them from the cache ~0.3 s, and importing Numba to do either
another ~0.3 s. So a large fit takes the compiled path only when its machine code is ready
(:func:`blocks_ready`: compiled in this process, or in Numba's on-disk cache). Whether the cache is cold
is told from its files (:func:`indexed`: an index file for each of :data:`BLOCKS_KERNELS` in
:func:`cache_dir`), without importing Numba. Otherwise a fit up to
:data:`~mixedmodels.fit.paths.WARMING_MAX_SIZE` runs on the sparse (SciPy) path, as fast as the compiled
one on InstEval-like shapes and 2-3x slower on others but costing less than the compile (a larger fit
compiles the kernels itself: there the compile is the smaller cost), and the kernels are compiled once in
a separate process at the lowest priority (:func:`compile_in_background`, ``python -m mixedmodels
precompile --background``; one at a time: the process holds a lock file in the cache directory,
:func:`compile_lock`, and a fit starts none while another process holds it) that fills the on-disk cache;
the fit switches to the compiled path at its first evaluation after the cache is filled
(:class:`~mixedmodels.fit.paths.WarmingPath`), and later fits, in this process or any other, start on it.
Set :data:`COMPILE_IN_BACKGROUND` to False to compile in the fit instead (the behaviour before);
``python -m mixedmodels precompile`` after installing does it ahead of time.

Small models (the ``"small"`` path, :mod:`mixedmodels.fit.smallfit`) have a compiled evaluator too, but
loading Numba and the cached machine code costs ~0.3 s the first time in a process, where a small fit on
the NumPy (``"dense"``) path takes a few milliseconds. :func:`compiled_small_pays` therefore keeps the
first :data:`SMALL_FITS_BEFORE_JIT` small models of a process on the NumPy path, and lets the compiled
evaluator take over from then on (or at once when it is already loaded): a script that fits one model
never waits for Numba, a bootstrap or a simulation loop soon runs compiled.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np

__all__ = ["LevelBlocks", "available", "njit", "compiled_small_pays", "SMALL_FITS_BEFORE_JIT", "blocks_ready",
           "compile_in_background", "COMPILE_IN_BACKGROUND", "BACKGROUND_NICE", "BLOCKS_KERNELS", "cache_dir",
           "indexed", "compile_lock", "compiling_elsewhere", "on_disk"]

# small models fitted on the NumPy path in a process before the compiled evaluator is loaded (a NumPy
# fit of sleepstudy takes a few ms against ~1.5 ms compiled; loading Numba costs ~0.3 s once)
SMALL_FITS_BEFORE_JIT = 20

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
_small_seen = 0
_blocks_ready = False
_background = None  # the compiling process started by this one (subprocess.Popen)


def available() -> bool:
    """Whether Numba can be imported (looked up without importing it)."""
    global _available
    if _available is None:
        _available = importlib.util.find_spec("numba") is not None
    return _available


def compiled_small_pays() -> bool:
    """Whether the next small model should take the compiled path: Numba is installed, and either the
    compiled code is already loaded in this process or :data:`SMALL_FITS_BEFORE_JIT` small models were
    fitted on the NumPy path before this one."""
    global _small_seen
    if not available():
        return False
    if "mixedmodels.fit._smallfit_jit" in sys.modules:
        return True
    _small_seen += 1
    return _small_seen > SMALL_FITS_BEFORE_JIT


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
