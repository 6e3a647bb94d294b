"""The OpenAPI document at ``/openapi.json``: what the server does, exactly enough for schemathesis to hold it to it.

FastAPI knows the routes but not their bodies (handlers read raw bytes, checked by each model's signature), nor
the columns of models loaded at start-up, nor our error shapes. So the document is built on request, after the
lifespan loaded the models: the routes FastAPI knows, then for each operation its request body, its answers and
every status it can give (:data:`_STATUSES`), from the tables and schemas below. ``/predict``, ``/feedback`` and
V2 ``infer`` get one entry per deployment, whose schemas list the model's columns with their types.

A schema is a promise both ways: a body it allows is answered (schemathesis' positive checks) and a body it
forbids is refused (negative checks). Two things JSON Schema cannot say are approximated on the safe side: that
every input of a V2 request has the same number of rows (the entry shows the one-row form; ``shape [N]`` with N
values works for any N, the same for every input), and that an integer in a float column must be one a float
holds exactly (integers there are bounded by 2**53).
"""

from __future__ import annotations

from typing import Any

from ..models.signature import ColumnSpec, Signature
from .fleet import LiveDeployment
from .state import started_state

INT64 = (-(2**63), 2**63 - 1)
EXACT_IN_FLOAT = 2**53  # integers up to this are exact in a float64: the coercion rule's limit
FLOAT32_MAX = 3.4028234663852886e38  # the ONNX runtime feeds numbers as float32
V2_INTEGER_TYPES = ["INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"]
V2_FLOAT_TYPES = ["FP16", "FP32", "FP64"]

_WHY = {
    400: "Not JSON or not one of the accepted shapes, a Host name this server does not answer, or Triton's binary "
         "extension.",
    401: "A write (feedback, a request_id or V2 id chosen by the client) without the server's token.",
    403: "Sent by a web page of another site (its Origin or Sec-Fetch-Site says so).",
    404: "An unknown deployment, model version or request id.",
    408: "The body did not arrive in time.",
    409: "A request_id already used for this deployment.",
    413: "The body (or its rows) is over the server's limit.",
    415: "A body declared as something other than JSON (text, form, multipart).",
    422: "A value the deployment's model cannot take, named in 'field'.",
    503: "Models are still loading, or the model could not answer this request.",
}
_READ = (400, 503)  # GET routes: a foreign Host; readiness while loading
_WRITE = (400, 401, 403, 408, 413, 415, 422)  # what any POST with a body can get
_STATUSES: dict[tuple[str, str], tuple[int, ...]] = {
    ("get", "/health/live"): (400,),
    ("get", "/health/ready"): _READ,
    ("get", "/deployments"): (400,),
    ("get", "/metrics"): (400,),
    ("get", "/v2"): (400,),
    ("get", "/v2/health/live"): (400,),
    ("get", "/v2/health/ready"): _READ,
    ("get", "/v2/models/{name}"): (400, 404),
    ("get", "/v2/models/{name}/ready"): (400, 404, 503),
}


def install(app: Any) -> None:
    from fastapi.openapi.utils import get_openapi

    def build() -> dict[str, Any]:
        document: dict[str, Any] = get_openapi(title=app.title, version="1", routes=app.routes,
                                               description="Predictions, feedback and health of a Shipyard server.")
        paths: dict[str, Any] = document.setdefault("paths", {})
        generic = {path: paths.pop(path, {}) for path in ("/predict/{deployment}", "/feedback/{deployment}",
                                                          "/v2/models/{name}/infer",
                                                          "/v2/models/{name}/versions/{version}/infer")}
        for (method, path), statuses in _STATUSES.items():
            operation = paths.get(path, {}).get(method)
            if operation is not None:
                operation["responses"] = {**_success(path), **_errors(statuses, v2=path.startswith("/v2"))}
        document["components"] = {"schemas": {"Error": ERROR, "V2Error": V2_ERROR}}
        state = started_state(app)
        if state is not None:
            secured = state.config.token is not None
            if secured:
                document["components"]["securitySchemes"] = {"bearer": {
                    "type": "http", "scheme": "bearer", "description": "The server's token (--token)."}}
            for name, deployment in state.fleet.deployments.items():
                _add_deployment(paths, generic, name, deployment, secured)
        return document

    app.openapi = build


def _add_deployment(paths: dict[str, Any], generic: dict[str, Any], name: str, deployment: LiveDeployment,
                    secured: bool) -> None:
    runner = deployment.variants[0].serving.runner
    signature, sticky, onnx = runner.signature, deployment.spec.sticky_key, runner.runtime == "onnx"
    own_id: list[dict[str, Any]] | None = [{}, {"bearer": []}] if secured else None  # optional: for an own id only
    paths[f"/predict/{name}"] = {"post": _operation(
        generic["/predict/{deployment}"], f"predict_{name}", f"Predict with deployment {name} ({runner.uri})",
        request_schema(signature, sticky, onnx=onnx), PREDICTION, (*_WRITE, 409, 503), security=own_id)}
    paths[f"/feedback/{name}"] = {"post": _operation(
        generic["/feedback/{deployment}"], f"feedback_{name}", f"Ground truth for logged predictions of {name}",
        FEEDBACK, FEEDBACK_ANSWER, (*_WRITE, 404), security=[{"bearer": []}] if secured else None)}
    infer = v2_request_schema(signature, onnx=onnx)
    paths[f"/v2/models/{name}/infer"] = {"post": _operation(
        generic["/v2/models/{name}/infer"], f"v2_infer_{name}", f"Open Inference Protocol inference on {name}",
        infer, V2_ANSWER, (*_WRITE, 409, 503), v2=True, security=own_id)}
    versions = sorted({str(slot.serving.runner.version) for slot in deployment.variants
                       if slot.serving.runner.version is not None})
    version = {"name": "version", "in": "path", "required": True, "description": f"Served versions: {versions}",
               "schema": {"type": "string"}}
    paths[f"/v2/models/{name}/versions/{{version}}/infer"] = {"post": _operation(
        generic["/v2/models/{name}/versions/{version}/infer"], f"v2_infer_version_{name}",
        f"Open Inference Protocol inference on the variant of {name} serving a version", infer, V2_ANSWER,
        (*_WRITE, 404, 409, 503), v2=True, security=own_id, parameters=[version])}


def _operation(generic: dict[str, Any], operation_id: str, summary: str, body: dict[str, Any],
               answer: dict[str, Any], statuses: tuple[int, ...], *, v2: bool = False,
               security: list[dict[str, Any]] | None = None,
               parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    operation = {key: value for key, value in generic.get("post", {}).items() if key == "tags"}
    operation.update(operationId=operation_id, summary=summary,
                     requestBody={"required": True, "content": {"application/json": {"schema": body}}},
                     responses={"200": {"description": "Answered.", "content": {"application/json": {
                         "schema": answer}}}, **_errors(statuses, v2=v2)})
    if parameters:
        operation["parameters"] = parameters
    if security is not None:
        operation["security"] = security
    return operation


def _errors(statuses: tuple[int, ...], *, v2: bool) -> dict[str, Any]:
    reference = {"$ref": "#/components/schemas/V2Error" if v2 else "#/components/schemas/Error"}
    return {str(status): {"description": _WHY[status], "content": {"application/json": {"schema": reference}}}
            for status in sorted(set(statuses))}


def _success(path: str) -> dict[str, Any]:
    if path == "/metrics":
        return {"200": {"description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}}
    return {"200": {"description": "Answered.", "content": {"application/json": {"schema": _ANSWERS[path]}}}}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


ERROR = _object({"error": _object({"type": {"type": "string"}, "message": {"type": "string"},
                                   "field": {"type": ["string", "null"]}}, ["type", "message", "field"])}, ["error"])
V2_ERROR = _object({"error": {"type": "string"}}, ["error"])
_MODEL = _object({"name": {"type": ["string", "null"]}, "version": {"type": ["integer", "null"]},
                  "uri": {"type": "string"}}, ["name", "version", "uri"])
PREDICTION = _object({
    "request_id": {"type": "string"}, "deployment": {"type": "string"}, "variant": {"type": "string"},
    "model": _MODEL, "predictions": {"type": "array"}, "classes": {"type": "array"},
    "probabilities": {"type": "array", "items": {"type": "array", "items": {"type": ["number", "null"]}}},
    "ignored_columns": {"type": "array", "items": {"type": "string"}}},
    ["request_id", "deployment", "variant", "model", "predictions"])
_REQUEST_ID = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}],
               "description": "The request_id of a prediction (its answer's request_id)."}
_FEEDBACK_ITEM = _object({
    "request_id": _REQUEST_ID,
    "label": {"type": ["number", "string", "boolean"], "description": "The true class, value or outcome."},
    "row": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0,
            "description": "The record's index in its request."}}, ["request_id", "label"])
FEEDBACK = {"anyOf": [_FEEDBACK_ITEM, {"type": "array", "minItems": 1, "items": _FEEDBACK_ITEM}]}
FEEDBACK_ANSWER = _object({
    "accepted": {"type": "integer", "minimum": 1, "description": "Labels stored."},
    "unknown": {"type": "array", "items": {"type": "string"}, "description": "Request ids no prediction has."},
    "unknown_rows": {"type": "array", "description": "Rows beyond the rows their request had.", "items": _object(
        {"request_id": {"type": "string"}, "row": {"type": "integer"}}, ["request_id", "row"])},
    "rewards_counted": {"type": "integer", "minimum": 0, "description": "With routing: thompson only: labels the "
                        "variants' posteriors took now (a label posted again counts 0)."}},
    ["accepted", "unknown", "unknown_rows"])
_TENSOR_OUT = _object({"name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}},
                       "datatype": {"type": "string"}, "data": {"type": "array"}, "parameters": {"type": "object"}},
                      ["name", "shape", "datatype", "data"])
V2_ANSWER = _object({"model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
                     "parameters": {"type": "object"}, "outputs": {"type": "array", "items": _TENSOR_OUT}},
                    ["model_name", "model_version", "id", "outputs"])
_TENSOR_META = _object({"name": {"type": "string"}, "datatype": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}}}, ["name", "datatype", "shape"])
_ANSWERS: dict[str, dict[str, Any]] = {
    "/health/live": _object({"live": {"type": "boolean"}}, ["live"]),
    "/health/ready": _object({"ready": {"type": "boolean"}, "deployments": {"type": "object"},
                              "prediction_log_error": {"type": "string"}}, ["ready"]),
    "/deployments": {"type": "object", "additionalProperties": _object({
        "variants": {"type": "array"}, "shadows": {"type": "array"}, "sticky_key": {"type": ["string", "null"]},
        "batching": {"type": "object"}}, ["variants", "shadows", "sticky_key", "batching"])},
    "/v2": _object({"name": {"type": "string"}, "version": {"type": "string"},
                    "extensions": {"type": "array", "items": {"type": "string"}}}, ["name", "version", "extensions"]),
    "/v2/health/live": _object({"live": {"type": "boolean"}}, ["live"]),
    "/v2/health/ready": _object({"ready": {"type": "boolean"}}, ["ready"]),
    "/v2/models/{name}": _object({
        "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"}, "inputs": {"type": "array", "items": _TENSOR_META},
        "outputs": {"type": "array", "items": _TENSOR_META}}, ["name", "versions", "platform", "inputs", "outputs"]),
    "/v2/models/{name}/ready": _object({"name": {"type": "string"}, "ready": {"type": "boolean"}}, ["name", "ready"]),
}
_ID = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "integer"}, {"type": "null"}]}


def request_schema(signature: Signature, sticky_key: str | None = None, *, onnx: bool = False) -> dict[str, Any]:
    """The ``/predict`` body for ``signature``: records, columns and data, or MLflow's two forms.

    The server reads the first of ``records``, ``dataframe_records``, ``dataframe_split``, ``columns`` that
    the body has, so each form says which keys must then be absent.
    """
    values = {spec.name: _column_schema(spec, onnx=onnx) for spec in signature.inputs}
    record: dict[str, Any] = {"type": "object", "required": signature.column_names, "properties": dict(values),
                              "additionalProperties": {"description": "Not an input of the model: dropped, and "
                                                                      "listed in the answer's ignored_columns"}}
    if sticky_key:
        record["properties"][sticky_key] = {"description": "Sticky routing key (not a model input)"}
    rows: dict[str, Any] = {"type": "array", "minItems": 1, "items": {
        "type": "array", "prefixItems": [values[name] for name in signature.column_names], "items": False,
        "minItems": len(signature.column_names)}}
    columns = {"const": signature.column_names, "description": "The model's columns, in this order."}
    split = {"type": "object", "required": ["columns", "data"], "properties": {"columns": columns, "data": rows}}
    records = {"type": "array", "minItems": 1, "items": record}
    envelope = {"request_id": {**_ID, "description": "Your own id (needs the server's token when it has one); "
                                                     "used once per deployment"},
                "sticky_key": {**_ID, "description": "Routing key: the same key always reaches the same variant"}}
    order = ["records", "dataframe_records", "dataframe_split", "columns"]

    def form(key: str, properties: dict[str, Any]) -> dict[str, Any]:
        shape: dict[str, Any] = {"type": "object", "required": list(properties),
                                 "properties": {**envelope, **properties}}
        earlier = order[:order.index(key)]
        if earlier:
            shape["not"] = {"anyOf": [{"required": [name]} for name in earlier]}
        return shape

    return {"anyOf": [form("records", {"records": records}), form("dataframe_records", {"dataframe_records": records}),
                      form("dataframe_split", {"dataframe_split": split}),
                      form("columns", {"columns": columns, "data": rows})]}


def v2_request_schema(signature: Signature, *, onnx: bool = False) -> dict[str, Any]:
    """A V2 ``infer`` body for ``signature``: one input per column, in the one-row form (see the module doc)."""
    tensors = [_tensor_schema(spec, onnx=onnx) for spec in signature.inputs]
    parameters = {"description": "Optional; an object's sticky_key routes like /predict's", "anyOf": [
        {"type": "object", "properties": {"sticky_key": _ID}}, {"not": {"type": "object"}}]}
    return {"type": "object", "required": ["inputs"], "properties": {
        "id": {**_ID, "description": "Your own request id (needs the server's token when it has one)"},
        "parameters": parameters,
        "inputs": {"type": "array", "prefixItems": tensors, "items": False, "minItems": len(tensors),
                   "description": "One input per model column, shape [N] (or [N, 1]) with N values, the same N for "
                                  "every input; shown here with N = 1."},
        "outputs": {"description": "Ignored: every output is returned."}}}


def _tensor_schema(spec: ColumnSpec, *, onnx: bool) -> dict[str, Any]:
    value = _column_schema(spec, onnx=onnx)
    families: list[tuple[list[str], dict[str, Any]]]
    if spec.kind == "integer":
        families = [(V2_INTEGER_TYPES + V2_FLOAT_TYPES, value)]
    elif spec.kind == "float":
        families = [(V2_FLOAT_TYPES, value), (V2_INTEGER_TYPES, _with_null(_exact_integer()))]
    elif spec.kind == "boolean":
        families = [(["BOOL"], value)]
    else:
        families = [(["BYTES"], value)]
    return {"anyOf": [{"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
        "name": {"const": spec.name}, "datatype": {"enum": datatypes},
        "shape": {"enum": [[1], [1, 1]]},
        "data": {"type": "array", "minItems": 1, "maxItems": 1,
                 "items": {"anyOf": [held, {"type": "array", "minItems": 1, "maxItems": 1, "items": held}]}}}}
        for datatypes, held in families]}


def _column_schema(spec: ColumnSpec, *, onnx: bool = False) -> dict[str, Any]:
    """A column's values by the coercion rule (shipyard.models.coercion); null is a missing value anywhere."""
    if spec.kind == "integer":  # JSON Schema's integer is any number without a fraction (3.0 too): the rule exactly
        schema: dict[str, Any] = {"type": "integer", "minimum": INT64[0], "maximum": INT64[1]}
    elif spec.kind == "float":
        limit = FLOAT32_MAX if onnx else None
        fraction: dict[str, Any] = {"type": "number", "not": {"type": "integer"}}
        whole = _exact_integer()
        if limit is not None:
            fraction.update(minimum=-limit, maximum=limit)
        schema = {"anyOf": [fraction, whole]}
    elif spec.kind == "boolean":
        schema = {"type": "boolean"}
    elif spec.kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    else:
        schema = {"type": "string"}
    schema = _with_null(schema)
    if spec.levels:
        schema["description"] = "Seen in training: " + ", ".join(spec.levels[:30])
    if spec.minimum is not None and spec.maximum is not None:
        schema["description"] = f"Training range {spec.minimum:g} to {spec.maximum:g}"
    return schema


def _exact_integer() -> dict[str, Any]:
    return {"type": "integer", "minimum": -EXACT_IN_FLOAT, "maximum": EXACT_IN_FLOAT}


def _with_null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}
