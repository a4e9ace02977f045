"""The app's OpenAPI schema, made to say what the app does.

FastAPI documents a 422 `HTTPValidationError` on every operation with parameters; Willay answers
a malformed request with a 400 in its one error shape, and the request guard may answer 403
(callbacks), 408 and 413 before a route runs. A form field cannot be null (it is sent or left
out), so optional form fields lose the `null` FastAPI offers. `install_openapi` serves the schema
rewritten accordingly; schemathesis checks it against the running app (tests/api).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

__all__ = ["ERROR_SCHEMA", "error_response", "install_openapi"]

ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorPublic",
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "the kind of error, e.g. BadRequest"},
        "detail": {"type": "string", "description": "what is wrong, in words"},
    },
    "required": ["error", "detail"],
}
_REF_TEMPLATE = "#/components/schemas/{model}"
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


def error_response(description: str, *, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A documented error answer in the one error shape; `headers`: name to description."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ERROR_REF}},
    }
    if headers:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return response


def install_openapi(
    app: FastAPI,
    *,
    callbacks: Collection[str],
    enums: Mapping[tuple[str, str], Collection[str]] | None = None,
    components: Mapping[str, type[BaseModel]] | None = None,
) -> None:
    """Serve a schema whose error answers are the ones the app gives (`callbacks`: their paths).

    `enums` maps (component schema, string property) to the values the app accepts there, known
    only once the app is built (e.g. the catalog's topics), so the schema names exactly them.
    `components` are models a route reads by hand and refers to in its `openapi_extra`.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            known = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, model in (components or {}).items():
                known.setdefault(name, model.model_json_schema(ref_template=_REF_TEMPLATE))
            app.openapi_schema = _with_enums(_truthful(schema, callbacks), enums or {})
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
            # FastAPI's 422 marks parameters or a body it validates; a route reading its body
            # itself (e.g. the USSD hop's form) has a request body but no 422: both get the 400,
            # and the guard's 408 and 413 answer before any body is read
            takes_input = responses.pop("422", None) is not None or "requestBody" in operation
            extra = dict(_BODY_ERRORS) if takes_input else {}
            if path in callbacks:
                extra |= _CALLBACK_ERRORS
            for status, description in extra.items():
                responses.setdefault(status, error_response(description))
    return schema


def _with_enums(
    schema: dict[str, Any], enums: Mapping[tuple[str, str], Collection[str]]
) -> dict[str, Any]:
    """Each (component, property) of `enums` lists its accepted values (nullable stays so)."""
    components = schema.get("components", {}).get("schemas", {})
    for (component, name), values in enums.items():
        field = components[component]["properties"][name]
        kinds = field.get("anyOf", [field])
        for kind in kinds:
            if kind.get("type") == "string":
                kind["enum"] = sorted(values)
    return schema
