"""The app's OpenAPI schema, made to say what the app does.

FastAPI documents a 422 `HTTPValidationError` on every operation with parameters; Willay answers
a malformed request with a 400 in its one error shape, and the request guard may answer 403
(callbacks), 408 and 413 before a route runs. A form field cannot be null (it is sent or left
out), so optional form fields lose the `null` FastAPI offers. `install_openapi` serves the schema
rewritten accordingly; schemathesis checks it against the running app (tests/api).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["ERROR_SCHEMA", "install_openapi"]

ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorPublic",
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "the kind of error, e.g. BadRequest"},
        "detail": {"type": "string", "description": "what is wrong, in words"},
    },
    "required": ["error", "detail"],
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorPublic"}
_BODY_ERRORS = {
    "400": "Malformed request: `detail` names each field and what is wrong with it",
    "408": "The request body did not arrive in time",
    "413": "The request body is over this route's cap",
}
_CALLBACK_ERRORS = {"403": "Missing or wrong `token`, or a caller outside the allowed networks"}


_FORM = "application/x-www-form-urlencoded"


def _without_null(form: dict[str, Any]) -> None:
    """Optional form fields: the one schema they have, without `null`."""
    for name, field in form.get("properties", {}).items():
        kinds = [k for k in field.get("anyOf", []) if k != {"type": "null"}]
        if len(kinds) == 1 and len(field["anyOf"]) == 2:
            rest = {k: v for k, v in field.items() if k != "anyOf" and v is not None}
            form["properties"][name] = kinds[0] | rest


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def install_openapi(app: FastAPI, *, callbacks: Collection[str]) -> None:
    """Serve a schema whose error answers are the ones the app gives (`callbacks`: their paths)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            app.openapi_schema = _truthful(schema, callbacks)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _truthful(schema: dict[str, Any], callbacks: Collection[str]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["ErrorPublic"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            form = operation.get("requestBody", {}).get("content", {}).get(_FORM, {})
            if ref := form.get("schema", {}).get("$ref"):
                _without_null(components[ref.rsplit("/", 1)[1]])
            responses = operation.setdefault("responses", {})
            takes_input = responses.pop("422", None) is not None
            extra = dict(_BODY_ERRORS) if takes_input else {}
            if path in callbacks:
                extra |= _CALLBACK_ERRORS
            for status, description in extra.items():
                responses.setdefault(status, _error_response(description))
    return schema
