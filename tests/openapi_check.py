"""Check a real answer against the API reference (GET /api/v1/openapi.json): the schema the
reference declares for that route, method and status, its $refs resolved in the document."""

from __future__ import annotations

import json
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_URI = "urn:shopreco:openapi"


def reference(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/api/v1/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()


def schema_errors(
    doc: dict[str, Any], method: str, path: str, response: httpx.Response
) -> list[str]:
    """What in `response` breaks the reference of `method path` (a route template such as
    /api/v1/shops/{shop_id}/pins): an undeclared status or media type, or the body's schema."""
    operation = doc["paths"][path][method.lower()]
    declared = operation["responses"].get(str(response.status_code))
    if declared is None:
        return [f"status {response.status_code} is not declared for {method} {path}"]
    content = declared.get("content")
    if content is None:
        return [] if not response.content else ["an answer without a declared body has one"]
    media_type = response.headers.get("content-type", "").split(";")[0]
    if media_type not in content:
        return [f"media type {media_type!r} is not declared ({sorted(content)})"]
    schema = content[media_type]["schema"]
    body = response.json() if "json" in media_type else response.text
    registry = Registry().with_resource(DOC_URI, Resource(doc, DRAFT202012))
    schema = json.loads(json.dumps(schema).replace('"#/components', f'"{DOC_URI}#/components'))
    validator = Draft202012Validator(schema, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(body)]


SCALARS = frozenset({"string", "integer", "number", "boolean", "null"})


def undocumented(doc: dict[str, Any], route: str) -> list[str]:
    """What in the reference of `route` (and the components it names) is not documented: a
    property without a description, a scalar without an example, an example its own schema
    refuses."""
    registry = Registry().with_resource(DOC_URI, Resource(doc, DRAFT202012))
    errors: list[str] = []
    seen: set[str] = set()

    def visit(node: Any, where: str) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                visit(item, f"{where}/{i}")
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            visit(doc["components"]["schemas"][ref.rpartition("/")[2]], ref)
        errors.extend(schema_problems(node, where, registry))
        for key, value in node.items():
            if key == "properties":  # a map of names to schemas, not a schema
                for name, field in value.items():
                    visit(field, f"{where}/properties/{name}")
            elif key != "examples":
                visit(value, f"{where}/{key}")

    visit(doc["paths"][route], route)
    return errors


def schema_problems(schema: dict[str, Any], where: str, registry: Registry) -> list[str]:
    """One schema's own: an undescribed property, a scalar without examples, a bad example."""
    problems = [f"{where}/properties/{name}: no description"
                for name, field in schema.get("properties", {}).items()
                if "description" not in field and "$ref" not in field]
    kind = schema.get("type", [])
    kinds = {kind} if isinstance(kind, str) else set(kind)
    if kinds and kinds <= SCALARS and not schema.get("examples"):
        problems.append(f"{where}: no example")
    if "examples" in schema:
        resolved = json.loads(json.dumps(schema).replace('"#/components',
                                                         f'"{DOC_URI}#/components'))
        validator = Draft202012Validator(resolved, registry=registry)
        problems += [f"{where}: example {example!r}: {error.message}"
                     for example in schema["examples"] for error in validator.iter_errors(example)]
    return problems
