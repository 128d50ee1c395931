"""Running the passes: Dask computations on the active scheduler, with an optional progress display,
and the tree reduction of partition results."""

from __future__ import annotations

import uuid

import dask

from ..errors import DataError, MixedModelsError

__all__ = ["compute", "share", "tree_reduce", "SPLIT_EVERY"]

SPLIT_EVERY = 8  # fan-in of the tree reduction


def compute(objs: list, progress: bool = False, what: str = "a pass over the partitions") -> list:
    """Compute Dask objects on the active scheduler, with a progress display when asked (distributed's
    ``progress`` under a ``distributed.Client``, else ``dask.diagnostics.ProgressBar``). A failure in a
    task (a lost worker after Dask's retries, an error in a partition) is raised here: nothing
    half-computed is returned."""
    client = None
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        futures = client.compute(list(objs))
        if progress:
            from distributed import progress as dprogress

            dprogress(futures)
        try:
            return client.gather(futures)
        except MixedModelsError:
            raise
        except Exception as exc:  # noqa: BLE001 - a worker or scheduler failure: say which pass failed
            name = type(exc).__name__
            if name in ("KilledWorker", "CommClosedError", "FutureCancelledError", "CancelledError"):
                raise DataError(f"{what} failed on the Dask cluster ({name}: {exc}); nothing was fitted or "
                                "returned. Dask retries the tasks of a lost worker; these failed for good "
                                "(see distributed.scheduler.allowed-failures)") from exc
            raise
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return list(dask.compute(*objs))
    return list(dask.compute(*objs))


def share(obj) -> "dask.delayed":
    """``obj`` as one Dask key that the partition tasks depend on: the frame state and the fitted
    conditional modes (sized by the levels) travel to each worker once instead of inside every task."""
    return dask.delayed(obj, name=f"mixedmodels-shared-{uuid.uuid4().hex}", traverse=False)


def tree_reduce(items: list, combine, split_every: int = SPLIT_EVERY) -> "dask.delayed":
    """Add delayed partition results in a tree of fan-in ``split_every``."""
    while len(items) > 1:
        items = [dask.delayed(combine, pure=True)(items[i:i + split_every])
                 for i in range(0, len(items), split_every)]
    return items[0]
