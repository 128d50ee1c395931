"""A worker process that dies in the middle of a pass (issue 16, bad input): Dask reruns the lost tasks on
another worker and the fit equals the in-memory one; a worker lost more often than the scheduler allows
gives a package error naming the pass, and no fitted object.

Runs its own LocalCluster with worker *processes* (a worker that calls ``os._exit`` takes only itself
down; the nanny starts a new one). The partitions are read by a function that counts its calls in files
(one per partition) and kills its process at a chosen call: pass 1a, 1b and 2 each read every partition
once, so the third call of a partition is the cross-product pass.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import mixedmodels as mm  # noqa: E402
from mixedmodels.errors import DataError  # noqa: E402


def _reader(counter: str, die_at: set):
    """A partition reader that appends to ``counter`` at every call and kills its worker process at the
    calls numbered in ``die_at`` (defined here so that it is pickled by value for the workers)."""

    def read(piece):
        with open(counter, "a") as fh:
            fh.write("x")
        with open(counter) as fh:
            calls = len(fh.read())
        if calls in die_at:
            os._exit(1)  # the worker process dies mid-pass, as a lost machine would
        return piece

    return read


@pytest.fixture(scope="module")
def cluster():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # one retry: a task whose worker dies once is rerun; twice is a failure for good
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                          dashboard_address=None, silence_logs=50)
            client = distributed.Client(lc)
    yield client
    client.close()
    lc.close()


def _ddf(sleep, tmp_path, die_at: set):
    pieces = [sleep.iloc[a:b].copy() for a, b in ((0, 60), (60, 120), (120, 180))]
    parts = []
    for k, piece in enumerate(pieces):
        read = _reader(str(tmp_path / f"calls{k}"), die_at if k == 1 else set())
        parts.append(dask.delayed(read, pure=False)(piece))
    return dd.from_delayed(parts, meta=pieces[0].iloc[:0], verify_meta=False)


def test_a_worker_lost_in_the_cross_product_pass_is_retried(cluster, tmp_path):
    sleep = mm.datasets.load("sleepstudy")
    ddf = _ddf(sleep, tmp_path, {3})  # partition 1's third read: the cross-product pass
    fd = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf, data_name="sleepstudy")
    fp = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    # the worker did die: partition 1 was read a fourth time (the rerun)
    assert len((tmp_path / "calls1").read_text()) == 4
    assert abs(fd.objective / fp.objective - 1) <= 1e-10
    np.testing.assert_allclose(fd.fixef.to_numpy(), fp.fixef.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(fd.theta, fp.theta, rtol=1e-8, atol=1e-8)
    assert str(fd.summary()) == str(fp.summary())


def test_a_worker_lost_for_good_names_the_pass_and_fits_nothing(cluster, tmp_path):
    sleep = mm.datasets.load("sleepstudy")
    ddf = _ddf(sleep, tmp_path, {2, 3, 4})  # pass 1b's read and its rerun both kill their worker
    fit = None
    with pytest.raises(DataError, match=r"pass 1b \(the model frame\) failed.*KilledWorker"):
        fit = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf, data_name="sleepstudy")
    assert fit is None
