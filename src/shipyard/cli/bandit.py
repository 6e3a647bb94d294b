"""``shipyard bandit``: what a ``routing: thompson`` deployment has learnt about its variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from . import _output
from ._store import existing_store, tracking_server_of_command

app = typer.Typer(help="Bandit routing (routing: thompson in serving.yaml): each variant's posterior and its "
                       "reward estimated by inverse propensity weighting.\n\nExample: shipyard bandit status churn",
                  no_args_is_help=True)


@app.command("status")
def status_command(
    deployment: str = typer.Argument(..., help="Deployment name (a key of deployments: in serving.yaml)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = typer.Option(None, "--config", "-c", help="The serving.yaml that routes DEPLOYMENT, for "
                                       "its score_doubt (default: the project's serving.yaml when it names "
                                       "DEPLOYMENT, else the default doubt)."),
) -> None:
    """Show each variant of DEPLOYMENT: labels counted, scored predictions whose label is pending, the chance
    Thompson sampling picks it before the propensity floor (by labels and pending scores), and its mean reward
    with 95% intervals from the labels alone (self-normalized IPW first; plain mean for comparison, biased when
    routing adapts). The posterior weighs pending scores by the deployment's own score_doubt, read from its
    serving.yaml.

    Example: shipyard bandit status churn --json
    """
    report = bandit_report(deployment, score_doubt(deployment, config))
    if json_output:
        _output.print_json(report)
        return
    console = _output.console
    console.print(f"Deployment {_output.escape(deployment)}: {report['labelled']} labelled requests counted; "
                  f"score_doubt {report['score_doubt']:g} ({_output.escape(report['score_doubt_from'])})")
    for item in report["variants"]:
        snipw, ipw, plain = item["estimates"]
        console.print(f"  {_output.escape(item['variant'])}: {item['count']} labels, {item['pending']} scored "
                      f"predictions pending, picked by Thompson sampling "
                      f"{item['thompson_probability'] * 100:.1f}%; reward {_interval(snipw)} (IPW "
                      f"{_interval(ipw)}; plain {_interval(plain)})")


def score_doubt(deployment: str, config: Path | None) -> tuple[float, str]:
    """The deployment's ``score_doubt`` and where it came from: ``--config`` (which must name the deployment),
    else the project's serving.yaml when it names it, else the default, as ``shipyard serve`` would route.

    Raises:
        ConfigError: ``--config`` does not load or has no such deployment.
    """
    from ..errors import ConfigError
    from ..serving.spec import load_config
    from ..serving.thompson import DEFAULT_CALIBRATION_DOUBT
    from ._store import project_root

    path = config if config is not None else project_root() / "serving.yaml"
    if config is None and not path.is_file():
        return DEFAULT_CALIBRATION_DOUBT, "default"
    try:
        loaded = load_config(path)
    except ConfigError:
        if config is None:  # the project's file is for shipyard serve to report on; the default stands
            return DEFAULT_CALIBRATION_DOUBT, "default"
        raise
    found = next((item for item in loaded.deployments if item.name == deployment), None)
    if found is None:
        if config is None:
            return DEFAULT_CALIBRATION_DOUBT, "default"
        raise ConfigError(f"{path}: no deployment {deployment!r} under deployments:; pass the serving.yaml that "
                          "routes it with --config.")
    return found.score_doubt, str(path)


def bandit_report(deployment: str, doubt: tuple[float, str] | None = None) -> dict[str, Any]:
    """The status as plain data (what ``--json`` prints); ``doubt`` is the deployment's ``score_doubt`` and its
    origin (:func:`score_doubt`), the default when not given."""
    from ..errors import NotFoundError
    from ..models.bandits import arm_states
    from ..monitoring.stats.bandit import ArmSums, estimates
    from ..serving.thompson import DEFAULT_CALIBRATION_DOUBT, posterior_counts, thompson_probabilities

    doubt = doubt or (DEFAULT_CALIBRATION_DOUBT, "default")

    tracker = tracking_server_of_command()
    if tracker is not None:
        from ..serving.remote_source import server_arm_states

        arms = server_arm_states(tracker, [deployment]).get(deployment)
    else:
        arms = arm_states(existing_store(), [deployment]).get(deployment)
    if not arms:
        raise NotFoundError(f"Deployment {deployment!r} has no labelled request routed by 'routing: thompson' yet; "
                            "post feedback for its predictions first (or check the name in serving.yaml).")
    names = sorted(arms)
    chances = thompson_probabilities(*posterior_counts([arms[name] for name in names], doubt[0]))
    found = estimates({name: ArmSums(arms[name].count, arms[name].reward, arms[name].weight,
                                     arms[name].weighted_reward, arms[name].weight_squares,
                                     arms[name].weight_squares_reward, arms[name].weight_squares_reward_squares)
                       for name in names})
    return {"deployment": deployment, "labelled": sum(arm.count for arm in arms.values()),
            "score_doubt": doubt[0], "score_doubt_from": doubt[1],
            "variants": [{"variant": name, "count": arms[name].count, "successes": arms[name].successes,
                          "failures": arms[name].failures, "scored": arms[name].scored,
                          "pending": max(arms[name].scored - arms[name].labelled_scored, 0),
                          "thompson_probability": float(chance),
                          "estimates": [estimate.to_dict() for estimate in found[name]],
                          "updated_at": arms[name].updated_at}
                         for name, chance in zip(names, chances, strict=True)]}


def _interval(estimate: dict[str, Any]) -> str:
    if estimate["mean"] is None:
        return "n/a"
    return f"{estimate['mean']:.3f} [{estimate['low']:.3f}, {estimate['high']:.3f}]"
