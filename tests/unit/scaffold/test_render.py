"""The templates render completely, into the paths and the kinds of file a project needs."""

from __future__ import annotations

import itertools
import json
import re
import runpy
from pathlib import Path

import pytest
import yaml

from shipyard.errors import ValidationError
from shipyard.scaffold import render
from shipyard.scaffold.project import plan_project

TEMPLATE_ROOT = Path(render.__file__).parent / "templates"


@pytest.fixture(params=render.TEMPLATES)
def files(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    return plan_project(tmp_path / "my-proj", template=request.param).files


def test_every_template_folder_is_a_listed_template() -> None:
    folders = {path.name for path in TEMPLATE_ROOT.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == {"common", *render.TEMPLATES}


def test_a_project_gets_every_file_it_is_promised(files: dict[str, str]) -> None:
    expected = {"shipyard.yaml", "params.yaml", "pyproject.toml", "Makefile", ".dockerignore",
                ".gitignore", "README.md", ".github/workflows/ci.yml", "notebooks/explore.ipynb",
                "tests/test_prepare.py", "tests/test_train.py", "tests/test_pipeline.py"}
    expected |= {f"src/my_proj/{module}.py" for module in
                 ("__init__", "config", "prepare", "train", "evaluate", "register", "sample_data")}
    assert set(files) == expected


def test_no_placeholder_is_left_and_every_python_file_compiles(files: dict[str, str]) -> None:
    for path, text in files.items():
        assert "{{" not in text.replace("${{", ""), path
        if path.endswith(".py"):
            compile(text, path, "exec")


def test_the_config_files_parse_and_the_pipeline_names_the_project(files: dict[str, str]) -> None:
    pipeline = yaml.safe_load(files["shipyard.yaml"])
    assert pipeline["name"] == "my-proj"
    assert list(pipeline["stages"]) == ["prepare", "train", "evaluate"]
    assert all(stage["cmd"].startswith("PYTHONPATH=src python -m my_proj.") for stage in pipeline["stages"].values())
    params = yaml.safe_load(files["params.yaml"])
    assert {"prepare", "train", "evaluate", "promote"} <= set(params)
    workflow = yaml.safe_load(files[".github/workflows/ci.yml"])
    steps = [step.get("run", "") for step in workflow["jobs"]["test"]["steps"]]
    assert {"make data", "make test", "shipyard repro"} <= set(steps)


def test_the_makefile_recipes_are_indented_with_tabs(files: dict[str, str]) -> None:
    lines = files["Makefile"].splitlines()
    targets = [match.group(1) for line in lines if (match := re.match(r"([a-z]+):(?!=)", line))]
    assert targets == ["help", "test", "repro", "register", "serve", "data", "docker"]
    recipes = [line for line in lines if line.startswith((" ", "\t")) and line.strip()]
    assert recipes and all(line.startswith("\t") for line in recipes)
    assert "\tpython -m pytest" not in lines and "\t$(PYTHON) -m pytest" in lines  # no venv of its own


def test_the_image_is_written_by_shipyard_dockerfile_and_only_its_context_is_sent(files: dict[str, str]) -> None:
    """No Dockerfile that installs shipyard-ml from an index and copies the whole store: `make docker` writes
    one with `shipyard dockerfile` (the served model only, a Shipyard wheel), and Docker gets only its folder."""
    assert "Dockerfile" not in files
    lines = files["Makefile"].splitlines()
    after = lines[lines.index(next(line for line in lines if line.startswith("docker:"))) + 1:]
    recipe = [line.strip() for line in itertools.takewhile(lambda line: line.startswith("\t"), after)]
    assert recipe == ["$(SHIPYARD) dockerfile models:/$(MODEL)@champion -o Dockerfile",
                      "docker build -t $(MODEL)-server -f Dockerfile ."]
    ignore = [line for line in files[".dockerignore"].splitlines() if line and not line.startswith("#")]
    assert ignore == ["*", "!Dockerfile.context"]
    assert "/Dockerfile.context/" in files[".gitignore"].splitlines()


def test_every_install_line_finds_shipyard_in_vendor(files: dict[str, str]) -> None:
    """shipyard-ml is not on an index: the project installs it from the wheel `shipyard init` puts in vendor/."""
    lines = [(path, line) for path, text in files.items() for line in text.splitlines()
             if re.search(r"pip install (?!--find-links vendor ).*-e ", line)]
    assert lines == []
    workflow = yaml.safe_load(files[".github/workflows/ci.yml"])
    steps = [step.get("run", "") for step in workflow["jobs"]["test"]["steps"]]
    assert 'python -m pip install --find-links vendor -e ".[dev]"' in steps
    assert 'pip install --find-links vendor -e ".[dev,serve]"' in files["README.md"]


def test_the_notebook_is_nbformat_4_and_imports_the_package(files: dict[str, str]) -> None:
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.reads(files["notebooks/explore.ipynb"], as_version=4)
    nbformat.validate(notebook)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "from my_proj import config, prepare, train" in code
    assert "def " not in code  # it imports the code instead of copying it


def test_the_sample_data_has_every_column_the_config_names(files: dict[str, str], tmp_path: Path) -> None:
    for module in ("config", "sample_data"):
        (tmp_path / f"{module}.py").write_text(files[f"src/my_proj/{module}.py"])
    config = runpy.run_path(str(tmp_path / "config.py"))
    sample = runpy.run_path(str(tmp_path / "sample_data.py"))
    assert set(sample["COLUMNS"]) == {config["ID_COLUMN"], config["TARGET"], *config["NUMERIC"], *config["CATEGORICAL"]}
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    assert sample["write"](first) == sample["write"](second) > 300
    assert first.read_bytes() == second.read_bytes()  # deterministic: CI writes the bytes the pointer names
    sample["write"](second, seed=8)
    assert first.read_bytes() != second.read_bytes()
    assert str(config["RAW_DATA"]) == str(sample["OUTPUT"])


def test_json_in_the_notebook_and_the_template_values_are_strings(files: dict[str, str]) -> None:
    json.loads(files["notebooks/explore.ipynb"])
    for template in render.TEMPLATES:
        assert all(isinstance(value, str) for value in render.template_settings(template).values())


def test_paths_turn_dot_prefixes_and_the_package_placeholder_into_real_names() -> None:
    context = {"pkg": "churn"}
    assert render.project_path("dot-github/workflows/ci.yml", context) == ".github/workflows/ci.yml"
    assert render.project_path("src/{{pkg}}/train.py", context) == "src/churn/train.py"


def test_rendering_replaces_known_keys_leaves_github_expressions_and_refuses_unknown_ones() -> None:
    assert render.render_text("{{a}}-${{ matrix.python }}-{{a}}", {"a": "x"}) == "x-${{ matrix.python }}-x"
    with pytest.raises(ValidationError, match=r"README uses \{\{nope\}\}, which the template context does not"):
        render.render_text("{{nope}}", {"a": "x"}, source="README")


def test_an_unknown_template_lists_the_choices() -> None:
    with pytest.raises(ValidationError, match="choose one of: classification, regression"):
        render.check_template("clustering")
