"""``shipyard init``: make a new project that runs, tests and serves from the first minute."""

from __future__ import annotations

from pathlib import Path

import typer

from . import _output

_TEMPLATE_HELP = "classification (churn-like customers, yes/no target) or regression (house prices)."
_NOTEBOOK_HELP = ("Also copy this notebook's code cells into src/<package>/from_notebook.py, a draft to refactor "
                  "(magics and shell escapes commented out).")


def init_command(
    ctx: typer.Context,
    directory: Path = typer.Argument(Path("."), help="Folder for the project (made if missing; must be empty)."),
    template: str = typer.Option("classification", "--template", "-t", help=_TEMPLATE_HELP),
    name: str | None = typer.Option(None, "--name", help="Project name (default: the folder's); dashes become "
                                    "underscores in the package name."),
    from_notebook: Path | None = typer.Option(None, "--from-notebook", help=_NOTEBOOK_HELP),
    force: bool = typer.Option(False, "--force", help="Write into a folder that is not empty, replacing files with "
                               "the same names."),
    shipyard_wheel: Path | None = typer.Option(None, "--shipyard-wheel", help="The Shipyard wheel to put in vendor/ "
                                               "(make dist); default: one of the installed Shipyard."),
) -> None:
    """Create a project: package, pipeline, sample data, tests, Makefile (make docker), CI, notebook, git, store.

    Example: shipyard init churn --template classification --from-notebook analysis.ipynb
    """
    import os
    import shlex

    from ..scaffold.project import Made, create_project, plan_project
    from ..store.location import STORE_ENV
    from ._store import writable_store

    plan = plan_project(directory, template=template, name=name, from_notebook=from_notebook, force=force,
                        wheel=shipyard_wheel)
    console = _output.console
    shown = _shown(directory)
    console.print(f"Creating {_output.escape(plan.name)} in {_output.escape(shown)} (template {plan.template}, "
                  f"package {plan.package}):")

    def report(item: Made) -> None:
        line = f"  {_output.escape(item.path.ljust(26))} {_output.escape(item.what)}"
        console.print(f"[bold yellow]{line}[/]" if item.draft else line)

    explicit = ctx.find_root().params.get("store") or os.environ.get(STORE_ENV)
    create_project(plan, store=writable_store() if explicit else None, report=report)

    console.print("Next:")
    steps = [] if plan.root == Path.cwd().resolve() else [(f"cd {shlex.quote(shown)}", "")]
    steps += [
        ('pip install --find-links vendor -e ".[dev,serve]"', "unless the project is installed already"),
        ("make test", "unit tests, then the pipeline end to end in a temporary copy"),
        ("make repro", "prepare -> train -> evaluate, each stage a tracked run"),
        ("make register", "register the model; the promotion gate makes it champion"),
        ("make serve", f"shipyard serve models:/{plan.name}@champion"),
    ]
    for command, why in steps:
        console.print(f"  {_output.escape(command.ljust(50))} {('# ' + why) if why else ''}".rstrip())
    if plan.draft is not None:
        console.print(f"[bold yellow]src/{plan.package}/from_notebook.py is a DRAFT:[/] refactor it into "
                      "prepare.py, train.py and evaluate.py (with tests), then delete it.")


def _shown(directory: Path) -> str:
    """The folder as the user would type it: relative to the working directory when inside it."""
    try:
        relative = directory.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(directory)
    return str(relative) if str(relative) != "." else "."
