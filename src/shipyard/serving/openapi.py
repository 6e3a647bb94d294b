"""The OpenAPI document, with each deployment's request schema taken from its model's signature.

FastAPI cannot know the columns of a model loaded at start-up, so the document is built on first request
(after the lifespan loaded the models) and ``/predict/{deployment}`` gets one entry per deployment whose
``records`` items list the signature's columns, types and categorical levels.
"""

from __future__ import annotations

from typing import Any

from ..models.signature import ColumnSpec, Signature

# JSON Schema's "integer" is any number without a fractional part (3.0 included): the coercion rule exactly.
_JSON_TYPES = {"integer": "integer", "float": "number", "boolean": "boolean", "string": "string",
               "datetime": "string"}


def install(app: Any) -> None:
    from fastapi.openapi.utils import get_openapi

    def build() -> dict[str, Any]:
        document: dict[str, Any] = get_openapi(title=app.title, version="1", routes=app.routes,
                                               description="Predictions, feedback and health of a Shipyard server.")
        state = getattr(app.state, "serving", None)
        if state is None:
            return document
        paths = document.setdefault("paths", {})
        generic = paths.pop("/predict/{deployment}", None)
        for name, deployment in state.fleet.deployments.items():
            runner = deployment.variants[0].serving.runner
            operation = dict((generic or {}).get("post", {}))
            operation.pop("parameters", None)
            operation["operationId"] = f"predict_{name}"
            operation["summary"] = f"Predict with deployment {name} ({runner.uri})"
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": request_schema(runner.signature, deployment.spec.sticky_key)}}}
            paths[f"/predict/{name}"] = {"post": operation}
        return document

    app.openapi = build


def request_schema(signature: Signature, sticky_key: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"type": "object", "additionalProperties": {
                  "description": "Not an input of the model: dropped, and listed in the answer's ignored_columns"},
              "required": signature.column_names,
              "properties": {spec.name: _column_schema(spec) for spec in signature.inputs}}
    if sticky_key:
        record["properties"][sticky_key] = {"type": "string", "description": "Sticky routing key (not a model input)"}
    return {"type": "object", "properties": {
        "records": {"type": "array", "minItems": 1, "items": record},
        "columns": {"type": "array", "items": {"type": "string"}},
        "data": {"type": "array", "items": {"type": "array"}},
        "request_id": {"type": "string", "maxLength": 200},
        "sticky_key": {"type": "string", "maxLength": 200}}}


def _column_schema(spec: ColumnSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [_JSON_TYPES.get(spec.kind, "string"), "null"]}
    if spec.levels:
        schema["description"] = "Seen in training: " + ", ".join(spec.levels[:30])
    if spec.minimum is not None and spec.maximum is not None:
        schema["description"] = f"Training range {spec.minimum:g} to {spec.maximum:g}"
    return schema
