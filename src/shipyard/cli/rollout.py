"""``shipyard rollout``: canary rollouts that judge the model and roll back by themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from ..errors import CheckFailedError
from . import _output
from ._store import existing_store, log_dir as resolve_log_dir, tracking_server_of_command

if TYPE_CHECKING:
    from ..models.rollout_book import RolloutBook

app = typer.Typer(help="Canary rollouts: shift traffic to a candidate step by step; a judge advances, holds or "
                       "rolls back.\n\nExample: shipyard rollout start churn --candidate challenger",
                  no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON at the end: the rollout and every check it judged.")
LOG_DIR_OPTION = typer.Option(None, "--log-dir", help="The prediction log's folder, when serving.yaml sets log_dir.")


@app.command("start")
def start_command(
    name: str = typer.Argument(..., help="Registered model name."),
    candidate: str = typer.Option(..., "--candidate", help="Candidate version number, or an alias (challenger)."),
    alias: str = typer.Option("champion", "--alias", help="The alias the servers serve; it moves at the end."),
    steps: str = typer.Option("5,25,50,100", "--steps", help="The candidate's share of traffic at each step, in %."),
    max_labels: int | None = typer.Option(None, "--max-labels", min=1, help="Labelled canary requests the last "
                                          "step waits for before the alias moves (default: labels not awaited)."),
    min_requests: int = typer.Option(100, "--min-requests", min=1, help="Canary requests each step needs."),
    alpha: float = typer.Option(0.01, "--alpha", min=1e-6, max=0.5, help="Bound on false rollbacks from the "
                                "loss test, over every check (always-valid mSPRT)."),
    loss_tau: float = typer.Option(0.02, "--loss-tau", min=1e-9, help="The loss difference found quickest "
                                   "(0/1 loss of classifiers: 0.02 is two accuracy points)."),
    shadow: bool = typer.Option(True, "--shadow/--no-shadow", help="Also answer the primary's requests in "
                                "shadow, to measure disagreement."),
    interval: float = typer.Option(30.0, "--interval", min=0.05, help="Seconds between checks."),
    timeout: float | None = typer.Option(None, "--timeout", min=0, help="Stop watching after this many seconds "
                                         "(the rollout keeps its weight; `shipyard rollout watch` resumes)."),
    log_dir: str | None = LOG_DIR_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Start a canary of --candidate against NAME@--alias and judge it until it completes or rolls back.

    Servers of NAME@--alias pick the weight up within a second. Exit 0: completed (the alias moved) or still
    running at --timeout; 3: rolled back or aborted.

    Example: shipyard rollout start churn --candidate challenger --steps 5,25,50,100 --max-labels 6000
    """
    from ..models.rollouts import parse_steps

    policy: dict[str, Any] = {"min_requests": min_requests, "alpha": alpha, "loss_tau": loss_tau,
                              "max_labels": max_labels, "shadow": shadow}
    chosen = parse_steps(steps)
    book = _book()
    log_dir = _log_dir_for(book, log_dir)  # before the rollout starts: a missing log is not worth a started rollout
    rollout = book.start(name, candidate, alias=alias, steps=chosen, policy=policy)
    if not json_output:
        _output.console.print(f"Rollout {rollout.id}: {name} v{rollout.candidate_version} against {alias} "
                              f"(v{rollout.primary_version}) at {rollout.weight:g}%; checks every {interval:g} s.")
    _watch(book, rollout.id, interval, timeout, log_dir, json_output)


@app.command("watch")
def watch_command(
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str | None = typer.Option(None, "--alias", help="The primary's alias (when several roll out)."),
    interval: float = typer.Option(30.0, "--interval", min=0.05, help="Seconds between checks."),
    timeout: float | None = typer.Option(None, "--timeout", min=0, help="Stop watching after this many seconds."),
    log_dir: str | None = LOG_DIR_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Resume judging the running rollout of NAME (after --timeout, or when the terminal that started it closed).

    Example: shipyard rollout watch churn --interval 60
    """
    from ..errors import NotFoundError

    book = _book()
    log_dir = _log_dir_for(book, log_dir)
    rollout = book.latest(name, alias)
    if not rollout.running:
        raise NotFoundError(f"No rollout of {name!r} is running (the latest, {rollout.id}, is {rollout.status}).")
    _watch(book, rollout.id, interval, timeout, log_dir, json_output)


@app.command("status")
def status_command(
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str | None = typer.Option(None, "--alias", help="The primary's alias (when several roll out)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the running (else the latest) rollout of NAME: weight, step, checks and the last decision.

    Example: shipyard rollout status churn
    """
    rollout = _book().latest(name, alias)
    if json_output:
        _output.print_json(rollout.to_dict())
        return
    steps = ", ".join(f"{step:g}" for step in rollout.steps)
    _output.console.print(f"Rollout {rollout.id} of {rollout.name}: v{rollout.candidate_version} against "
                          f"{rollout.alias} (v{rollout.primary_version}), {_output.escape(rollout.status)} at "
                          f"{rollout.weight:g}% (steps {steps}), {rollout.checks} checks")
    verdict = rollout.last_verdict
    if verdict:
        _output.console.print(f"last check: {verdict['action']}: {_output.escape(verdict['reason'])}")
        _output.console.print(_output.escape(_figures(verdict["statistics"])))


@app.command("abort")
def abort_command(
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str | None = typer.Option(None, "--alias", help="The primary's alias (when several roll out)."),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the audit log."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Stop the running rollout of NAME: every server sends all traffic back to the primary within a second.

    Example: shipyard rollout abort churn --reason "support tickets about odd scores"
    """
    rollout = _book().abort(name, alias=alias, reason=reason)
    if json_output:
        _output.print_json(rollout.to_dict())
        return
    _output.console.print(f"Rollout {rollout.id} aborted: {rollout.name}@{rollout.alias} serves "
                          f"v{rollout.primary_version} again.")


def _book() -> RolloutBook:
    """The team server's rollouts when ``SHIPYARD_TRACKING_URI`` is set and no store is named, else the store's."""
    from ..models.rollout_book import ServerRollouts, StoreRollouts

    tracker = tracking_server_of_command()
    return ServerRollouts(tracker) if tracker is not None else StoreRollouts(existing_store())


def _log_dir_for(book: RolloutBook, option: str | None) -> str | None:
    """The prediction log the judge reads. Through a server it must be named (a store's ``serving/`` folder is
    not where the team's servers write)."""
    from ..errors import ValidationError

    if book.store is not None:
        return option
    found = resolve_log_dir(option)
    if found is None:
        raise ValidationError("Judging a rollout through a tracking server reads the prediction log where the "
                              "servers write it: give --log-dir (a folder or s3://bucket/prefix), SHIPYARD_LOG_DIR, "
                              "or log_dir in serving.yaml.", field="--log-dir")
    return found


def _watch(book: RolloutBook, rollout_id: int, interval: float, timeout: float | None, log_dir: str | None,
           json_output: bool) -> None:
    from ..models.rollouts import COMPLETED, Rollout
    from ..monitoring.rollout_judge import Verdict
    from ..monitoring.rollout_runner import run_rollout

    checks: list[dict[str, Any]] = []

    def show(rollout: Rollout, verdict: Verdict) -> None:
        if json_output:
            checks.append({"check": rollout.checks, "weight": rollout.weight, **verdict.to_dict()})
            return
        _output.console.print(f"check {rollout.checks}: {verdict.action} -> {rollout.weight:g}%: "
                              f"{_output.escape(verdict.reason)}")

    rollout = run_rollout(book, rollout_id, interval_s=interval, timeout_s=timeout, log_dir=log_dir,
                          on_check=show)
    if json_output:
        _output.print_json({**rollout.to_dict(), "checks": checks})
    elif rollout.running:
        _output.console.print(f"Rollout {rollout.id} still running at {rollout.weight:g}% (--timeout reached); "
                              f"`shipyard rollout watch {rollout.name}` resumes judging it.")
    elif rollout.status == COMPLETED:
        _output.console.print(f"[green]COMPLETED[/]: {rollout.name}@{rollout.alias} now serves "
                              f"v{rollout.candidate_version}.")
    else:
        _output.console.print(f"[red]{rollout.status.upper().replace('_', ' ')}[/]: {rollout.name}@{rollout.alias} "
                              f"serves v{rollout.primary_version} again: {_output.escape(rollout.reason or '')}")
    if rollout.status not in (COMPLETED, "running"):
        raise CheckFailedError(f"Rollout {rollout.id} of {rollout.name} ended {rollout.status}: {rollout.reason}",
                               check="rollout")


def _figures(statistics: dict[str, Any]) -> str:
    """The headline numbers of a check, on one line."""
    parts = [f"canary {statistics.get('candidate_requests', 0)} requests / {statistics.get('candidate_labels', 0)} "
             f"labels, primary {statistics.get('primary_requests', 0)} / {statistics.get('primary_labels', 0)}"]
    loss = statistics.get("loss")
    if loss:
        parts.append(f"loss {loss['candidate']:.4f} vs {loss['primary']:.4f} (p = {loss['pvalue']:.2g})")
    disagreement = statistics.get("disagreement")
    if disagreement:
        parts.append(f"disagreement {disagreement['rate']:.1%} of {disagreement['pairs']} pairs")
    latency = statistics.get("p99_latency_ms")
    if latency:
        parts.append(f"p99 {latency['candidate']:.1f} vs {latency['primary']:.1f} ms")
    return "; ".join(parts)
