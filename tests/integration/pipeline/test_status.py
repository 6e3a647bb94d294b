"""Why a stage is stale, cause by cause, in the exact words ``status`` uses, and what ``repro`` then does.

Each case runs the churn pipeline once, changes one thing, checks every stage's status and reasons, then
reruns and checks which stage scripts really ran (each appends its name to ``calls.log``). The stat cache
test counts the files the hasher had to read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import shipyard
from shipyard.pipeline.dag import build_graph
from shipyard.pipeline.hashing import Hasher
from shipyard.pipeline.lock import read_lock
from shipyard.pipeline.params import load_params
from shipyard.pipeline.repro import repro
from shipyard.pipeline.spec import load_pipeline
from shipyard.pipeline.status import StageStatus, pipeline_status, stage_status
from tests.integration.pipeline._pipelines import (
    calls,
    invoke,
    lock_file,
    make_project,
    plain,
    set_param,
    stage_runs,
    use_venv_python,
)

# See test_repro_closes_the_stage_output_pipe (xfail) in test_repro.py.

UP = ("up to date", [])


@pytest.fixture(autouse=True)
def _venv_python(monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)


def statuses(root: Path) -> dict[str, tuple[str, list[str]]]:
    return {status.name: (status.state, status.reasons) for status in pipeline_status(root)}


def change_command(root: Path, store: Path) -> None:
    spec = root / "shipyard.yaml"
    spec.write_text(spec.read_text().replace("cmd: python src/train.py", "cmd: python src/train.py --verbose"))


def change_param(root: Path, store: Path) -> None:
    set_param(root, "train", "C", 0.5)


def change_section(root: Path, store: Path) -> None:
    (root / "params.yaml").write_text("prepare:\n  scale: 2\n  unused: x\ntrain:\n  C: 1.0\n  max_iter: 100\n")


def change_unwatched_key(root: Path, store: Path) -> None:
    set_param(root, "prepare", "unused", "y")  # prepare depends on prepare.scale only


def change_watched_key(root: Path, store: Path) -> None:
    set_param(root, "prepare", "scale", 3)


def change_dep(root: Path, store: Path) -> None:
    (root / "data" / "raw.csv").write_text("value\n1\n2\n3\n4\n")


def remove_intermediate(root: Path, store: Path) -> None:
    (root / "data" / "prepared.csv").unlink()


def remove_intermediate_and_its_cache(root: Path, store: Path) -> None:
    digest = lock_file(root)["prepare"]["outs"][0]["hash"]
    (store / "objects" / digest[:2] / digest[2:]).unlink()
    (root / "data" / "prepared.csv").unlink()


def edit_out(root: Path, store: Path) -> None:
    (root / "models" / "model.json").write_text('{"C": 100}')


def remove_metrics(root: Path, store: Path) -> None:
    (root / "reports" / "eval.json").unlink()


CASES: list[tuple[Callable[[Path, Path], None], dict[str, tuple[str, list[str]]], list[str], list[str]]] = [
    # change, statuses after it, repro's actions, the stage scripts that ran
    (change_command,
     {"prepare": UP, "train": ("stale", ["command changed"]),
      "evaluate": ("stale", ["upstream stage 'train' is stale"])},
     ["skipped", "ran", "skipped"], ["train"]),  # the same model again: evaluate's deps did not change
    (change_param,
     {"prepare": UP, "train": ("stale", ["param train.C 1.0 -> 0.5"]),
      "evaluate": ("stale", ["upstream stage 'train' is stale"])},
     ["skipped", "ran", "ran"], ["train", "evaluate"]),
    (change_section,
     {"prepare": UP, "train": ("stale", ["param train.max_iter added (100)", "param train.penalty removed"]),
      "evaluate": ("stale", ["upstream stage 'train' is stale"])},
     ["skipped", "ran", "skipped"], ["train"]),
    (change_unwatched_key, {"prepare": UP, "train": UP, "evaluate": UP}, ["skipped", "skipped", "skipped"], []),
    (change_watched_key,
     {"prepare": ("stale", ["param prepare.scale 2 -> 3"]),
      "train": ("stale", ["upstream stage 'prepare' is stale"]),
      "evaluate": ("stale", ["upstream stage 'train' is stale"])},
     ["ran", "ran", "ran"], ["prepare", "train", "evaluate"]),
    (change_dep,
     {"prepare": ("stale", ["dep data/raw.csv changed"]),
      "train": ("stale", ["upstream stage 'prepare' is stale"]),
      "evaluate": ("stale", ["upstream stage 'train' is stale"])},
     ["ran", "ran", "ran"], ["prepare", "train", "evaluate"]),
    (remove_intermediate,
     {"prepare": ("restorable", ["out data/prepared.csv missing (in the cache)"]),
      "train": ("stale", ["dep data/prepared.csv missing"]),
      "evaluate": ("stale", ["upstream stage 'train' is stale"])},
     ["restored", "skipped", "skipped"], []),  # restored from the cache, not recomputed
    (remove_intermediate_and_its_cache,
     {"prepare": ("stale", ["out data/prepared.csv missing and not in the cache"]),
      "train": ("stale", ["dep data/prepared.csv missing", "upstream stage 'prepare' is stale"]),
      "evaluate": ("stale", ["upstream stage 'train' is stale"])},
     ["ran", "skipped", "skipped"], ["prepare"]),
    (edit_out,
     {"prepare": UP, "train": ("stale", ["out models changed"]),
      "evaluate": ("stale", ["dep models changed", "upstream stage 'train' is stale"])},
     ["skipped", "ran", "skipped"], ["train"]),  # train rewrote the model it had made: evaluate is current
    (remove_metrics,
     {"prepare": UP, "train": UP, "evaluate": ("stale", ["metrics/plots file reports/eval.json missing"])},
     ["skipped", "skipped", "ran"], ["evaluate"]),
]


@pytest.mark.parametrize(("change", "expected", "actions", "ran"), CASES, ids=[case[0].__name__ for case in CASES])
def test_each_cause_of_staleness(tmp_path: Path, isolated_store: Path, change: Callable[[Path, Path], None],
                                 expected: dict[str, tuple[str, list[str]]], actions: list[str],
                                 ran: list[str]) -> None:
    root = make_project(tmp_path / "churn")
    repro(root=root)
    first_calls = calls(root)
    change(root, isolated_store)

    assert statuses(root) == expected
    outcomes = repro(root=root)

    assert [(o.name, o.action) for o in outcomes] == list(zip(["prepare", "train", "evaluate"], actions, strict=True))
    for outcome in outcomes:
        if outcome.action == "restored":
            assert outcome.reasons == expected[outcome.name][1]
    assert calls(root) == first_calls + ran
    assert statuses(root) == {"prepare": UP, "train": UP, "evaluate": UP}
    assert len(stage_runs("churn")) == 3 + len(ran)


def test_never_run_and_the_status_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "churn")
    assert statuses(root) == {name: ("stale", ["never run"]) for name in ("prepare", "train", "evaluate")}
    repro(root=root)
    set_param(root, "train", "C", 0.5)
    monkeypatch.chdir(root)
    result = invoke("status")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:4]]
            for line in plain(result.stdout).splitlines() if line.count("│") == 4}
    assert rows == {"prepare": ["up to date", "-"],
                    "train": ["stale", "param train.C 1.0 -> 0.5"],
                    "evaluate": ["stale", "upstream stage 'train' is stale"]}


COUNT = """\
import pathlib

files = sorted(p for p in pathlib.Path("data/images").rglob("*") if p.is_file())
pathlib.Path("counts.txt").write_text(f"{len(files)} files, {sum(p.stat().st_size for p in files)} bytes\\n")
"""


def status_reading_files(root: Path) -> tuple[int, list[StageStatus]]:
    """``status`` as pipeline_status does it, keeping the hasher to see how many files it had to read."""
    store = shipyard.current_store()
    pipeline = load_pipeline(root)
    lock, params = read_lock(root), load_params(root)
    hasher = Hasher(store, root)
    found = [stage_status(pipeline.stages[name], lock.get(name), params, hasher, store)
             for name in build_graph(pipeline).order()]
    hasher.save_cache()
    return hasher.files_read, found


def test_the_stat_cache_rereads_only_the_changed_file(tmp_path: Path) -> None:
    images = {f"data/images/{kind}/{index}.txt": f"{kind} {index}\n" * (index + 1)
              for kind in ("cats", "dogs") for index in range(10)}
    spec = "stages:\n  count:\n    cmd: python src/count.py\n    deps: [data/images, src/count.py]\n" \
           "    outs: [counts.txt]\n"
    root = make_project(tmp_path / "pets", spec=spec, params=None, files={"src/count.py": COUNT, **images})
    repro(root=root)

    read, [status] = status_reading_files(root)
    assert (read, status.state, status.reasons) == (0, "up to date", [])  # 22 files, none read again

    (root / "data" / "images" / "dogs" / "3.txt").write_text("a different dog\n")
    read, [status] = status_reading_files(root)
    assert (read, status.state, status.reasons) == (1, "stale", ["dep data/images changed"])

    read, [status] = status_reading_files(root)  # the new hash is cached now
    assert (read, status.state, status.reasons) == (0, "stale", ["dep data/images changed"])

    (root / "data" / "images" / "dogs" / "3.txt").write_text("dogs 3\n" * 4)  # back to the recorded bytes
    read, [status] = status_reading_files(root)
    assert (read, status.state) == (1, "up to date")
