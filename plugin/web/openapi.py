"""OpenAPI 3.1 from the code: each handler declares its operations beside it (`@documented`),
and `document()` builds the description from the app's routes, so the reference cannot drift
from what is served: an undeclared method or path parameter of an API route is an error here,
and tests/test_api_schema.py runs Schemathesis against the live app with the result.

Schemas are JSON Schema 2020-12 (what OpenAPI 3.1 uses). The helpers make every field carry
a description and an example; objects of answers are closed (`additionalProperties: false`),
so an answer with a field the reference does not list fails the schema tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.routing import BaseRoute, Route

from plugin.web.problems import PROBLEM_MEDIA_TYPE, TITLES

Schema = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

# ---- schemas ------------------------------------------------------------------------------------


def _leaf(kind: str | list[str], description: str, example: Any, more: Mapping[str, Any]) -> Schema:
    return {"type": kind, "description": description, "examples": [example], **more}


def string(description: str, example: str | None, **more: Any) -> Schema:
    return _leaf("string", description, example, more)


def integer(description: str, example: int | None, **more: Any) -> Schema:
    return _leaf("integer", description, example, more)


def number(description: str, example: float | None, **more: Any) -> Schema:
    return _leaf("number", description, example, more)


def boolean(description: str, example: bool | None) -> Schema:
    return _leaf("boolean", description, example, {})


def nullable(schema: Schema) -> Schema:
    """`schema` or null (its examples may then be null)."""
    if "$ref" in schema or "type" not in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    kinds = [*kind] if isinstance(kind, list) else [kind]
    return {**schema, "type": [*kinds, "null"]}


def array(items: Schema, description: str, **more: Any) -> Schema:
    return {"type": "array", "description": description, "items": items, **more}


def obj(description: str, properties: Mapping[str, Schema], optional: Iterable[str] = (),
        closed: bool = True) -> Schema:
    """An object whose properties are all required but `optional`; closed: no other field."""
    left_out = set(optional)
    unknown = left_out - set(properties)
    if unknown:
        raise ValueError(f"optional fields {sorted(unknown)} are not properties")
    schema: Schema = {"type": "object", "description": description,
                      "properties": dict(properties),
                      "required": [name for name in properties if name not in left_out]}
    if closed:
        schema["additionalProperties"] = False
    return schema


def mapping(values: Schema, description: str, example: Mapping[str, Any]) -> Schema:
    """An object used as a map (for example by currency code): any keys, values of one kind."""
    return {"type": "object", "description": description, "additionalProperties": values,
            "examples": [dict(example)]}


COMPONENTS: dict[str, Schema] = {}


def named(name: str, schema: Schema) -> Schema:
    """A reusable schema under #/components/schemas/NAME; a reference to it."""
    if COMPONENTS.setdefault(name, schema) is not schema:
        raise ValueError(f"two schemas are named {name!r}")
    return {"$ref": f"#/components/schemas/{name}"}


PROBLEM = named("Problem", obj(
    "An error: RFC 9457 problem details (media type application/problem+json).",
    {
        "type": string("What kind of error: a stable URI per kind, /api/docs/problems#KIND, "
                       "whose page explains each (branch on it, not on detail).",
                       "/api/docs/problems#invalid-request"),
        "title": string("The status' name.", "Bad Request"),
        "status": integer("The HTTP status code.", 400),
        "detail": string("What went wrong and what to do about it, for a person.",
                         "limit must be an integer from 1 to 100, got '500'"),
    },
    closed=False,  # some errors add fields of their own (for example `errors`)
))

# Every answer to a call whose API key is known carries its rate limit (plugin.web.auth; the
# IETF draft-ietf-httpapi-ratelimit-headers), a 429 also Retry-After.
RATE_LIMIT_HEADERS: dict[str, Schema] = {
    "RateLimit-Policy": string(
        "The API key's quota policy (IETF draft-ietf-httpapi-ratelimit-headers; a Structured "
        "Field List of one String item): q calls (quota units: requests) per fixed window of "
        "w seconds (set per shop).",
        '"default";q=600;w=60', pattern=r'^"default";q=[0-9]+;w=[1-9][0-9]*$'),
    "RateLimit": string(
        "The service limit of that policy now (the same draft): a calls available (the "
        "available quota) within the w seconds until the window ends (the effective window).",
        '"default";a=599;w=42', pattern=r'^"default";a=[0-9]+;w=[0-9]+$'),
}
RETRY_AFTER: dict[str, Schema] = {"Retry-After": string(
    "Seconds until the key's window ends and calls are answered again.", "42",
    pattern="^[0-9]+$")}

# ---- operations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    schema: Schema
    where: str = "query"  # or "path"
    required: bool = False

    def as_json(self) -> Schema:
        schema = {k: v for k, v in self.schema.items() if k != "description"}
        return {"name": self.name, "in": self.where, "required": self.where == "path"
                or self.required, "description": self.schema.get("description", ""),
                "schema": schema}


def path_param(name: str, description: str, example: str) -> Param:
    return Param(name, string(description, example, minLength=1, maxLength=128), "path")


@dataclass(frozen=True)
class Answer:
    description: str
    schema: Schema | None = None  # None: no body
    media_type: str = "application/json"
    also: Mapping[str, Schema] = field(default_factory=dict)  # other media types it may be
    headers: Mapping[str, Schema] = field(default_factory=dict)  # optional response headers


@dataclass(frozen=True)
class Operation:
    """One method of one route, as the reference shows it."""

    method: str
    operation_id: str
    summary: str
    tag: str
    answers: Mapping[int, Answer]
    scope: str | None = None  # the key scope it needs; None: no API key
    description: str = ""
    params: tuple[Param, ...] = ()
    body: Schema | None = None
    errors: tuple[int, ...] = (400, 401, 403, 404)  # problem answers; 503 is added to all,
    # 429 and the rate limit's headers to those with a scope
    links: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


_OPERATIONS: dict[Callable[..., Any], tuple[Operation, ...]] = {}


def documented(*operations: Operation) -> Callable[[F], F]:
    """Declare the operations a route endpoint serves (outermost decorator, above the key
    check, so the endpoint the route holds is the one declared)."""

    def declare(endpoint: F) -> F:
        _OPERATIONS[endpoint] = operations
        return endpoint

    return declare


def operations_of(endpoint: Callable[..., Any]) -> tuple[Operation, ...]:
    return _OPERATIONS.get(endpoint, ())


SHOP_ID = path_param("shop_id", "The shop's id, as `shopreco shops add` registered it.",
                     "my-shop")
_PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
SECURITY_SCHEME = "apiKey"


def document(routes: Iterable[BaseRoute], title: str, version: str, description: str,
             server_url: str | None = None, prefix: str = "/api/") -> Schema:
    """The OpenAPI 3.1 document of every declared route (and of every route under `prefix`,
    which must be declared: ValueError names what is not)."""
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        operations = operations_of(route.endpoint)
        methods = set(route.methods or ()) - {"HEAD", "OPTIONS"}
        if not operations:
            if route.path.startswith(prefix):
                raise ValueError(f"{route.path} has no @documented operations")
            continue
        declared = {op.method for op in operations}
        if declared != methods:
            raise ValueError(f"{route.path} serves {sorted(methods)} but declares "
                             f"{sorted(declared)}")
        for op in operations:
            paths.setdefault(route.path, {})[op.method.lower()] = _operation(route.path, op)
            tags[op.tag] = None
    doc: Schema = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(COMPONENTS.items())),
            "securitySchemes": {SECURITY_SCHEME: {
                "type": "http", "scheme": "bearer",
                "description": "The shop's API key: `Authorization: Bearer <api_key>`."}},
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url.rstrip("/")}]
    return doc


def _operation(path: str, op: Operation) -> Schema:
    params = list(op.params)
    declared = {p.name for p in params if p.where == "path"}
    for name in _PATH_PARAM.findall(path):
        if name == "shop_id" and name not in declared:
            params.insert(0, SHOP_ID)
        elif name not in declared:
            raise ValueError(f"{op.method} {path}: path parameter {name!r} is not declared")
    answers: dict[str, Schema] = {}
    for status, answer in sorted(op.answers.items()):
        answers[str(status)] = _answer(answer, op.links.get(status))
    body_errors = (408, 413) if op.body is not None else ()  # a slow or an oversized body
    limited = (429,) if op.scope else ()  # over the key's rate limit
    for status in (*op.errors, *body_errors, *limited, 503):
        answers.setdefault(str(status), _answer(Answer(
            TITLES.get(status, "Error"), PROBLEM, PROBLEM_MEDIA_TYPE,
            headers=RETRY_AFTER if status == 429 else {}), None))
    if limited:
        for answered in answers.values():
            answered["headers"] = {**_headers(RATE_LIMIT_HEADERS), **answered.get("headers", {})}
    spec: Schema = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        spec["description"] = op.description
    if params:
        spec["parameters"] = [p.as_json() for p in params]
    if op.body is not None:
        spec["requestBody"] = {"required": True,
                               "content": {"application/json": {"schema": op.body}}}
    spec["responses"] = answers
    spec["security"] = [{SECURITY_SCHEME: [op.scope]}] if op.scope else []
    return spec


def _answer(answer: Answer, links: Mapping[str, Any] | None) -> Schema:
    spec: Schema = {"description": answer.description}
    if answer.schema is not None:
        spec["content"] = {answer.media_type: {"schema": answer.schema}}
        spec["content"].update({kind: {"schema": schema} for kind, schema in answer.also.items()})
    if answer.headers:
        spec["headers"] = _headers(answer.headers)
    if links:
        spec["links"] = dict(links)
    return spec


def _headers(headers: Mapping[str, Schema]) -> Schema:
    return {name: {"description": schema.get("description", ""), "schema": {
        k: v for k, v in schema.items() if k != "description"}}
        for name, schema in headers.items()}
