"""``shipyard lineage``: the chain behind a model or a run."""

from __future__ import annotations

from typing import Any

import typer

from . import _output
from ._store import LOG_DIR_HELP, existing_store, log_dir as resolve_log_dir, tracking_server_of_command


def lineage_command(
    target: str = typer.Argument(..., help="models:/NAME@ALIAS, models:/NAME/N, runs:/RUN/PATH, a run id, or the "
                                 "request id of a logged prediction (a unique prefix of either is enough; request "
                                 "id prefixes need 4 characters and search the last 30 days)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    log_dir: str | None = typer.Option(None, "--log-dir", help=LOG_DIR_HELP),
) -> None:
    """Show what produced a model, a run or a single prediction: inputs, outputs, feedback, version, run, params,
    metrics, commit, environment, data.

    Example: shipyard lineage models:/churn@champion   |   shipyard lineage 3f2a9c0e  (a request id's prefix)
    """
    from ..lineage_query import lineage

    tracker = tracking_server_of_command()  # with one, runs and models come from it; the prediction log from log_dir
    chain = (lineage(target, server=tracker, log_dir=resolve_log_dir(log_dir)) if tracker is not None
             else lineage(target, store=existing_store(), log_dir=resolve_log_dir(log_dir)))
    if json_output:
        _output.print_json(chain)
        return
    if "request_id" in chain:
        _output.console.print("\n".join(_prediction_lines(chain)))
        for uri, model_chain in chain["models"].items():
            _output.console.print(f"\n[bold]behind {_output.escape(uri)}[/]")
            if "error" in model_chain:
                _output.console.print(_output.escape(model_chain["error"]))
            else:
                _output.console.print("\n".join(_model_lines(model_chain)))
        return
    _output.console.print("\n".join(_model_lines(chain)))


def _prediction_lines(chain: dict[str, Any]) -> list[str]:
    esc = _output.escape
    lines = [f"[bold]request[/]   {esc(chain['request_id'])}"]
    for answer in chain["prediction"]:
        role = "shadow" if answer["shadow"] else "answer"
        probabilities = answer["probabilities"]
        shown = f" p={', '.join(f'{p:.3f}' for p in probabilities)}" if probabilities else ""
        lines.append(f"[bold]{role:<9}[/] row {answer['row']}: {esc(answer['prediction'])}{shown} from "
                     f"{esc(answer['deployment'])}/{esc(answer['variant'])} = {esc(answer['model_uri'])} "
                     f"({answer['runtime']}, {answer['latency_ms']:.1f} ms) at {answer['timestamp'][:23]}")
    first = chain["prediction"][0]["inputs"] if chain["prediction"] else {}
    if first:
        lines.append("[bold]inputs[/]    " + esc(", ".join(f"{key}={value}" for key, value in first.items())))
    if chain["feedback"]:
        for item in chain["feedback"]:
            lines.append(f"[bold]feedback[/]  row {item['row']}: label {esc(item['label'])} received "
                         f"{item['received'][:19]}")
    else:
        lines.append("[bold]feedback[/]  none yet")
    return lines


def _model_lines(chain: dict[str, Any]) -> list[str]:
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
    lines.extend(_pipeline_lines(chain))
    return lines


def _pipeline_lines(chain: dict[str, Any]) -> list[str]:
    """The stage behind the run, the stage runs upstream of it and the raw data, when the run is a stage run."""
    if "stage" not in chain:
        return []
    esc = _output.escape
    lines = []
    for label, stage in [("stage", chain["stage"]), *(("upstream", item) for item in chain["upstream"])]:
        git = stage["git"] or {}
        code = f", commit {(git['commit'] or '-')[:8]}{' dirty' if git['dirty'] else ''}" if git else ""
        lines.append(f"[bold]{label:<9}[/] {esc(stage['stage'])} of pipeline {esc(stage['pipeline'])}, "
                     f"run {stage['run_id'][:8]}{code}")
        width = max((len(item["path"]) for item in stage["deps"] + stage["outs"]), default=0)
        for item in stage["deps"]:
            source = item["produced_by"]
            origin = f"  from {esc(source['stage'])} (run {source['run_id'][:8]})" if source else ""
            lines.append(f"            in  {esc(item['path'].ljust(width))}  {item['hash'][:12]}{origin}")
        for item in stage["outs"]:
            lines.append(f"            out {esc(item['path'].ljust(width))}  {item['hash'][:12]}")
    for source in chain["sources"]:
        if source["added"]:
            git = source["git"]
            commit = f" at commit {git['commit'][:8]}" if git and git["commit"] else ""
            lines.append(f"[bold]raw data[/]  {esc(source['path'])} {source['hash'][:16]} ({esc(source['added'])}), "
                         f"read by {esc(source['read_by'])}{commit}")
    return lines
