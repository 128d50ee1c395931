"""What the benchmark runners share: which tools are installed, a worker run in its own process (its last
output line is one JSON object; :func:`run_timed` also gives its wall and CPU time, stopped or not), the
busy neighbours of the "busy" condition (:class:`Burners`, :func:`condition`), a Markdown section between
markers, the machine's CPU, the process's memory. Used by ``benchmarks/run.py`` (``python -m benchmarks``),
``benchmarks/sweep.py`` (``python -m benchmarks sweep``), ``benchmarks/glmm.py`` (``python -m
benchmarks.glmm``) and their workers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
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


def machine_info() -> dict:
    """The machine and the versions a benchmark ran with: CPU, cores, Python, numpy/scipy/numba/statsmodels/
    threadpoolctl, R and lme4 (through ``Rscript``), the load average when it started."""
    vers = {}
    for mod in ("numpy", "scipy", "numba", "statsmodels", "threadpoolctl"):
        try:
            vers[mod] = __import__(mod).__version__
        except Exception:
            pass
    try:
        vers["lme4"] = subprocess.run(["Rscript", "-e", "cat(R.version.string, '/ lme4', "
                                       "as.character(packageVersion('lme4')))"],
                                      capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(), "versions": vers,
            "loadavg_at_start": load}


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


# ------------------------------------------------------------------------------- conditions: idle, busy
#: the conditions a benchmark runs in: "idle" (nothing started beside the fits) and "busy" (a CPU-bound
#: neighbour process on every core, started before the condition's first measurement, stopped after its
#: last)
CONDITIONS = ("idle", "busy")


def parse_conditions(text: str) -> list[str]:
    """``"idle,busy"`` -> ``["idle", "busy"]`` (order kept, each condition once); ValueError naming an unknown
    condition."""
    out = []
    for c in (c.strip() for c in text.split(",")):
        if not c:
            continue
        if c not in CONDITIONS:
            raise ValueError(f"unknown condition {c!r}: use {', '.join(CONDITIONS)}")
        if c not in out:
            out.append(c)
    if not out:
        raise ValueError(f"no condition given: use {', '.join(CONDITIONS)}")
    return out


class Burners:
    """``n`` busy-loop processes (a CPU-bound neighbour on every core), stopped by their own ids."""

    def __init__(self, n: int):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
        time.sleep(0.5)

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


@contextmanager
def condition(name: str, n: int | None = None):
    """Inside: the condition ``name``; for "busy", :class:`Burners` on ``n`` cores (default: every core),
    yielded, and stopped on exit (also on an error); for "idle", nothing is started (yields None)."""
    burners = Burners(n or os.cpu_count() or 1) if name == "busy" else None
    try:
        yield burners
    finally:
        if burners is not None:
            burners.stop()


# ------------------------------------------------------------------- a process timed, stopped or not
def run_timed(cmd: list[str], *, env: dict | None = None, timeout: float | None = None, cwd: Path | None = ROOT,
              nice: int = 0, poll: float = 0.05) -> dict:
    """Run ``cmd`` in a new process (at ``nice`` more than this one) and wait for it, at most ``timeout``
    seconds (then it is killed): ``{"returncode", "stdout", "stderr", "wall", "cpu", "timed_out"}``,
    ``wall`` its wall time, ``cpu`` its user + system CPU time (from ``wait4``, so also for a process
    stopped at the timeout), ``returncode`` None when it was stopped."""
    def lower_priority():  # runs in the child before exec
        if nice:
            os.nice(nice)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env,
                                preexec_fn=lower_priority if nice else None)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - t0 > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(poll)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    return {"returncode": None if timed_out else proc.returncode, "stdout": stdout, "stderr": stderr,
            "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "timed_out": timed_out, "timeout": timeout}


def last_json(text: str, partial: bool = False) -> dict | None:
    """The last line of ``text`` that is a JSON object (with ``partial``: the last one marked
    ``"partial": true``, without that mark); None when there is none."""
    for line in reversed(text.strip().splitlines()):
        try:
            res = json.loads(line)
        except ValueError:
            continue
        if isinstance(res, dict) and (not partial or res.get("partial")):
            return {k: v for k, v in res.items() if k != "partial"} if partial else res
    return None


def worker_result(res: dict) -> dict:
    """What a worker run by :func:`run_timed` gave: its last JSON line (as :func:`run_worker`), or
    ``{"error": ...}`` (its last line of standard error); the process's own ``process_wall`` and
    ``process_cpu`` added. A stopped worker: ``{"over": <the timeout>, ...}`` with its last ``partial``
    line, when it printed one, under ``"partial"``."""
    times = {"process_wall": res["wall"], "process_cpu": res["cpu"]}
    if res["timed_out"]:
        out = {"over": res.get("timeout") or res["wall"], **times}
        part = last_json(res["stdout"], partial=True)
        if part is not None:
            out["partial"] = part
        return out
    if res["returncode"] != 0:
        return {"error": (res["stderr"].strip().splitlines() or ["failed"])[-1], **times}
    got = last_json(res["stdout"])
    if got is None:
        return {"error": "no JSON output", **times}
    return {**got, **times}


# ---------------------------------------------------------------------------- a section of a Markdown file
def write_marked(path: Path, md: str, begin: str, end: str, heading: str) -> None:
    """Put ``md`` between the markers ``begin`` and ``end`` of the file at ``path`` (replacing what is
    there), or append it under ``heading`` with the markers when the file has none."""
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{md}{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + f"\n\n{heading}\n\n" + block + "\n"
    path.write_text(text)
