"""``shipyard models``: the registry from the terminal."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from ..errors import CheckFailedError
from . import _output
from ._store import existing_store, tracking_server_of_command
from ._table import COLUMNS_OPTION, WIDE_OPTION, Column, FittedTable, column_choice, show

app = typer.Typer(help="Registered models: versions, aliases, promotion.\n\nExample: shipyard models show churn",
                  no_args_is_help=True)

TRUST_HELP = "A type the model package lists as unknown to trust (repeatable); see `shipyard lineage`."


@app.command("list")
def list_command(
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List registered models with their latest version and aliases.

    Example: shipyard models list
    """
    from ..models import remote
    from ..models.registry import list_models

    choice = column_choice(columns, wide)
    tracker = tracking_server_of_command()
    models = remote.list_models(tracker) if tracker is not None else list_models(existing_store())
    if json_output:
        _output.print_json(models)
        return
    if not models:
        _output.console.print("No registered models yet; register one with shipyard.register_model().")
        return
    rows = [(model["name"], f"v{model['latest_version']}",
             ", ".join(f"{alias}→v{version}" for alias, version in sorted(model["aliases"].items())) or "-",
             model["updated_at"][:19].replace("T", " ")) for model in models]
    show(FittedTable([Column("Model"), Column("Latest"), Column("Aliases", 1, wrap=True), Column("Updated", 2)],
                     rows, choice=choice))


@app.command("show")
def show_command(
    target: str = typer.Argument(..., help="NAME for all versions, or NAME/VERSION for one."),
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a model's versions (with aliases, metrics and lineage), or one version in detail.

    Example: shipyard models show churn/3
    """
    from ..errors import ValidationError
    from ..models import registry
    from ..models.lineage import lineage

    choice = column_choice(columns, wide)
    name, _, version_text = target.partition("/")
    if version_text and not version_text.isdigit():
        raise ValidationError(f"{target!r}: the version after '/' must be a number, e.g. churn/3.", field="target")
    tracker = tracking_server_of_command()
    if tracker is not None:  # the versions and each one's chain, traced on the team server
        from ..models import remote
        from ..tracking import remote_queries

        versions = ([remote.get_version(tracker, name, int(version_text))] if version_text
                    else remote.list_versions(tracker, name))
        details = [remote_queries.lineage(tracker, version.uri) for version in versions]
    else:
        store = existing_store()
        versions = ([registry.get_version(store, name, int(version_text))] if version_text
                    else registry.list_versions(store, name))
        details = [lineage(store, version.uri) for version in versions]
    if json_output:
        _output.print_json({"name": name, "versions": details})
        return
    rows = []
    for chain in details:
        model_version = chain["model_version"]
        git = chain.get("git") or {}
        commit = (git.get("commit") or "-")[:8] + ("*" if git.get("dirty") else "") if git else "-"
        metrics = ", ".join(f"{key}={_output.fmt_value(value)}" for key, value in list(chain["metrics"].items())[:4])
        data = chain.get("training_data") or {}
        rows.append((
            f"v{model_version['version']}", ", ".join(model_version["aliases"]) or "-",
            f"{chain['run']['run_id'][:8]} {chain['run']['name']}", commit, metrics or "-",
            f"{data.get('hash', '-')[:12]} ({data.get('rows', '?')} rows)" if data else "-",
            model_version["created_at"][:19].replace("T", " "),
        ))
    table_columns = [Column("Version"), Column("Aliases", 1, wrap=True), Column("Run", 3), Column("Commit", 5),
                Column("Metrics", 2, wrap=True), Column("Training data", 6), Column("Created", 4)]
    show(FittedTable(table_columns, rows, choice=choice, title=f"Model {name}"))


@app.command("alias")
def alias_command(
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str = typer.Argument(..., help="Alias, e.g. champion or challenger."),
    version: int = typer.Argument(..., help="Version the alias should point at."),
    reason: str = typer.Option(None, "--reason", "-m", help="Why (kept in the audit log)."),
) -> None:
    """Point an alias at a version (recorded in the audit log).

    Example: shipyard models alias churn champion 3 -m "better recall"
    """
    from ..models import registry, remote

    tracker = tracking_server_of_command()
    event = (remote.set_alias(tracker, name, alias, version, reason=reason) if tracker is not None
             else registry.set_alias(existing_store(), name, alias, version, reason=reason))
    moved = f"from v{event.from_version} " if event.from_version else ""
    _output.console.print(f"models:/{_output.escape(name)}@{_output.escape(alias)} now points at v{version} "
                          f"({moved}by {_output.escape(event.actor or '?')}).")


@app.command("history")
def history_command(
    name: str = typer.Argument(..., help="Registered model name."),
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The audit log: every alias move and promotion decision, with scores.

    Example: shipyard models history churn
    """
    from ..models import registry, remote

    choice = column_choice(columns, wide)
    tracker = tracking_server_of_command()
    events = remote.alias_history(tracker, name) if tracker is not None else registry.alias_history(existing_store(),
                                                                                                    name)
    if json_output:
        _output.print_json([event.to_dict() for event in events])
        return
    styles = {"promoted": "green", "held_back": "yellow", "delete": "red"}
    rows = [(_output.fmt_time(event.at), event.alias, Text(event.action, style=styles.get(event.action, "white")),
             _version(event.from_version), _version(event.to_version), event.actor or "-", event.reason or "-")
            for event in events]
    show(FittedTable([Column("When"), Column("Alias", 1), Column("Action"), Column("From", 3), Column("To", 1),
                      Column("Who", 4), Column("Why", 2, wrap=True)], rows, choice=choice))


@app.command("promote")
def promote_command(
    name: str = typer.Argument(..., help="Registered model name."),
    candidate: str = typer.Option(..., "--candidate", help="Candidate version number, or an alias (challenger)."),
    data: str = typer.Option(..., "--data", help="Holdout data (CSV or Parquet) with features and the target."),
    target: str = typer.Option(..., "--target", help="Target column in --data."),
    alias: str = typer.Option("champion", "--alias", help="The alias the candidate competes for."),
    metric: str = typer.Option("roc_auc", "--metric", help="roc_auc, log_loss, accuracy, f1, precision, recall, "
                               "rmse, mae or r2."),
    min_delta: float = typer.Option(0.0, "--min-delta", help="How much better the candidate must be."),
    alpha: float = typer.Option(0.05, "--alpha", help="Level of the one-sided paired test that the gain exceeds "
                                "--min-delta (DeLong for roc_auc, McNemar for accuracy, else a paired bootstrap)."),
    trust: list[str] = typer.Option([], "--trust", help=TRUST_HELP),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of a CSV --data file (e.g. latin-1)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Promote a candidate only if a paired test shows it beats the alias holder; exit 0 promoted, 3 held back.

    Example: shipyard models promote churn --candidate 5 --data holdout.parquet --target churn --min-delta 0.005
    """
    from ..models.promote import ServerGate, promote

    tracker = tracking_server_of_command()
    gate = ServerGate(tracker) if tracker is not None else existing_store()
    decision = promote(gate, name, candidate=candidate, alias=alias, data=data, target=target,
                       metric=metric, min_delta=min_delta, alpha=alpha, trust=trust, encoding=encoding)
    if json_output:
        _output.print_json(decision.to_dict())
    else:
        current = (f"v{decision.current_version} {metric} = {decision.current_score:.4f}"
                   if decision.current_score is not None else "no current holder")
        _output.console.print(f"candidate v{decision.candidate_version} {metric} = {decision.candidate_score:.4f}; "
                              f"{alias}: {current}")
        verdict = "[green]PROMOTED[/]" if decision.promoted else "[yellow]HELD BACK[/]"
        _output.console.print(f"{verdict}: {_output.escape(decision.reason)}")
    if not decision.promoted:
        raise CheckFailedError(f"v{decision.candidate_version} of {name} was held back: {decision.reason}",
                               check="promotion")


def _version(value: Any) -> str:
    return f"v{value}" if value is not None else "-"


@app.command("export-onnx")
def export_onnx_command(
    model_uri: str = typer.Argument(..., help="models:/NAME@ALIAS, models:/NAME/N or runs:/RUN/PATH."),
    output: str = typer.Option(..., "--output", "-o", help="Where to write the .onnx file."),
    tolerance: float = typer.Option(1e-5, "--tolerance", help="Largest probability difference accepted."),
    attach: bool = typer.Option(True, "--attach/--no-attach", help="Also store it with the registry version."),
    trust: list[str] = typer.Option([], "--trust", help=TRUST_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Convert a pipeline (preprocessing included) to ONNX and prove it answers like the Python model.

    Example: shipyard models export-onnx models:/churn@champion -o churn.onnx
    """
    from ..errors import VerificationError
    from ..models.onnx_export import export_onnx

    try:
        source = tracking_server_of_command() or existing_store()
        report = export_onnx(source, model_uri, output, tolerance=tolerance, attach=attach, trust=trust)
    except VerificationError as exc:
        if json_output:
            _output.print_json({"verified": False, "message": exc.message, "mismatches": exc.mismatches})
        else:
            rows = [(str(row["row"]), str(row["python_label"]), str(row["onnx_label"]), f"{row['max_abs_diff']:.3g}",
                     ", ".join(f"{key}={_output.fmt_value(value)}" for key, value in list(row["input"].items())[:6]))
                    for row in exc.mismatches[:20]]
            show(FittedTable([Column("Row"), Column("Python"), Column("ONNX"), Column("Max |diff|"),
                              Column("Input", 1, wrap=True)], rows, title="Rows where the models disagree",
                             flags=["--json"]))
        raise
    if json_output:
        _output.print_json({"verified": True, **report.to_dict()})
        return
    attached = f"; attached to {report.attached_to}" if report.attached_to else ""
    _output.console.print(f"Verified on {report.rows_checked} rows (largest probability difference "
                          f"{report.max_abs_diff:.2g} <= {report.tolerance:g}); "
                          f"wrote {_output.escape(output)}{attached}.")
