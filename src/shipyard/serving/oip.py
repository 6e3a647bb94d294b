"""The Open Inference Protocol (KServe V2) face of the server, so existing clients work unchanged.

A deployment is a V2 "model"; its versions are the registry versions its variants serve. Tabular input
follows the pandas-codec convention: one input per column with ``shape [N]`` (``BYTES`` for text,
``FP64``/``INT64`` for numbers). ``/v2/models/{name}/infer`` routes like ``/predict`` (weights, sticky key
in ``parameters.sticky_key``); ``/versions/{v}/infer`` goes to the variant serving version ``v``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import NotFoundError
from ..models.signature import Signature
from .app import predict, read_json
from .fleet import LiveDeployment, VariantSlot
from .handlers import json_response, state_of
from .inputs import RawRequest, parse_v2
from .runtime import Answer, Runner

_DATATYPES = {"integer": "FP64", "float": "FP64", "boolean": "BOOL", "string": "BYTES", "datetime": "BYTES"}


def install(app: Any) -> None:
    @app.get("/v2", tags=["open inference protocol"])
    async def server_metadata() -> Response:
        from importlib.metadata import version

        return json_response({"name": "shipyard", "version": version("shipyard-ml"), "extensions": []})

    @app.get("/v2/health/live", tags=["open inference protocol"])
    async def v2_live() -> Response:
        return json_response({"live": True})

    @app.get("/v2/health/ready", tags=["open inference protocol"])
    async def v2_ready(request: Request) -> Response:
        state = getattr(request.app.state, "serving", None)
        ready = state is not None and state.ready
        return json_response({"ready": ready}, 200 if ready else 503)

    @app.get("/v2/models/{name}", tags=["open inference protocol"])
    async def model_metadata(name: str, request: Request) -> Response:
        deployment = state_of(request).deployment(name)
        runner = deployment.variants[0].serving.runner
        versions = sorted({str(slot.serving.runner.version) for slot in deployment.variants
                           if slot.serving.runner.version is not None})
        return json_response({"name": name, "versions": versions, "platform": f"shipyard-{runner.runtime}",
                              "inputs": _inputs(runner.signature), "outputs": _outputs(runner)})

    @app.get("/v2/models/{name}/ready", tags=["open inference protocol"])
    async def model_ready(name: str, request: Request) -> Response:
        state = state_of(request)
        state.deployment(name)
        return json_response({"name": name, "ready": state.ready}, 200 if state.ready else 503)

    @app.post("/v2/models/{name}/infer", tags=["open inference protocol"])
    async def infer(name: str, request: Request) -> Response:
        return await _infer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer", tags=["open inference protocol"])
    async def infer_version(name: str, version: str, request: Request) -> Response:
        return await _infer(request, name, version)


async def _infer(request: Any, name: str, version: str | None) -> Any:
    state = state_of(request)
    deployment, slot = infer_target(state, name, version)
    sticky = deployment.spec.sticky_key
    raw = await read_json(request, state.config.max_body_bytes, timeout_s=state.config.body_timeout_s,
                          decode=lambda body: parse_v2(body, sticky))
    authorized = request.app.state.access.authorized(request.headers.get("authorization"))
    return json_response(await infer_content(state, deployment, slot, raw, authorized=authorized))


def infer_target(state: Any, name: str, version: str | None) -> tuple[LiveDeployment, VariantSlot | None]:
    """The deployment and, for ``/versions/{version}/infer``, the variant serving that version: a 404 before the
    body is read."""
    deployment = state.deployment(name)
    slot = None
    if version is not None:
        # isascii: "²" is a digit to isdigit() but not to int(); the length keeps int() under its digit limit.
        number = version.isascii() and version.isdigit() and len(version) <= 18
        slot = deployment.slot_for_version(int(version)) if number else None
        if slot is None:
            serving = sorted({str(item.serving.runner.version) for item in deployment.variants})
            raise NotFoundError(f"Deployment {name!r} does not serve version {version!r} (it serves "
                                f"{', '.join(serving)}).")
    return deployment, slot


async def infer_content(state: Any, deployment: LiveDeployment, slot: VariantSlot | None, raw: RawRequest, *,
                        authorized: bool = False) -> dict[str, Any]:
    """Predict (with the variant ``slot`` when one was asked for) and build the V2 answer; ``authorized`` lets the
    client's own ``id`` be the request id (see :func:`.app.predict`)."""
    name = deployment.name
    predicted = await predict(state, deployment, raw, slot=slot, authorized=authorized)
    runner = predicted.runner
    parameters: dict[str, Any] = {"variant": predicted.slot.name, "model_uri": runner.uri}
    if predicted.ignored:
        parameters["ignored_columns"] = predicted.ignored
    return {"model_name": name, "model_version": str(runner.version or ""), "id": predicted.request_id,
            "parameters": parameters, "outputs": _output_tensors(predicted.answer, runner)}


def _output_tensors(answer: Answer, runner: Runner) -> list[dict[str, Any]]:
    rows = len(answer.labels)
    labels_type = _tensor_type(answer.labels)
    outputs: list[dict[str, Any]] = [{"name": "predictions", "shape": [rows], "datatype": labels_type,
                "data": answer.labels if labels_type != "BYTES" else [str(label) for label in answer.labels]}]
    if answer.probabilities is not None:
        width = len(answer.probabilities[0]) if rows else len(runner.classes)
        outputs.append({"name": "probabilities", "shape": [rows, width], "datatype": "FP64",
                        "data": [value for row in answer.probabilities for value in row],
                        "parameters": {"classes": [str(label) for label in runner.classes]}})
    return outputs


def _tensor_type(values: list[Any]) -> str:
    if values and all(isinstance(value, bool) for value in values):
        return "BOOL"
    if values and all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return "INT64"
    if values and all(isinstance(value, int | float) and not isinstance(value, bool) for value in values):
        return "FP64"
    return "BYTES"


def _inputs(signature: Signature) -> list[dict[str, Any]]:
    return [{"name": spec.name, "datatype": _DATATYPES.get(spec.kind, "BYTES"), "shape": [-1]}
            for spec in signature.inputs]


def _outputs(runner: Runner) -> list[dict[str, Any]]:
    text = any(isinstance(label, str) for label in runner.classes)
    datatype = "BYTES" if text else "INT64" if runner.classes else "FP64"
    outputs: list[dict[str, Any]] = [{"name": "predictions", "datatype": datatype, "shape": [-1]}]
    if runner.probabilistic:
        outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(runner.classes)]})
    return outputs
