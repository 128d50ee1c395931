"""What the benchmark runners share: which tools are installed, a worker run in its own process (its last
output line is one JSON object), the machine's CPU, the process's memory. Used by ``benchmarks/run.py``
(``python -m benchmarks``) and ``benchmarks/sweep.py`` (``python -m benchmarks sweep``) and their workers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def have(module: str) -> bool:
    """Whether ``module`` can be imported (looked up, not imported)."""
    return importlib.util.find_spec(module) is not None


def have_lme4() -> bool:
    """Whether ``Rscript`` runs with lme4 and jsonlite."""
    if shutil.which("Rscript") is None:
        return False
    return subprocess.run(["Rscript", "-e", "library(lme4); library(jsonlite)"], capture_output=True).returncode == 0


def worker_env(extra: dict | None = None, drop: tuple[str, ...] = ()) -> dict:
    """The environment of a Python worker: this one with the repository on ``PYTHONPATH``, ``drop``
    removed, ``extra`` added."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for v in drop:
        env.pop(v, None)
    env.update(extra or {})
    return env


def run_worker(cmd: list[str], *, env: dict | None = None, timeout: float | None = None,
               cwd: Path | None = ROOT) -> dict:
    """Run ``cmd`` in a new process: its last line of output as JSON, or ``{"error": <its last line of
    standard error>}`` when it fails. ``subprocess.TimeoutExpired`` goes to the caller (each runner reports
    a timeout its own way)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``; empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def rss_kb(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status`` (``VmHWM``: peak resident set; ``VmRSS``:
    current), in kB; 0 where there is none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
