"""``shipyard lineage``: the chain behind a model or a run."""

from __future__ import annotations

import typer

from . import _output
from ._store import existing_store


def lineage_command(
    target: str = typer.Argument(..., help="models:/NAME@ALIAS, models:/NAME/N, runs:/RUN/PATH or a run id."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show what produced a model or run: version, run, params, metrics, commit, environment, data.

    Example: shipyard lineage models:/churn@champion
    """
    from ..models.lineage import lineage

    chain = lineage(existing_store(), target)
    if json_output:
        _output.print_json(chain)
        return
    esc = _output.escape
    lines = []
    if "model_version" in chain:
        version = chain["model_version"]
        aliases = f" ({', '.join(version['aliases'])})" if version["aliases"] else ""
        lines.append(f"[bold]model[/]     {esc(version['uri'])}{esc(aliases)}, registered {version['created_at'][:19]}")
    if "package" in chain:
        package = chain["package"]
        lines.append(f"[bold]package[/]   {esc(package['python_class'])} ({package['flavor']}), "
                     f"{len(package['files'])} files, hashes verified on load")
    run = chain["run"]
    lines.append(f"[bold]run[/]       {run['run_id']} {esc(run['name'])} in {esc(run['experiment'])} ({run['status']})")
    if chain["params"]:
        lines.append("[bold]params[/]    " + esc(", ".join(f"{k}={v}" for k, v in chain["params"].items())))
    if chain["metrics"]:
        lines.append("[bold]metrics[/]   " + esc(", ".join(f"{k}={_output.fmt_value(v)}"
                                                         for k, v in chain["metrics"].items())))
    git = chain.get("git")
    if git:
        dirty = f" [yellow]dirty (diff {git['diff_hash'][:12]})[/]" if git.get("dirty") else " clean"
        lines.append(f"[bold]code[/]      {git['commit'] or '(no commit)'} on {esc(git['branch'] or '-')}{dirty}")
    else:
        lines.append("[bold]code[/]      not in a git work tree")
    if chain.get("training_data"):
        data = chain["training_data"]
        lines.append(f"[bold]data[/]      training frame {data['hash'][:16]} ({data['rows']} rows x {data['columns']} "
                     "columns)")
    env = chain.get("environment")
    if env:
        lines.append(f"[bold]env[/]       {env['hash'][:12]}: Python {env['python']}, {env['packages']} packages")
    _output.console.print("\n".join(lines))
