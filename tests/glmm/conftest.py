"""The GLMM tests check the compiled PIRLS loop (and, through ``_numpy_twin``, the NumPy loop against it):
the compiled kernels are loaded before they run, as in a process past its first small GLMMs (those run
on NumPy, see mixedmodels.fit.glmm_kernels.compiled_pays; tested in test_glmm_numpy_first.py, in fresh
processes)."""

from mixedmodels.fit import glmm_kernels

glmm_kernels.load_compiled()
