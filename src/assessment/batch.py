"""Many county-years at once: a local process pool, or the same jobs on a Dask cluster.

A province reruns every county for several years. Each county-year is one job — exactly what
`assessment run` does (`pipeline.resolve` + `pipeline.run`: the four notebooks, an atomic publish
of its bundle) — and jobs are independent: one county's invalid evidence or missing folder is
reported in the summary and the others go on. On one machine the jobs go to a
`ProcessPoolExecutor`; past one machine `--scheduler ADDRESS` hands the same job function to a
Dask distributed scheduler (`client.map` / `as_completed`), not to a home-made runner.

Exit code: 0 every county-year done; 2 every failure was invalid input (evidence, parameters,
a missing folder); 1 anything else failed.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

OK, INVALID, FAILED = "ok", "invalid", "failed"
STATUS_ZH = {OK: "完成", INVALID: "输入无效", FAILED: "失败"}


@dataclass(frozen=True)
class Job:
    """One county-year to assess (what `assessment run` takes)."""

    county: str
    year: int
    framework: str
    raw_dir: str | None = None  # default data/raw/<county>/<year>
    out_dir: str | None = None  # default data/processed
    period: str | None = None

    @property
    def label(self) -> str:
        return f"{self.county}/{self.year}" + (f" {self.period}" if self.period else "")


@dataclass(frozen=True)
class Outcome:
    """What became of one job: the row of the summary table."""

    county: str
    year: int
    framework: str
    status: str  # ok | invalid | failed
    seconds: float
    units: int | None = None
    vetoed: int | None = None
    bundle: str | None = None
    message: str = ""
    warnings: int | None = None  # the count validation/summary.md gives for this county-year
    comparison: str = ""  # why last year was not compared, where its bundle was unusable

    def to_dict(self) -> dict:
        return asdict(self)


def jobs_for(counties: Iterable[str], years: Iterable[int | str], framework: str, raw_root: str | Path | None = None,
             out: str | Path | None = None, period: str | None = None) -> list[Job]:
    """County × year jobs; `{year}` in the framework id picks each year's framework."""
    from .params import canonical_county, canonical_year

    out_list, seen = [], set()
    for county in map(canonical_county, counties):  # ' Demo ' and 'demo' are one county: one job, one bundle
        for year in map(canonical_year, years):
            fid = framework.replace("{year}", str(year))
            raw = str(Path(raw_root) / county / str(year)) if raw_root else None
            job = Job(county=county, year=int(year) if year.isdigit() else year, framework=fid, raw_dir=raw,
                      out_dir=str(out) if out else None, period=period)
            if job not in seen:
                seen.add(job)
                out_list.append(job)
    return out_list


def run_job(job: Job) -> Outcome:
    """Assess one county-year through the real pipeline; never raises (the outcome says what failed).

    This is the function the process pool and the Dask workers run: importable, picklable,
    with everything it needs in its argument."""
    from . import interrupts, pipeline
    from .problems import InputError

    started = time.perf_counter()

    def done(status: str, **kw) -> Outcome:
        return Outcome(county=job.county, year=job.year, framework=job.framework, status=status,
                       seconds=round(time.perf_counter() - started, 2), **kw)

    try:
        with interrupts.terminate_on_signals():  # in a pool worker: its own cleanup on SIGTERM
            params = pipeline.resolve(job.county, job.year, job.framework, job.raw_dir, job.out_dir, job.period)
            result = pipeline.run(params, progress=None)
    except InputError as exc:
        return done(INVALID, message=_first_lines(exc.render()))
    except (pipeline.RunLocked, pipeline.StageFailed, pipeline.RunFailed) as exc:
        if _IN_WORKER and isinstance(exc, pipeline.RunFailed) and "terminated by" in str(exc):
            os._exit(1)  # stopped by a signal, cleanup done: this worker takes no further job
        return done(FAILED, message=_first_lines(str(exc)))
    except interrupts.Terminated as exc:  # stopped before or after the run itself
        if _IN_WORKER:
            os._exit(1)
        return done(FAILED, message=exc.describe())
    except Exception as exc:  # a job's failure is reported, never lost, and never stops the others
        return done(FAILED, message=_first_lines(f"{type(exc).__name__}: {exc}"))
    units, vetoed = _counts(Path(result.bundle))
    c = result.comparison or {}
    return done(OK, units=units, vetoed=vetoed, bundle=str(result.bundle), warnings=len(result.warnings),
                comparison=str(c.get("reason") or "") if c.get("warning") else "")


def _counts(bundle: Path) -> tuple[int | None, int | None]:
    """Units scored and units vetoed, from the bundle's own unit_scores.csv."""
    from . import csvio

    path = bundle / "scores" / "unit_scores.csv"
    if not path.is_file():
        return None, None
    us = csvio.read_csv(path, dtype=str, na_values=None)
    return len(us), int(us["vetoed"].str.strip().str.lower().isin(["true", "1", "是"]).sum())


def _first_lines(text: str, n: int = 3) -> str:
    lines = [line for line in str(text).splitlines() if line.strip()]
    more = f"（另有 {len(lines) - n} 条 +{len(lines) - n} more）" if len(lines) > n else ""
    return " | ".join(lines[:n]) + more


# ---- running many -------------------------------------------------------------------------

def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


_IN_WORKER = False  # set in the pool's worker processes


def _worker_init() -> None:
    global _IN_WORKER
    _IN_WORKER = True


def run_local(jobs: list[Job], workers: int | None = None) -> Iterator[Outcome]:
    """Outcomes in the order jobs finish, from a local process pool (fresh interpreters: spawn).

    Stopped by a signal (SIGTERM, SIGINT, SIGHUP raise `Terminated` in the batch process), the jobs
    not yet started are cancelled and the running ones are sent SIGTERM: each cleans up like a
    single run (staging removed, failure.md, lock released), then the Terminated goes on up."""
    from .interrupts import Terminated, hold

    workers = max(1, int(workers or default_workers()))
    context = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=min(workers, max(len(jobs), 1)), mp_context=context, initializer=_worker_init)
    try:
        futures = {pool.submit(run_job, job): job for job in jobs}
        for future in cf.as_completed(futures):
            yield _result(future, futures[future])
    except (Terminated, GeneratorExit):  # stopped by a signal, or the caller gave up on the remaining jobs
        hold()
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: the worker's run cleans up, then the worker ends
        for proc in procs:
            proc.join(timeout=120)
            if proc.is_alive():
                proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_dask(jobs: list[Job], scheduler: str) -> Iterator[Outcome]:
    """Outcomes in the order jobs finish, from the Dask distributed cluster at `scheduler`."""
    from distributed import Client, as_completed

    with Client(scheduler) as client:
        futures = client.map(run_job, jobs, pure=False, key=[f"assessment-{j.county}-{j.year}-{i}" for i, j in enumerate(jobs)])
        job_of = {f.key: j for f, j in zip(futures, jobs)}
        for future in as_completed(futures):
            yield _result(future, job_of[future.key])


def _result(future, job: Job) -> Outcome:
    """A finished future's outcome; a worker that died is reported as that job's failure."""
    try:
        return future.result()
    except Exception as exc:
        return Outcome(county=job.county, year=job.year, framework=job.framework, status=FAILED, seconds=0.0,
                       message=_first_lines(f"{type(exc).__name__}: {exc}"))


def run_batch(jobs: list[Job], workers: int | None = None, scheduler: str | None = None, progress: bool = True,
              on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run every job (pool or Dask) with a progress bar on stderr; outcomes in job order."""
    from tqdm import tqdm

    stream = run_dask(jobs, scheduler) if scheduler else run_local(jobs, workers)
    got: dict[tuple[str, int, str | None], Outcome] = {}
    with tqdm(total=len(jobs), file=sys.stderr, disable=not progress, unit="县年", desc="考评 county-years",
              dynamic_ncols=True) as bar:
        try:
            for outcome in stream:
                got[(outcome.county, outcome.year, outcome.framework)] = outcome
                bar.set_postfix_str(f"{outcome.county}/{outcome.year} {STATUS_ZH[outcome.status]}")
                bar.update(1)
                if on_outcome:
                    on_outcome(outcome)
        finally:
            stream.close()  # a signal between two outcomes still stops the running jobs at once
    return [got[(j.county, j.year, j.framework)] for j in jobs]


def exit_code(outcomes: list[Outcome]) -> int:
    """0 all done; 2 every failure was invalid input; 1 otherwise."""
    failed = [o for o in outcomes if o.status != OK]
    if not failed:
        return 0
    return 2 if all(o.status == INVALID for o in failed) else 1


def summary_table(outcomes: list[Outcome]) -> str:
    """The summary an analyst reads: one line per county-year."""
    header = ["县区 county", "年度 year", "状态 status", "用时 s", "单位 units", "否决 vetoed", "警告 warnings",
              "运行包 bundle / 原因 reason"]
    rows = []
    for o in outcomes:
        where = o.bundle if o.status == OK else o.message
        if o.status == OK and o.comparison:
            where += f"（未与上年对比 no comparison: {o.comparison}）"
        rows.append([o.county, str(o.year), f"{STATUS_ZH[o.status]} {o.status}", f"{o.seconds:.1f}",
                     "" if o.units is None else str(o.units), "" if o.vetoed is None else str(o.vetoed),
                     "" if o.warnings is None else str(o.warnings), where or ""])
    widths = [max(_width(r[i]) for r in [header] + rows) for i in range(len(header) - 1)]
    lines = []
    for r in [header] + rows:
        lines.append("  ".join(_pad(c, w) for c, w in zip(r, widths)) + "  " + r[-1])
    n_ok = sum(o.status == OK for o in outcomes)
    lines.append(f"共 {len(outcomes)} 个县年：完成 {n_ok}，输入无效 {sum(o.status == INVALID for o in outcomes)}，"
                 f"失败 {sum(o.status == FAILED for o in outcomes)}，警告 {sum(o.warnings or 0 for o in outcomes)} 条"
                 f"（{len(outcomes)} county-years: {n_ok} done, {sum(o.warnings or 0 for o in outcomes)} warnings）")
    return "\n".join(lines)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
