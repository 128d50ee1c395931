"""Linear mixed models on Dask DataFrames, partition by partition (the optional extra ``mixedmodels[dask]``).

``mm.lmer(formula, ddf)`` with a ``dask.dataframe.DataFrame`` runs here: the data stay in their
partitions; the passes over them are Dask computations on whatever scheduler is active, and the client
keeps only statistics whose size depends on the numbers of levels and columns, not of rows. See
``docs/dask.md``.

Importing this package does not import Dask; :func:`is_dask_frame` recognises a Dask DataFrame without it.
"""

from __future__ import annotations

__all__ = ["is_dask_frame", "is_dask_series", "lmer_dask"]


def is_dask_frame(obj) -> bool:
    """Whether ``obj`` is a Dask DataFrame (checked by its class's module, so Dask is not imported)."""
    mod = type(obj).__module__ or ""
    return mod.split(".")[0] in ("dask", "dask_expr") and hasattr(obj, "npartitions") \
        and hasattr(obj, "columns") and hasattr(obj, "map_partitions")


def is_dask_series(obj) -> bool:
    mod = type(obj).__module__ or ""
    return mod.split(".")[0] in ("dask", "dask_expr") and hasattr(obj, "npartitions") \
        and not hasattr(obj, "columns")


def lmer_dask(*args, **kwargs):
    """:func:`mixedmodels.dask.fit.lmer_dask` (imported on first use: it imports Dask)."""
    from .fit import lmer_dask as _impl

    return _impl(*args, **kwargs)
