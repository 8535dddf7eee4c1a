"""The OpenAPI description as clients meet the API: the request bodies FastAPI cannot see
(uploads and metric reports are read as streams), and every error status an operation can
answer with, each with the one error body `{"error", "detail", ...}` of `dam.app`.

Which errors an operation documents follows from what it is (authenticated, has parameters,
path parameters or a body) plus what its route declares with `errors(...)`; schemathesis runs
over the result in the tests, so a status an operation answers but does not document fails.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from dam.bounds import MAX_METRIC_COUNT

ERROR_REF = "#/components/schemas/ErrorOut"

DESCRIPTIONS = {
    206: "Partial content (a `Range` request)",
    304: "Not modified: `If-None-Match` names the current ETag",
    307: "Redirect to a short-lived presigned URL (DAM_S3_PRESIGN_DOWNLOADS)",
    400: "Malformed request: unparseable body or form, or parameters that do not fit together",
    401: "No key or session, or one that is not valid",
    403: "The role may not do this, or a cookie-authenticated change lacks its CSRF token",
    404: "Not found, or not visible to the caller",
    409: "Conflicts with the current state (duplicate, wrong review state, concurrent change)",
    410: "Gone: a resumable upload past its expiry",
    412: "`If-Match` names an ETag that is no longer current (uploads: a missing or "
    "unsupported `Tus-Resumable`)",
    413: "Body larger than the endpoint takes (DAM_MAX_BODY_KIB, DAM_MAX_METRICS_MIB, "
    "DAM_MAX_UPLOAD_MIB)",
    415: "Unsupported content type",
    416: "Range not satisfiable",
    422: "Invalid parameters, body or content, naming what was wrong",
    423: "Locked: another request is writing to this upload",
    429: "Too many attempts",
    500: "Unexpected error; `request_id` finds it in the logs",
    503: "A dependency is unavailable",
}


class ErrorOut(BaseModel):
    """Every error body. `error` is a stable code; `detail` says what was wrong; some errors
    add fields (`violations`, `problems`, `existing_asset_id`, `limit_bytes`, ...)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(examples=["asset_not_found"])
    detail: Any = Field(description="What was wrong, in words (or a list of problems).")
    request_id: str | None = Field(
        default=None, description="The X-Request-ID of the request, for the logs."
    )


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error statuses beyond those every operation of its
    kind documents."""
    return {code: {"description": DESCRIPTIONS[code]} for code in codes}


def binary(*codes: int, media: str = "*/*") -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that answers with bytes (files, renditions)."""
    content = {media: {"schema": {"type": "string", "format": "binary"}}}
    out: dict[int | str, dict[str, Any]] = {200: {"description": "The bytes", "content": content}}
    for code in codes:
        out[code] = {"description": DESCRIPTIONS[code]}
        if code == 206:
            out[code]["content"] = content
    return out


_METADATA = (
    "Optional JSON object: title, description, tags, terms ({facet: [term, ...]}), "
    "campaign_ids, rights_expire_at (ISO 8601 with a timezone)."
)

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "metadata": {"type": "string", "description": _METADATA},
                    },
                    "additionalProperties": False,
                },
                "encoding": {"metadata": {"contentType": "application/json"}},
            }
        },
    }
}

_METRIC_ROW: dict[str, Any] = {
    "type": "object",
    "required": ["asset_id", "date"],
    "properties": {
        "asset_id": {"type": "string", "format": "uuid"},
        "date": {"type": "string", "format": "date"},
        "channel": {"type": "string"},
        "impressions": {"type": "integer", "minimum": 0, "maximum": MAX_METRIC_COUNT},
        "clicks": {"type": "integer", "minimum": 0, "maximum": MAX_METRIC_COUNT},
        "conversions": {"type": "number", "minimum": 0, "maximum": MAX_METRIC_COUNT},
        "spend": {"type": "string"},
        "revenue": {"type": "string"},
    },
}

METRICS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Daily rows as JSON, as a CSV body, or as a multipart CSV `file` "
        "(header: asset_id,date,channel,impressions,clicks,conversions,spend,revenue).",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": _METRIC_ROW},
                        {
                            "type": "object",
                            "required": ["rows"],
                            "properties": {"rows": {"type": "array", "items": _METRIC_ROW}},
                        },
                    ]
                }
            },
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "mapping": {
                            "type": "string",
                            "format": "binary",
                            "description": "A source mapping (the governance pack's "
                            "sources/*.yaml format) to read the platform export `file` with, "
                            "instead of `source=`.",
                        },
                    },
                }
            },
        },
    }
}


def _statuses(path: str, operation: dict[str, Any]) -> set[int]:
    codes = {500}
    params = operation.get("parameters", [])
    body = "requestBody" in operation
    if path.startswith("/api/") and not path.startswith("/api/v1/deliveries/"):
        codes |= {401, 403}
    if params or body:
        # 422 from validation of the declared types, 400 from checks across parameters.
        codes |= {400, 422}
    if any(p.get("in") == "path" for p in params):
        codes.add(404)
    if body:
        codes |= {400, 413}
    return codes


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    # FastAPI's own 422 body; this API answers validation errors with ErrorOut.
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    error_content = {"application/json": {"schema": {"$ref": ERROR_REF}}}
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if str(code).isdigit()}
            for code in sorted(_statuses(path, operation) | {c for c in declared if c >= 400}):
                entry = responses.setdefault(str(code), {})
                entry["description"] = DESCRIPTIONS.get(code, entry.get("description", ""))
                entry["content"] = error_content
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
