"""Every API operation registers here, so the OpenAPI document is built from the code itself."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint
from pydantic import BaseModel

API_TITLE = "PitchTank API"
API_VERSION = "1.0.0"
PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class Response:
    description: str
    model: type[BaseModel] | None = None
    content_type: str = "application/json"
    schema: dict[str, Any] | None = None  # for bodies that are not JSON models


@dataclass
class Operation:
    method: str
    rule: str  # Flask rule, relative to the blueprint prefix
    summary: str
    who: str
    body: type[BaseModel] | None
    body_content_type: str | None
    responses: dict[int, Response]
    public: bool
    idempotent_key: bool = False
    query: type[BaseModel] | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def openapi_path(self) -> str:
        return PATH_PARAM.sub(lambda m: "{" + m.group(2) + "}", self.rule)

    @property
    def path_params(self) -> list[tuple[str, str]]:
        return [(m.group(2), m.group(1) or "string") for m in PATH_PARAM.finditer(self.rule)]


OPERATIONS: list[Operation] = []


def operation(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    who: str,
    responses: dict[int, Response],
    body: type[BaseModel] | None = None,
    body_content_type: str | None = None,
    public: bool = False,
    idempotent_key: bool = False,
    query: type[BaseModel] | None = None,
    tag: str = "",
) -> Callable:
    """Route a view on ``bp`` and describe it in the OpenAPI document."""

    def decorator(view: Callable) -> Callable:
        OPERATIONS.append(
            Operation(
                method=method.lower(),
                rule=rule,
                summary=summary,
                who=who,
                body=body,
                body_content_type=body_content_type or ("application/json" if body else None),
                responses=responses,
                public=public,
                idempotent_key=idempotent_key,
                query=query,
                tags=[tag] if tag else [],
            )
        )
        return bp.route(rule, methods=[method])(view)

    return decorator


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_document(base_path: str, problem_model: type[BaseModel]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    problem_ref = _schema_ref(problem_model, components)
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "description": f"Who: {op.who}.",
            "operationId": f"{op.method}_{re.sub(r'[^a-zA-Z0-9]+', '_', op.openapi_path).strip('_')}",
            "tags": op.tags,
            "responses": {},
        }
        parameters: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer"} if kind == "int" else {"type": "string"},
            }
            for name, kind in op.path_params
        ]
        if op.query is not None:
            query_schema = op.query.model_json_schema()
            for name, prop in query_schema.get("properties", {}).items():
                parameters.append({
                    "name": name,
                    "in": "query",
                    "required": name in query_schema.get("required", []),
                    "schema": prop,
                })
        if op.idempotent_key:
            parameters.append({
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            })
        if parameters:
            entry["parameters"] = parameters
        if op.body_content_type:
            schema = (
                _schema_ref(op.body, components)
                if op.body is not None
                else {"type": "string", "contentMediaType": op.body_content_type}
            )
            entry["requestBody"] = {"required": True, "content": {op.body_content_type: {"schema": schema}}}
        if op.public:
            entry["security"] = [{}, {"bearerAuth": []}, {"cookieAuth": []}]
        for status, response in op.responses.items():
            described: dict[str, Any] = {"description": response.description}
            if response.model is not None:
                described["content"] = {
                    response.content_type: {"schema": _schema_ref(response.model, components)}
                }
            elif response.schema is not None:
                described["content"] = {response.content_type: {"schema": response.schema}}
            elif status >= 400:
                described["content"] = {"application/problem+json": {"schema": problem_ref}}
            entry["responses"][str(status)] = described
        paths.setdefault(op.openapi_path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": API_TITLE,
            "version": API_VERSION,
            "description": "Pitch events, live judging and the cluster capital fund. "
            "Money is integer centavos in *_cents fields with a currency; times are RFC 3339.",
        },
        "servers": [{"url": base_path}],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
