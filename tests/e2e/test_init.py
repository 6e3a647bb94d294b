"""``shipyard init`` as a user runs it: real processes, a real git repository, the project's own store.

The projects' own commands run too (``make test``, ``shipyard repro``, ``make register``), with the
interpreter of this test run first on PATH, as a user's activated environment would be. No
``SHIPYARD_STORE``: a project must find its own ``.shipyard/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import yaml

import shipyard
from tests._support import git
from tests.e2e.conftest import SHIPYARD_SCRIPT
from tests.integration.serving._dockerfile import lay_out_image, missing_sources

if TYPE_CHECKING:
    from .conftest import CliInvoker, ErrorCheck

BIN = Path(sys.executable).parent
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="the project's Makefile needs make")


@pytest.fixture
def user_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A user's shell: this environment's tools first on PATH, no SHIPYARD_STORE, and a git with no identity
    configured unless a test adds one (so the stand-in author of the initial commit is tested too)."""
    monkeypatch.delenv("SHIPYARD_STORE", raising=False)
    # Not MAKEFLAGS/MAKELEVEL either: under the repo's own `make test`, the project's make would run as a
    # sub-make and print "Entering directory" lines a user's top-level make does not.
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"SHIPYARD_RUN_ID", "FORCE_COLOR", "EMAIL", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
                   and not key.startswith("GIT_")}
    environment["PATH"] = os.pathsep.join([str(BIN), environment.get("PATH", "")])
    environment.update({"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "COLUMNS": "200",
                        # no guessing an identity from the host name either: only what a test configures
                        "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "user.useConfigOnly",
                        "GIT_CONFIG_VALUE_0": "true"})
    return environment


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def init(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = run([str(SHIPYARD_SCRIPT), "init", *args], cwd, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == "", done.stderr
    return done


@pytest.mark.slow
@needs_make
def test_a_classification_project_passes_its_own_tests_runs_its_pipeline_and_registers_a_champion(
        tmp_path: Path, user_env: dict[str, str]) -> None:
    output = init(tmp_path, user_env, "churn-model").stdout
    project = tmp_path / "churn-model"
    lines = output.splitlines()
    assert lines[0] == "Creating churn-model in churn-model (template classification, package churn_model):"
    made = {line.split()[0]: line for line in lines[1:lines.index("Next:")]}
    for thing in ("shipyard.yaml", "params.yaml", "src/churn_model/", "tests/", "notebooks/explore.ipynb", "Makefile",
                  ".github/workflows/ci.yml", ".dockerignore", ".gitignore", "pyproject.toml", "README.md", "vendor/",
                  "data/raw/customers.csv", ".shipyard/", "git"):
        assert thing in made, output
    assert "tracked with shipyard add" in made["data/raw/customers.csv"]
    assert "authored by 'Shipyard init'" in made["git"]  # no identity configured: a stand-in, said out loud
    assert [line.split()[0] for line in lines[lines.index("Next:") + 1:]][:2] == ["cd", "pip"]
    assert "make serve" in output and "models:/churn-model@champion" in output

    # One commit holding the code and the data's pointer, never the data or the store.
    assert git(project, "log", "--format=%an").splitlines() == ["Shipyard init"]
    committed = set(git(project, "ls-files").splitlines())
    assert {"data/raw/customers.csv.ship", "src/churn_model/train.py", "tests/test_pipeline.py",
            ".github/workflows/ci.yml", "notebooks/explore.ipynb",
            f"vendor/shipyard_ml-{metadata.version('shipyard-ml')}-py3-none-any.whl"} <= committed
    assert not any(path.startswith((".shipyard/", "data/raw/customers.csv")) and not path.endswith(".ship")
                   for path in committed)
    assert git(project, "status", "--porcelain") == ""
    assert (project / ".shipyard" / "meta.db").is_file()
    notebook = json.loads((project / "notebooks" / "explore.ipynb").read_text())
    assert notebook["nbformat"] == 4
    assert any("from churn_model import" in "".join(cell["source"]) for cell in notebook["cells"])
    lint = run([str(BIN / "ruff"), "check", "--no-cache", "."], project, user_env)
    assert lint.returncode == 0, lint.stdout

    # The project's own tests (its integration test runs the pipeline in a temporary copy) and the pipeline
    # in the project itself: independent, so side by side.
    with subprocess.Popen(["make", "test"], cwd=project, env=user_env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as tests:
        repro = run([str(SHIPYARD_SCRIPT), "repro"], project, user_env)
        tests_output, _ = tests.communicate(timeout=300)
    assert tests.returncode == 0, tests_output
    assert " passed" in tests_output and "failed" not in tests_output
    assert repro.returncode == 0, repro.stdout + repro.stderr

    lock = yaml.safe_load((project / "shipyard.lock").read_text())["stages"]
    assert list(lock) == ["prepare", "train", "evaluate"]
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert metrics["roc_auc"] > 0.65
    registered = run(["make", "register"], project, user_env)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    assert "promoted to champion" in registered.stdout
    serve = run(["make", "-n", "serve"], project, user_env).stdout.strip()
    assert serve == "shipyard serve models:/churn-model@champion"

    # `make docker`, up to the docker build that needs an engine: the image gets the champion's package and
    # a Shipyard wheel, and neither the data cache nor the rest of the project.
    docker = run(["make", "-n", "docker"], project, user_env).stdout.strip().splitlines()
    assert docker == ["shipyard dockerfile models:/churn-model@champion -o Dockerfile",
                      "docker build -t churn-model-server -f Dockerfile ."]
    written = run(docker[0].split(), project, user_env)
    assert written.returncode == 0, written.stdout + written.stderr
    assert missing_sources(project / "Dockerfile") == []
    image = lay_out_image(project / "Dockerfile", tmp_path / "image")
    data_hash = re.search(r"[0-9a-f]{64}", (project / "data" / "raw" / "customers.csv.ship").read_text())
    assert data_hash is not None
    copied = {path.parent.name + path.name for path in (image / "app" / ".shipyard" / "objects").glob("*/*")}
    assert copied and data_hash.group(0) not in copied
    assert data_hash.group(0)[2:] in {path.name for path in (project / ".shipyard" / "objects").rglob("*")}
    assert "Dockerfile.context" not in git(project, "status", "--porcelain")  # ignored: written again each time

    shipyard.set_store(project / ".shipyard")  # what the project's own commands used, found from its folder
    train = shipyard.get_run(lock["train"]["run_id"])
    assert train.tags["shipyard.stage"] == "train" and "shipyard.model.model" in train.tags
    assert train.metrics["cv_roc_auc"] > 0.6
    champion = shipyard.load_model("models:/churn-model@champion")
    assert champion.run_id == train.id
    rows = pd.read_parquet(project / "data" / "prepared" / "test.parquet").drop(columns=["churned"]).head(3)
    assert set(champion.predict(rows)) <= {0, 1}


@pytest.mark.slow
def test_a_regression_project_runs_its_pipeline(tmp_path: Path, user_env: dict[str, str]) -> None:
    identity = {"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.invalid",
                "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.invalid"}
    environment = {**user_env, **identity}
    (tmp_path / "houses").mkdir()  # an empty folder is fine
    output = init(tmp_path / "houses", environment, "--template", "regression").stdout
    project = tmp_path / "houses"
    assert "(template regression, package houses)" in output.splitlines()[0]
    next_steps = output.splitlines()[output.splitlines().index("Next:") + 1:]
    assert next_steps[0].split()[0] == "pip"  # made in the working directory: nothing to cd into
    assert git(project, "log", "--format=%an").splitlines() == ["Ada"]

    repro = run([str(SHIPYARD_SCRIPT), "repro"], project, environment)
    assert repro.returncode == 0, repro.stdout + repro.stderr
    assert list(yaml.safe_load((project / "shipyard.lock").read_text())["stages"]) == ["prepare", "train", "evaluate"]
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert metrics["r2"] > 0.7 and metrics["rmse"] > 0
    shipyard.set_store(project / ".shipyard")
    uri = json.loads((project / "models" / "model.json").read_text())["uri"]
    assert shipyard.load_model(uri).signature.output.kind == "regressor"


def test_help_has_an_example(cli: CliInvoker) -> None:
    result = cli("init", "--help")
    assert result.exit_code == 0, result.output
    assert "Example: shipyard init churn" in result.stdout and "--from-notebook" in result.stdout


NOTEBOOK_CELLS = [
    ("markdown", "# Churn, first look"),
    ("code", "%matplotlib inline\n!pip install xgboost\nimport pandas as pd\nframe = pd.DataFrame({'a': [1, 2]})"),
    ("code", "files = !ls\nfor name in files:\n    !wc -l {name}\nframe.describe?"),
    ("code", "%%bash\necho not python"),
    ("code", "%%time\ntotal = frame['a'].sum()\nprint(total)"),
]


def test_from_notebook_adds_a_draft_module_with_magics_and_shell_escapes_commented_out(
        tmp_path: Path, user_env: dict[str, str]) -> None:
    code: dict[str, object] = {"outputs": [], "execution_count": None}
    cells: list[dict[str, object]] = [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
              **(code if kind == "code" else {})} for kind, source in NOTEBOOK_CELLS]
    (tmp_path / "analysis.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                         "nbformat_minor": 5}))
    output = init(tmp_path, user_env, "churn", "--from-notebook", "analysis.ipynb").stdout

    drafts = [line for line in output.splitlines() if "DRAFT" in line]
    assert len(drafts) == 2, output  # the line of the file made, and the closing reminder
    assert drafts[0].split()[0] == "src/churn/from_notebook.py"
    assert "refactor into prepare/train/evaluate" in drafts[0] and "4 code cells of analysis.ipynb" in drafts[0]
    draft = (tmp_path / "churn" / "src" / "churn" / "from_notebook.py").read_text()
    assert draft.startswith("# DRAFT: the 4 code cell(s) of analysis.ipynb")
    for line in ("# %matplotlib inline  <- IPython magic: Jupyter only",
                 "# !pip install xgboost  <- shell escape: Jupyter only; list the package in pyproject.toml's "
                 "dependencies instead",
                 "import pandas as pd",
                 "    pass  # !wc -l {name}  <- shell escape: Jupyter only; use subprocess, or a Makefile target",
                 "# frame.describe?  <- IPython help: Jupyter only",
                 "# echo not python",
                 "total = frame['a'].sum()"):
        assert line in draft.splitlines(), line
    compile(draft, "from_notebook.py", "exec")  # the draft parses
    assert "from_notebook.py" in git(tmp_path / "churn", "ls-files")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["taken"], "Error: taken is not empty (1 entries: notes.txt); give a new folder", id="non-empty"),
        pytest.param(["new", "--template", "clustering"],
                     "Error: Unknown template 'clustering'; choose one of: classification, regression", id="template"),
        pytest.param(["new", "--name", "2-fast"], "Error: --name '2-fast' cannot name the project's package",
                     id="name"),
        pytest.param(["new", "--name", "pandas"], "a package named 'pandas' would hide the module", id="shadowing"),
        pytest.param(["new", "--from-notebook", "broken.ipynb"],
                     "Error: broken.ipynb is not a Jupyter notebook: not valid JSON", id="notebook-json"),
        pytest.param(["new", "--from-notebook", "old.ipynb"],
                     "Error: old.ipynb is not a Jupyter notebook (nbformat 4)", id="notebook-format"),
        pytest.param(["new", "--from-notebook", "missing.ipynb"], "Error: --from-notebook missing.ipynb: no such file",
                     id="notebook-missing"),
        pytest.param(["new", "--shipyard-wheel", "missing.whl"], "Error: --shipyard-wheel missing.whl: no such file",
                     id="wheel-missing"),
        pytest.param(["new", "--shipyard-wheel", "broken.ipynb"], "is not a shipyard-ml wheel", id="not-a-wheel"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_makes_nothing(tmp_path: Path, user_env: dict[str, str],
                                                           input_error: ErrorCheck, args: list[str],
                                                           message: str) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine\n")
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    (tmp_path / "old.ipynb").write_text(json.dumps({"nbformat": 3, "worksheets": []}))
    done = run([str(SHIPYARD_SCRIPT), "init", *args], tmp_path, user_env, timeout=60)
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert line.startswith(message) or message in line, line
    assert not (tmp_path / "new").exists()
    assert sorted(path.name for path in (tmp_path / "taken").iterdir()) == ["notes.txt"]


def test_without_a_wheel_to_vendor_the_project_is_made_and_the_report_says_what_to_do(
        tmp_path: Path, user_env: dict[str, str]) -> None:
    """Shipyard installed in editable mode from a clone that was deleted since: no wheel can be built."""
    version = metadata.version("shipyard-ml")
    info = tmp_path / "site" / f"shipyard_ml-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: shipyard-ml\nVersion: {version}\n")
    (info / "direct_url.json").write_text(json.dumps({"url": (tmp_path / "deleted-clone").as_uri(),
                                                      "dir_info": {"editable": True}}))
    output = init(tmp_path, {**user_env, "PYTHONPATH": str(tmp_path / "site")}, "churn").stdout
    said = " ".join(output.split("\n  vendor/", 1)[1].split("\n  data/", 1)[0].split())  # wrapped at 200 columns
    assert said.startswith("NOT WRITTEN") and "deleted-clone" in said and "--shipyard-wheel PATH" in said, output
    assert not (tmp_path / "churn" / "vendor").exists() and (tmp_path / "churn" / "Makefile").is_file()
