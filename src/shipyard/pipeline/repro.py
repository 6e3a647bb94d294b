"""``shipyard repro``: run what is stale, in dependency order, and record it.

Each stage execution is a tracking run (experiment = pipeline name, run name = stage; in the local store, or on
the team server when a tracking URI is set: ``stage_runs.py``) holding the
stage's params, the numbers from its metrics files, its duration, the hashes of what it read and wrote
and the git commit: the lineage link from data to run. Code inside the stage that calls
``shipyard.start_run()`` joins that run (``SHIPYARD_RUN_ID`` is set for it) instead of starting another.

A failing stage stops the pipeline: its output tail is shown, its previous lock entry and cached
outputs stay, and stages that already finished keep their new entries. Ctrl-C ends the running stages,
marks their runs KILLED and leaves the lock file as it was before them. SIGTERM does the same (SIGTERM to
the stages' process groups first), and then repro dies by SIGTERM as its sender expects. A repro killed
with SIGKILL cannot do anything: its watchdog ends the stages (``_stage_watchdog.py``), and the next process
to open the store records their runs KILLED (``store/reaper.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import StageFailedError, ValidationError
from ..extras import from_module_not_found, require
from ..store import Store, current_store
from ..store.files import make_private_dirs, open_private
from ..store.text import read_text
from ..tracking.remote import TRACKING_URI_ENV
from ..tracking.runs import FAILED, FINISHED, KILLED
from ..tracking.validation import check_key
from ._stage_watchdog import StageWatchdog
from .dag import Graph, build_graph
from .data import POINTER_SUFFIX
from .hashing import Entry, Hasher
from .interrupts import Terminated, again, end_groups, first_signal, sigterm_as_interrupt
from .lock import read_lock, write_lock
from .params import flatten, load_params, resolve
from .spec import Pipeline, Stage, load_pipeline
from .stage_runs import ServerStageRuns, StageRuns, stage_runs_for
from .status import RESTORABLE, STALE, UP_TO_DATE, StageStatus, stage_status
from .workspace import ignore_in_git, restore
from .workspace_lock import HeldLock, workspace_lock

TAIL_LINES = 20


@dataclass
class StageOutcome:
    name: str
    action: str  # ran | restored | skipped | would run | would restore | failed
    reasons: list[str] = field(default_factory=list)
    run_id: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "action": self.action, "reasons": self.reasons, "run_id": self.run_id,
                "seconds": round(self.seconds, 3)}


Events = Callable[[str, str], None]  # (stage, message)


def repro(root: Path | None = None, targets: list[str] | None = None, *, force: bool = False, jobs: int = 1,
          dry_run: bool = False, lock_timeout: float = 60.0, on_event: Events | None = None,
          on_output: Events | None = None, stage_runs: StageRuns | None = None) -> list[StageOutcome]:
    """Bring the pipeline (or ``targets`` and what they need) up to date; returns what happened per stage.

    The stage runs go to ``stage_runs`` (default: the tracking server when a tracking URI is set, else the store);
    the data cache is the store's either way.
    """
    if jobs < 1:
        raise ValidationError(f"--jobs must be at least 1, got {jobs}.", field="jobs")
    pipeline = load_pipeline(root)
    graph = build_graph(pipeline)
    params = load_params(pipeline.root)
    order = graph.order(targets)
    for name in order:  # unknown param keys fail before anything runs
        resolve(params, pipeline.stages[name].params, name)
    store = current_store()
    say = on_event or (lambda stage, message: None)

    def waiting(holder: dict[str, object]) -> None:
        say("", f"waiting for the workspace lock held by pid {holder.get('pid')} ({holder.get('command')}, "
                f"since {holder.get('since')})")

    with sigterm_as_interrupt(), workspace_lock(lock_path(pipeline.root), timeout=lock_timeout,
                                                 on_wait=waiting) as held:
        runner = _Runner(pipeline, graph, params, store, held, force=force, dry_run=dry_run, say=say,
                         on_output=on_output, runs=stage_runs or stage_runs_for(store))
        try:
            for level in graph.levels(order):
                runner.run_level(level, jobs)
        finally:
            runner.close()
        return [runner.outcomes[name] for name in order if name in runner.outcomes]


class _Runner:
    def __init__(self, pipeline: Pipeline, graph: Graph, params: dict[str, Any], store: Store, held: HeldLock, *,
                 force: bool, dry_run: bool, say: Events, on_output: Events | None, runs: StageRuns) -> None:
        self.pipeline, self.graph, self.params, self.store, self.runs = pipeline, graph, params, store, runs
        self.force, self.dry_run, self.say, self.on_output = force, dry_run, say, on_output
        self.hasher = Hasher(store, pipeline.root)
        self.lock = read_lock(pipeline.root)
        self.outcomes: dict[str, StageOutcome] = {}
        self._lock_guard = threading.Lock()
        self._held = held
        self._watchdog: StageWatchdog | None = None
        self._live: set[subprocess.Popen[str]] = set()  # stage processes running now
        self._live_guard = threading.Lock()
        self._stopping: KeyboardInterrupt | None = None  # set when an interrupt ends every running stage

    def close(self) -> None:
        try:
            self.hasher.save_cache()
        finally:
            if self._watchdog is not None:
                self._watchdog.close()

    def run_level(self, names: list[str], jobs: int) -> None:
        plans = [(name, self._plan(name)) for name in names]
        to_run = [(name, status) for name, status in plans if self._decide(name, status)]
        if not to_run:
            return
        notebooks = [name for name, _ in to_run if self.pipeline.stages[name].notebook is not None]
        if notebooks:  # before any run is recorded: a missing extra is the user's to fix, not a failed stage
            for module in ("papermill", "ipykernel"):
                require(module, f"Stage '{notebooks[0]}', a notebook,")
        if jobs == 1 or len(to_run) == 1:
            for name, status in to_run:
                self._execute(self.pipeline.stages[name], status)
            return
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(self._execute, self.pipeline.stages[name], status) for name, status in to_run]
            self._wait_or_stop(futures)
            errors = [error for error in (future.exception() for future in futures) if error is not None]
            if errors:  # siblings already running finish and are recorded; the first failure is reported
                raise errors[0]

    def _wait_or_stop(self, futures: list[Future[None]]) -> None:
        """Wait for the stages of a level; an interrupt (Ctrl-C, SIGTERM) ends all of them, then propagates."""
        try:
            wait(futures)
        except KeyboardInterrupt as interrupt:
            with self._live_guard:
                self._stopping = interrupt
                running = list(self._live)
            for future in futures:
                future.cancel()  # those not started yet never start
            end_groups(running, first_signal(interrupt))
            wait(futures)  # each running stage records its run KILLED as it ends
            raise

    def _plan(self, name: str) -> StageStatus:
        stage = self.pipeline.stages[name]
        upstream = tuple(parent for parent in self.graph.upstream[name]
                         if parent in self.outcomes and self.outcomes[parent].action == "would run")
        status = stage_status(stage, self.lock.get(name), self.params, self.hasher, self.store, upstream_stale=upstream)
        if self.force and status.state != STALE:
            status = StageStatus(name, STALE, ["forced"])
        return status

    def _decide(self, name: str, status: StageStatus) -> bool:
        if status.state == UP_TO_DATE:
            self.outcomes[name] = StageOutcome(name, "skipped")
            self.say(name, "up to date")
            return False
        if status.state == RESTORABLE:
            if self.dry_run:
                self.outcomes[name] = StageOutcome(name, "would restore", status.reasons)
            else:
                for record in status.missing_outs:
                    restore(self.store, self.pipeline.root, record)
                self.outcomes[name] = StageOutcome(name, "restored", status.reasons)
            self.say(name, f"restored from the cache: {', '.join(status.reasons)}")
            return False
        if self.dry_run:
            self.outcomes[name] = StageOutcome(name, "would run", status.reasons)
            self.say(name, f"would run: {'; '.join(status.reasons)}")
            return False
        return True

    def _execute(self, stage: Stage, status: StageStatus) -> None:
        if self._stopping is not None:
            raise again(self._stopping)
        self.say(stage.name, f"running ({'; '.join(status.reasons)})")
        started = time.perf_counter()
        stage_params = resolve(self.params, stage.params, stage.name)
        deps = [self.hasher.hash(path) for path in stage.deps]
        run_id = self.runs.create(experiment=self.pipeline.name, name=stage.name,
                                  tags={"shipyard.stage": stage.name, "shipyard.pipeline": self.pipeline.name,
                                        **hash_tags("dep", deps, self.pipeline.root)},
                                  workdir=self.pipeline.root)
        if stage_params:
            self.runs.log_params(run_id, stage_params)
        try:
            tail = self._run_command(stage, run_id)
        except KeyboardInterrupt as interrupt:
            reason = str(interrupt) if isinstance(interrupt, Terminated) else "KeyboardInterrupt"
            self.runs.end(run_id, KILLED, reason)
            raise
        except StageFailedError as exc:
            self.runs.end(run_id, FAILED, exc.message)
            self.outcomes[stage.name] = StageOutcome(stage.name, "failed", status.reasons, run_id,
                                                     time.perf_counter() - started)
            raise
        missing = [path for path in stage.produced if not (self.pipeline.root / path).exists()]
        if missing:
            message = f"Stage '{stage.name}' finished but did not write its declared output {missing[0]!r}."
            self.runs.end(run_id, FAILED, message)
            raise StageFailedError(message, stage=stage.name, tail=tail)
        outs = []
        for path in stage.outs:
            entry = self.hasher.hash_and_save(path)
            assert entry is not None
            outs.append(entry)
            _keep_out_of_git(self.pipeline.root, path)
        self.runs.set_tags(run_id, hash_tags("out", outs, self.pipeline.root))
        metrics = [self.hasher.hash(path) for path in stage.metrics]
        plots = [self.hasher.hash(path) for path in stage.plots]
        try:
            numbers = read_metrics(self.pipeline.root, stage.metrics)
        except ValidationError as exc:
            self.runs.end(run_id, FAILED, exc.message)
            message = f"Stage '{stage.name}' ran, but {exc.message}"
            raise StageFailedError(message, stage=stage.name, tail=tail) from None
        writer = self.runs.metrics()
        for key, value in numbers.items():
            writer.add(run_id, key, value, 0)
        entry_record = {
            "cmd": stage.command,
            "deps": [item.to_lock() for item in deps if item is not None],
            "params": stage_params,
            "outs": [item.to_lock() for item in outs],
            "metrics": [item.to_lock() for item in metrics if item is not None],
            "plots": [item.to_lock() for item in plots if item is not None],
            "run_id": run_id,
        }
        self.runs.log_bytes(run_id, json.dumps(entry_record, indent=1).encode(), "stage.json")
        self.runs.end(run_id, FINISHED)
        with self._lock_guard:  # stages of one level may finish together
            self.lock[stage.name] = entry_record
            write_lock(self.pipeline.root, self.lock, list(self.pipeline.stages))
        seconds = time.perf_counter() - started
        self.outcomes[stage.name] = StageOutcome(stage.name, "ran", status.reasons, run_id, seconds)
        self.say(stage.name, f"done in {seconds:.1f}s (run {run_id[:8]})")

    def _run_command(self, stage: Stage, run_id: str) -> list[str]:
        if stage.notebook is not None:
            return run_notebook(self.pipeline.root, stage, resolve(self.params, stage.params, stage.name))
        assert stage.cmd is not None
        env = {**os.environ, "SHIPYARD_RUN_ID": run_id, **self.store.location.environment(),
               "SHIPYARD_STAGE": stage.name, "PYTHONUNBUFFERED": "1"}
        if not isinstance(self.runs, ServerStageRuns):  # code joining the stage run finds it where repro logs it
            env.pop(TRACKING_URI_ENV, None)
        logs = self.store.logs_dir
        log_file = None
        if logs is not None:
            make_private_dirs(logs)
            log_file = os.fdopen(open_private(logs / f"{stage.name}-{run_id[:8]}.log",
                                              os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w")
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        watchdog = self._ensure_watchdog()
        try:
            # Its own process group: an interrupt ends the command and everything it started, not just the
            # shell in front of it.
            with subprocess.Popen(stage.cmd, shell=True, cwd=self.pipeline.root, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1,
                                  start_new_session=True) as process:
                watchdog.watch(process.pid)
                with self._live_guard:
                    self._live.add(process)
                    stopping = self._stopping
                assert process.stdout is not None
                try:
                    if stopping is not None:  # started as the others were being stopped
                        end_groups([process], first_signal(stopping))
                    for line in process.stdout:
                        tail.append(line.rstrip("\n"))
                        if log_file is not None:
                            log_file.write(line)
                        if self.on_output is not None:
                            self.on_output(stage.name, line.rstrip("\n"))
                    code = process.wait()
                except BaseException as exc:
                    end_groups([process], first_signal(exc))
                    raise
                finally:
                    with self._live_guard:
                        self._live.discard(process)
                    watchdog.forget(process.pid)
        finally:
            if log_file is not None:
                log_file.close()
        if self._stopping is not None:
            raise again(self._stopping)
        if code != 0:
            raise StageFailedError(f"Stage '{stage.name}' failed with exit code {code}: {stage.cmd}",
                                   stage=stage.name, tail=list(tail))
        return list(tail)

    def _ensure_watchdog(self) -> StageWatchdog:
        """The watchdog that ends the stages if this process dies, started with the first stage."""
        with self._live_guard:
            if self._watchdog is None:
                self._watchdog = StageWatchdog()
                self._held.add_guard(self._watchdog.pid)  # the next repro waits until the stages are gone
            return self._watchdog


def hash_tags(kind: str, entries: Sequence[Entry | None], root: Path) -> dict[str, str]:
    """``shipyard.dep.<path>`` / ``shipyard.out.<path>`` = content hash, so that lineage can walk from a
    model's run back to the stage run that wrote each of its inputs with one tag query, without reading
    the workspace (``models/lineage.py``). A dep with a ``.ship`` pointer beside it (raw data tracked with
    ``shipyard add``) is also tagged ``shipyard.added.<path>`` = the pointer's path. Paths that cannot be
    tag keys are left out here; they stay in the run's ``stage.json``."""
    found: dict[str, str] = {}
    for entry in entries:
        if entry is None:
            continue
        key = f"shipyard.{kind}.{entry.path}"
        try:
            check_key(f"shipyard.added.{entry.path}", "tag")  # the longest key this path can make
        except ValidationError:
            continue
        found[key] = entry.hash
        pointer = f"{entry.path}{POINTER_SUFFIX}"
        if kind == "dep" and (root / pointer).is_file():
            found[f"shipyard.added.{entry.path}"] = pointer
    return found


def read_metrics(root: Path, paths: tuple[str, ...]) -> dict[str, float]:
    """The numbers in the stage's metrics files (JSON or YAML), flattened to dotted keys."""
    numbers: dict[str, float] = {}
    for path in paths:
        text = read_text(root / path, path)  # UTF-8, strictly: a stray latin-1 byte names its line and offset
        try:
            data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise ValidationError(f"Metrics file {path} is not valid JSON/YAML: {exc}", field=path) from None
        if not isinstance(data, dict):
            raise ValidationError(f"Metrics file {path} must hold a mapping of names to numbers.", field=path)
        for key, value in flatten(data).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                numbers[key.replace(" ", "_")] = float(value)
    return numbers


def run_notebook(root: Path, stage: Stage, parameters: dict[str, Any]) -> list[str]:
    """Execute a notebook stage headless with papermill, parameters injected."""
    try:
        import papermill
    except ModuleNotFoundError as exc:
        missing = from_module_not_found(exc, f"Stage '{stage.name}' is a notebook; running it")
        if missing is None:
            raise
        raise StageFailedError(missing.message, stage=stage.name, tail=[]) from None
    assert stage.notebook is not None
    output = next((path for path in stage.outs if path.endswith(".ipynb")), None)
    target = root / (output or f".shipyard-{stage.name}-executed.ipynb")
    target.parent.mkdir(parents=True, exist_ok=True)
    flat = notebook_parameters(parameters)
    try:
        papermill.execute_notebook(str(root / stage.notebook), str(target), parameters=flat, cwd=str(root),
                                   progress_bar=False, log_output=False)
    except Exception as exc:  # papermill raises PapermillExecutionError with the failing cell
        raise StageFailedError(f"Notebook stage '{stage.name}' failed: {exc}", stage=stage.name,
                               tail=str(exc).splitlines()[-TAIL_LINES:]) from None
    return []


def notebook_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """``{"eda.threshold": 0.7}`` -> ``{"threshold": 0.7}``: the variable names a notebook's parameters cell
    uses. Two keys ending alike (``a.seed``, ``b.seed``) keep their full names, dots as underscores."""
    short = [key.rsplit(".", 1)[-1] for key in parameters]
    return {(name if short.count(name) == 1 else key.replace(".", "_")): value
            for key, name, value in zip(parameters, short, parameters.values(), strict=True)}


def _keep_out_of_git(root: Path, path: str) -> None:
    """Cached outputs are versioned by shipyard.lock, so git should not carry them too (as in DVC)."""
    if (root / ".git").exists():
        ignore_in_git(root, path)


def lock_path(root: Path) -> Path:
    """The workspace's lock file, whatever store each process uses: inside ``.git`` when there is one
    (never committed, never in the way), else beside shipyard.yaml."""
    git = root / ".git"
    return git / "shipyard-workspace.lock" if git.is_dir() else root / ".shipyard-workspace.lock"
