"""``shipyard serve``, ``shipyard dockerfile`` and ``shipyard predictions``: online serving from the terminal."""

from __future__ import annotations

from pathlib import Path

import typer

from . import _output
from ._store import LOG_DIR_HELP, existing_store, log_dir as resolve_log_dir, tracking_server_of_command
from ._table import COLUMNS_OPTION, WIDE_OPTION, column_choice


def serve_command(
    model_uri: str | None = typer.Argument(None, help="models:/NAME@ALIAS (one deployment named NAME); or use "
                                           "--config."),
    config: Path | None = typer.Option(None, "--config", "-c", help="serving.yaml with deployments, variants, "
                                       "shadows and batching."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 exposes the server)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes (each loads every model)."),
    runtime: str = typer.Option("auto", "--runtime", help="auto | python | onnx (with MODEL_URI)."),
    max_batch_size: int = typer.Option(64, "--max-batch-size", min=1, help="Micro-batch rows (1 = no batching; "
                                       "with MODEL_URI)."),
    token: str | None = typer.Option(None, "--token", envvar=["SHIPYARD_SERVE_TOKEN", "SHIPYARD_TOKEN"],
                                     help="Token that writes (feedback, request ids chosen by the client) must carry: "
                                     "Authorization: Bearer TOKEN (default $SHIPYARD_SERVE_TOKEN, else "
                                     "$SHIPYARD_TOKEN unless that is the team server's token)."),
    allowed_host: list[str] = typer.Option([], "--allowed-host", metavar="NAME", envvar="SHIPYARD_ALLOWED_HOSTS",
                                           help="A Host name the server answers besides loopback names, IP addresses "
                                           "and --host, e.g. the name a proxy or a Kubernetes Service forwards "
                                           "(repeatable; SHIPYARD_ALLOWED_HOSTS takes names separated by spaces)."),
    insecure_no_auth: bool = typer.Option(False, "--insecure-no-auth", help="Beyond loopback, start without a "
                                          "token and let anyone who reaches the port write (not recommended)."),
    max_request_rows: int | None = typer.Option(None, "--max-request-rows", min=1, help="Rows one request may "
                                                "hold; more get 413 (default 10000, or max_request_rows of "
                                                "--config)."),
    body_timeout: float | None = typer.Option(None, "--body-timeout", min=0.1, help="Seconds a request body may "
                                              "take to arrive; slower ones get 408 (default 10, or "
                                              "body_timeout_s of --config)."),
    trust: list[str] = typer.Option([], "--trust", metavar="TYPE|pickle:HASH", help="A type the packages list as "
                                    "unknown to trust, or one pickle to load, named by its whole hash (repeatable; "
                                    "added to trust of --config). Never a blanket trust: an alias can move."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve registered models over HTTP: /predict/NAME, the Open Inference Protocol, feedback, /metrics.

    A server that other machines can reach (--host other than a loopback address) refuses to start without a
    --token unless given --insecure-no-auth; on loopback, local programs may write without one. Requests whose
    Host is not a loopback name, an IP address, the --host name or an --allowed-host name are refused (400),
    and bodies a web page of another site could send (text, forms; any body with a foreign Origin) are refused.

    With SHIPYARD_TRACKING_URI set (and no --store) the models, alias moves, rollouts and bandit posteriors come
    from that team server, with SHIPYARD_TOKEN as its token (give the serving token as SHIPYARD_SERVE_TOKEN then);
    serving.yaml must name a log_dir.

    Example: shipyard serve models:/churn@champion --port 8000 --workers 2
    """
    from dataclasses import replace
    from importlib.util import find_spec

    from ..errors import ConfigError
    from ..serving.access import check_exposure
    from ..serving.server import serve
    from ..serving.spec import Batching, check_trust_entry, config_for_uri, load_config

    if (model_uri is None) == (config is None):
        raise ConfigError("Give a model URI (shipyard serve models:/churn@champion) or --config serving.yaml, "
                          "not both and not neither.")
    tracker = tracking_server_of_command()
    source = None
    if tracker is None:
        existing_store()
    else:
        from ..serving.remote_source import ServerSource

        source = ServerSource(tracker.url, tracker.client.token)
    if config is not None:
        settings = load_config(config)
    else:
        assert model_uri is not None
        settings = config_for_uri(model_uri, batching=Batching(max_batch_size), runtime=runtime)
    if tracker is not None and token == tracker.client.token:
        token = None  # SHIPYARD_TOKEN is the team server's here: feedback clients get SHIPYARD_SERVE_TOKEN, not it
    if token:
        settings = replace(settings, token=token)
    for entry in trust:
        check_trust_entry(entry, ConfigError, where="--trust")
    settings = replace(settings, trust=(*settings.trust, *trust), insecure_no_auth=insecure_no_auth,
                       allowed_hosts=(*settings.allowed_hosts, *allowed_host))
    if max_request_rows is not None:
        settings = replace(settings, max_request_rows=max_request_rows)
    if body_timeout is not None:
        settings = replace(settings, body_timeout_s=body_timeout)
    warning = check_exposure(host, token=settings.token, insecure_no_auth=insecure_no_auth)
    if warning:
        _output.err_console.print(_output.escape(warning), style="yellow", soft_wrap=True)
    if find_spec("scipy") is not None:  # the monitoring extra: drift and health gauges on /metrics
        settings = replace(settings, plugins=(*settings.plugins, "shipyard.monitoring.gauges:jobs"))

    def ready(url: str) -> None:
        for deployment in settings.deployments:
            variants = ", ".join(f"{variant.name} {variant.model} ({variant.weight:g})"
                                 for variant in deployment.variants)
            shadows = f"; shadow {', '.join(item.model for item in deployment.shadows)}" if deployment.shadows else ""
            _output.console.print(f"Serving [bold]{_output.escape(deployment.name)}[/]: {_output.escape(variants)}"
                                  f"{_output.escape(shadows)} at {url}/predict/{_output.escape(deployment.name)}")
        _output.console.print(f"API docs at {url}/docs; metrics at {url}/metrics. Ctrl-C (or SIGTERM) drains and "
                              "stops.", soft_wrap=True)
        if source is not None:
            _output.console.print(f"Models from {_output.escape(source.where)}.", soft_wrap=True)

    raise typer.Exit(serve(settings, host=host, port=port, workers=workers, log_level=log_level, on_ready=ready,
                           source=source))


def dockerfile_command(
    model_uri: str | None = typer.Argument(None, help="The model to serve (models:/NAME@ALIAS), or use --config."),
    config: Path | None = typer.Option(None, "--config", "-c", help="serving.yaml to serve."),
    output: Path = typer.Option(Path("Dockerfile"), "--output", "-o", help="Where to write the Dockerfile (its "
                                "folder is the build context)."),
    shipyard_wheel: Path | None = typer.Option(None, "--shipyard-wheel", help="The Shipyard wheel the image installs "
                                               "(make dist); default: built from the installed Shipyard."),
    bake: bool = typer.Option(True, "--bake/--no-bake", help="Copy the served models into the image (the default), "
                              "or leave them out: the server then reads them at start from the store that "
                              "SHIPYARD_DATABASE_URI and SHIPYARD_OBJECTS_URI name (the image `shipyard k8s render` "
                              "expects without --bake)."),
) -> None:
    """Write a Dockerfile and its build context: the served models only, a Shipyard wheel, pinned requirements.

    Beside the Dockerfile go Dockerfile.context/ (what the image copies) and Dockerfile.dockerignore.
    With --no-bake the image holds no model, so one image serves every version.

    Example: shipyard dockerfile models:/churn@champion -o Dockerfile
    """
    import os

    from ..errors import ConfigError
    from ..serving.dockerfile import write_dockerfile
    from ..serving.spec import config_for_uri, load_config

    if (model_uri is None) == (config is None):
        raise ConfigError("Give a model URI or --config serving.yaml, not both and not neither.")
    store = existing_store()
    settings = load_config(config) if config is not None else config_for_uri(str(model_uri))
    written = write_dockerfile(store, settings, output, model_uri=model_uri, config_path=config, wheel=shipyard_wheel,
                               bake=bake)
    served = ", ".join(f"{label} (with its ONNX export)" if label in written.onnx else label
                       for label in written.exported.packages)
    size = written.exported.size / 1024
    models = (f"{_output.escape(served)}: {len(written.exported.objects)} objects, {size:,.0f} kB" if bake else
              "no model (read at start from SHIPYARD_DATABASE_URI and SHIPYARD_OBJECTS_URI)")
    _output.console.print(
        f"Wrote {_output.escape(str(output))} and {_output.escape(written.context.name)}/: shipyard-ml "
        f"{written.wheel.version} ({_output.escape(written.wheel.origin)}), {len(written.pins)} pinned requirements, "
        f"{models}.", soft_wrap=True)
    context = os.path.relpath(written.dockerfile.parent)
    dockerfile = os.path.relpath(written.dockerfile)
    _output.console.print(f"Build: docker build -t {_output.escape(settings.deployments[0].name)}-server "
                          f"-f {_output.escape(dockerfile)} {_output.escape(context)}", soft_wrap=True)


def predictions_command(
    deployment: str | None = typer.Argument(None, help="Deployment name (default: all)."),
    since: str | None = typer.Option("24h", "--since", help="A duration (30m, 24h, 7d) or an ISO time."),
    limit: int = typer.Option(20, "--limit", min=0, help="Rows to show (newest last; 0 = all)."),
    columns: str | None = COLUMNS_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON records."),
    log_dir: str | None = typer.Option(None, "--log-dir", help=LOG_DIR_HELP),
) -> None:
    """Show the prediction log of a deployment.

    Example: shipyard predictions churn --since 1h
    """
    from ..errors import ValidationError
    from ..predlog.readers import prediction_log

    choice = column_choice(columns, wide)
    folder = resolve_log_dir(log_dir)
    if tracking_server_of_command() is None:
        existing_store()
    elif folder is None:  # the default, a store's serving/ folder, is not where the team's servers write
        raise ValidationError("Beside a tracking server, `shipyard predictions` reads the log where the servers write "
                              "it: give --log-dir (a folder or s3://bucket/prefix), SHIPYARD_LOG_DIR, or log_dir in "
                              "serving.yaml.", field="--log-dir")
    frame = prediction_log(deployment, since=since, log_dir=folder)
    if limit:
        frame = frame.tail(limit)
    shown = [name for name in _PREDICTION_COLUMNS if name in frame.columns]
    if json_output:  # through pandas' JSON writer: arrays (probabilities) and timestamps become plain JSON
        import json

        _output.print_json(json.loads(frame.to_json(orient="records", date_format="iso")) if len(frame) else [])
        return
    if not len(frame):
        _output.console.print("No predictions logged in that range.")
        return
    from ._table import Column, FittedTable, show

    def cell(name: str, value: object) -> str:
        if name == "timestamp":  # UTC, as --since and --from take it; to the second, like every table here
            return str(value.strftime("%Y-%m-%d %H:%M:%S")) if hasattr(value, "strftime") else str(value)
        return _output.fmt_value(value)

    rows = [tuple(cell(name, value) for name, value in zip(shown, record, strict=True))
            for record in frame[shown].itertuples(index=False)]
    show(FittedTable([Column("timestamp (UTC)" if name == "timestamp" else name, _PREDICTION_COLUMNS[name],
                             justify="right" if name == "latency_ms" else "left") for name in shown],
                     rows, choice=choice))


# The prediction log's columns a table shows, by priority (0: always): which request, what it answered, when.
_PREDICTION_COLUMNS = {"timestamp": 1, "request_id": 0, "deployment": 5, "variant": 3, "shadow": 6,
                       "model_version": 4, "prediction": 0, "latency_ms": 2, "probabilities": 7}
