"""``shipyard init``: a new project that works at once, made in two steps.

:func:`plan_project` checks every input (template, name, directory, notebook) and renders every file in
memory, so bad input stops the command before anything is written. :func:`create_project` then writes
the files, generates the sample data, makes the folder a git repository, opens the store, tracks the data
with ``shipyard add`` and commits, telling its caller about each thing it made as it goes.

``shipyard-ml`` is not on a package index yet, so the project carries the wheel of the Shipyard that made it
in ``vendor/`` and every install line (README, CI) says ``--find-links vendor``. A wheel given with
``--shipyard-wheel`` must be right or nothing is made; when none can be built (see
:mod:`shipyard.serving.shipyard_wheel`), the project is made all the same and the report says what to do.

Git is a convenience here, not a requirement: without git on PATH, or inside an existing repository, the
project is made all the same and the report says what was not done.
"""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..errors import ConfigError, ConflictError
from ..pipeline.dag import build_graph
from ..pipeline.data import add
from ..pipeline.spec import load_pipeline
from ..serving.shipyard_wheel import Wheel, check_wheel, shipyard_wheel
from ..store.location import STORE_DIRNAME, resolve_location
from ..store.store import Store
from . import naming, notebook, render

DRAFT_MODULE = "from_notebook.py"
VENDOR = "vendor"
_FALLBACK_IDENTITY = ("-c", "user.name=Shipyard init", "-c", "user.email=init@shipyard.invalid")


@dataclass(frozen=True)
class Made:
    """One thing ``create_project`` made: where (relative to the project, or ``git``) and what it is."""

    path: str
    what: str
    draft: bool = False  # the --from-notebook module, which the output must call a draft


@dataclass(frozen=True)
class Plan:
    """Everything ``shipyard init`` will make, checked and rendered, before anything is written."""

    root: Path
    name: str
    package: str
    template: str
    files: dict[str, str]  # project path -> text
    settings: dict[str, str]  # the template's own values (raw data path, metric, ...)
    draft: notebook.Draft | None = None
    notebook_path: Path | None = None
    shipyard_wheel: Path | None = None  # --shipyard-wheel: the wheel to put in vendor/ instead of building one

    @property
    def raw_data(self) -> str:
        return self.settings["raw_data"]


@dataclass
class Created:
    """What ``create_project`` did: the project's folder and, when it committed, the commit."""

    root: Path
    made: list[Made] = field(default_factory=list)
    commit: str | None = None


Report = Callable[[Made], None]


def plan_project(directory: Path, *, template: str = "classification", name: str | None = None,
                 from_notebook: Path | None = None, force: bool = False, wheel: Path | None = None) -> Plan:
    """Check the inputs of ``shipyard init`` and render the project, writing nothing.

    Args:
        directory: where the project goes; it must be missing or empty unless ``force``.
        template: one of :data:`.render.TEMPLATES`.
        name: the project name (default: the folder's name); dashes become underscores in the package.
        from_notebook: a notebook whose code cells become the draft module ``src/<package>/from_notebook.py``.
        force: write into a folder that is not empty, replacing files with the same names.
        wheel: the Shipyard wheel for ``vendor/`` (default: one of the installed Shipyard, made when the
            project is created).

    Raises:
        ConfigError: ``wheel`` is not a shipyard-ml wheel.
        ValidationError: an unknown template, a name that cannot be a package, a broken notebook.
        ConflictError: ``directory`` is a file, or a folder that is not empty (without ``force``).
        NotFoundError: the notebook does not exist.
    """
    render.check_template(template)
    if wheel is not None:
        check_wheel(wheel)
    root = directory.resolve()
    _check_directory(directory, root, force)
    project_name = (name if name is not None else naming.default_name(root)).strip()
    package = naming.package_name(project_name, from_folder=name is None)
    draft = None
    if from_notebook is not None:
        draft = notebook.draft_from_notebook(notebook.read_notebook(from_notebook), source_name=from_notebook.name,
                                             package=package)
    settings = render.template_settings(template)
    context = {**settings, "name": project_name, "pkg": package, "template": template,
               "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
               "shipyard_version": _shipyard_version()}
    files = render.render_project(template, context)
    for path, text in list(files.items()):
        if path.endswith(".ipynb"):
            files[path] = json.dumps(notebook.notebook_from_percent(text), indent=1, ensure_ascii=False) + "\n"
    if draft is not None:
        files[f"src/{package}/{DRAFT_MODULE}"] = draft.text
    return Plan(root, project_name, package, template, files, settings, draft, from_notebook, wheel)


def create_project(plan: Plan, *, store: Store | None = None, report: Report | None = None) -> Created:
    """Make the project ``plan`` describes.

    Args:
        plan: what :func:`plan_project` returned.
        store: the store to track the data in; by default a new one in the project's ``.shipyard/``.
        report: called with each thing made, as it is made.

    Returns:
        The project folder, what was made, and the initial commit (``None`` when none was made).
    """
    created = Created(plan.root)

    def made(path: str, what: str, draft: bool = False) -> None:
        item = Made(path, what, draft)
        created.made.append(item)
        if report is not None:
            report(item)

    staging = Path(tempfile.mkdtemp(prefix="shipyard-init-wheel-"))
    try:
        wheel, failure = _wheel(plan, staging)  # first: a bad --shipyard-wheel stops init before any write
        for path, text in plan.files.items():
            target = plan.root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for path, what in _describe(plan):
            made(path, what)
        if wheel is not None:
            (plan.root / VENDOR).mkdir(exist_ok=True)
            shutil.move(str(wheel.path), plan.root / VENDOR / wheel.path.name)
            made(f"{VENDOR}/", f"{wheel.path.name}, for `pip install --find-links vendor` here and in CI until "
                 "shipyard-ml is on a package index")
        else:
            made(f"{VENDOR}/", f"NOT WRITTEN: {failure} Until a wheel is in vendor/, installs of this project "
                 "(CI too) cannot find shipyard-ml.", draft=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    rows = _write_sample_data(plan)
    git = _git_init(plan.root)  # before the store and `add`, so the workspace lock lands inside .git
    own_store = store is None
    # The project's own folder; SHIPYARD_DATABASE_URI / SHIPYARD_OBJECTS_URI still place their parts (objects on S3).
    opened = Store(resolve_location(store=str(plan.root / STORE_DIRNAME))) if store is None else store
    try:
        pipeline = load_pipeline(plan.root)  # also proves the rendered shipyard.yaml is valid
        (entry,) = add(opened, plan.root, [str(plan.root / plan.raw_data)], produced=build_graph(pipeline).producer)
    finally:
        if own_store:
            opened.close()
    made(plan.raw_data, f"{rows} rows of synthetic sample data ({entry.size:,} bytes), tracked with shipyard add: "
         f"git gets {plan.raw_data}.ship, the store keeps the data")
    made(f"{STORE_DIRNAME}/" if own_store else "store",
         "the store: runs, model registry and the data cache (not in git)" if own_store else
         f"the data is cached in the store you chose, {opened.location.describe()} (--store or SHIPYARD_STORE)")
    if plan.draft is not None:
        assert plan.notebook_path is not None
        parsing = (f"; it does not parse yet ({plan.draft.syntax_error})" if plan.draft.syntax_error else "")
        made(f"src/{plan.package}/{DRAFT_MODULE}",
             f"DRAFT to refactor into prepare/train/evaluate: the {plan.draft.code_cells} code cells of "
             f"{plan.notebook_path.name}, {plan.draft.commented_lines} Jupyter-only lines commented out{parsing}",
             draft=True)

    if git == "initialised":
        created.commit, note = _initial_commit(plan)
        if created.commit is not None:
            made("git", f"a new repository with the initial commit {created.commit[:8]}{note}")
        else:
            made("git", f"a new repository, but the initial commit failed ({note}); commit with "
                 "`git add -A && git commit`")
    elif git == "existing":
        made("git", "inside an existing repository: nothing committed; review with `git status`, then commit")
    elif git == "missing":
        made("git", "not found on PATH: no repository made, so stage runs will not record commits")
    else:
        made("git", f"`git init` failed ({git}): no repository made, so stage runs will not record commits")
    return created


def _check_directory(directory: Path, root: Path, force: bool) -> None:
    if root.exists() and not root.is_dir():
        hint = (f" To start from this notebook: shipyard init my-project --from-notebook {directory}"
                if directory.suffix == ".ipynb" else "")
        raise ConflictError(f"{directory} is a file; give a new or empty folder for the project.{hint}")
    if force or not root.exists():
        return
    entries = sorted(entry.name for entry in root.iterdir() if entry.name != ".git")
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise ConflictError(f"{directory} is not empty ({len(entries)} entries: {shown}); give a new folder "
                            f"(shipyard init my-project), or add --force to write the project into it, replacing "
                            "files with the same names.")


def _describe(plan: Plan) -> list[tuple[str, str]]:
    """One line per thing written: top-level files, and the package, tests and notebooks folders."""
    modules = sorted(Path(path).stem for path in plan.files
                     if path.startswith(f"src/{plan.package}/") and not path.endswith(DRAFT_MODULE))
    tests = sorted(Path(path).stem for path in plan.files if path.startswith("tests/"))
    what = {
        "shipyard.yaml": "the pipeline: prepare -> train -> evaluate, with deps, params, outs and metrics",
        "params.yaml": "the params of each stage (and of the promotion gate)",
        f"src/{plan.package}/": f"the package: {', '.join(modules)}",
        "tests/": f"{', '.join(tests)}: the preprocessing, and the pipeline run end to end",
        "notebooks/explore.ipynb": "exploration that imports the package instead of copying its code",
        "Makefile": "make test | repro | register | serve | data | docker",
        ".github/workflows/ci.yml": "CI: install, make test, shipyard repro on every push",
        ".dockerignore": f"Docker gets only Dockerfile.context/, which `make docker` writes for models:/{plan.name}"
                         "@champion (shipyard dockerfile)",
        ".gitignore": "data (but not its .ship pointers), .shipyard/, __pycache__ and tool caches stay out of git",
        "pyproject.toml": "the project's package, depending on shipyard-ml[sklearn], scikit-learn and pandas",
        "README.md": "the layout, and the commands that come next",
    }
    return list(what.items())


def _wheel(plan: Plan, folder: Path) -> tuple[Wheel | None, str]:
    """The Shipyard wheel for vendor/, or ``None`` and why not. A given wheel that is wrong is an error."""
    if plan.shipyard_wheel is not None:
        return shipyard_wheel(folder, given=plan.shipyard_wheel), ""
    try:
        return shipyard_wheel(folder), ""
    except ConfigError as exc:
        return None, exc.message  # it names --shipyard-wheel, which init takes too


def _write_sample_data(plan: Plan) -> int:
    """Run the project's own sample_data module (one generator for init and for ``make data`` in CI)."""
    module = runpy.run_path(str(plan.root / "src" / plan.package / "sample_data.py"), run_name="shipyard_init")
    rows: int = module["write"](plan.root / plan.raw_data)
    return rows


def _git_init(root: Path) -> str:
    """``initialised``, ``existing`` (already inside a work tree: left alone), ``missing`` (no git on PATH),
    or else the reason ``git init`` failed."""
    try:
        inside = _git(root, "rev-parse", "--is-inside-work-tree")
    except FileNotFoundError:
        return "missing"
    if inside.returncode == 0 and inside.stdout.strip() == "true":
        return "existing"
    done = _git(root, "init", "--quiet")
    return "initialised" if done.returncode == 0 else _last_line(done)


def _initial_commit(plan: Plan) -> tuple[str | None, str]:
    """Commit everything git does not ignore; returns the commit (``None`` on failure) and a note.

    When git has no identity configured, the commit is authored by a stand-in, and the note says so.
    """
    message = f"New Shipyard project {plan.name} (shipyard init --template {plan.template})"
    added = _git(plan.root, "add", "--all")
    if added.returncode != 0:
        return None, _last_line(added)
    done = _git(plan.root, "commit", "--quiet", "-m", message)
    note = ""
    if done.returncode != 0 and _no_identity(done.stderr):
        done = _git(plan.root, "commit", "--quiet", "-m", message, options=_FALLBACK_IDENTITY)
        note = " (authored by 'Shipyard init', as git has no user.name/user.email yet: set them for your commits)"
    if done.returncode != 0:
        return None, _last_line(done)
    return _git(plan.root, "rev-parse", "HEAD").stdout.strip(), note


def _git(root: Path, *args: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *options, "-C", str(root), *args], capture_output=True, text=True, check=False)


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"git exited with {done.returncode}"


def _no_identity(stderr: str) -> bool:
    return "tell me who you are" in stderr.lower() or "unable to auto-detect email" in stderr.lower()


def _shipyard_version() -> str:
    try:
        return version("shipyard-ml")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.1"

