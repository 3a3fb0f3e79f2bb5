"""The OpenAPI mechanism: operations declared beside handlers become the document; a route of
the API without a declaration, an undeclared method or path parameter is refused."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.web.openapi import (
    Answer,
    Operation,
    Param,
    array,
    document,
    documented,
    integer,
    mapping,
    nullable,
    obj,
    path_param,
    string,
)

THING = obj("A thing.", {"id": string("Its id.", "7"), "size": nullable(integer("Size.", 3))},
            optional=("size",))


@documented(
    Operation("GET", "getThing", "Read a thing", "Things", {200: Answer("The thing.", THING)},
              "things:read", params=(path_param("thing_id", "Which.", "7"),
                                     Param("limit", integer("How many.", 10, minimum=1)))),
    Operation("PUT", "putThing", "Replace a thing", "Things", {200: Answer("Stored.", THING)},
              "things:write", params=(path_param("thing_id", "Which.", "7"),), body=THING,
              errors=(400,)),
)
async def thing(request: Request) -> Response:
    return JSONResponse({})


@documented(Operation("GET", "getOpen", "Read without a key", "Things",
                      {200: Answer("Anything.", THING)}, errors=()))
async def open_thing(request: Request) -> Response:
    return JSONResponse({})


async def undeclared(request: Request) -> Response:
    return JSONResponse({})


def build(*routes: Route) -> dict:
    return document(routes, "T", "1", "about", "https://reco.example.com/", prefix="/api/")


def test_declared_operations_become_paths_with_parameters_answers_and_scopes() -> None:
    doc = build(Route("/api/v1/shops/{shop_id}/things/{thing_id}", thing,
                      methods=["GET", "PUT"]))
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": "https://reco.example.com"}]
    item = doc["paths"]["/api/v1/shops/{shop_id}/things/{thing_id}"]
    get, put = item["get"], item["put"]
    assert [p["name"] for p in get["parameters"]] == ["shop_id", "thing_id", "limit"]
    assert [p["required"] for p in get["parameters"]] == [True, True, False]
    assert get["parameters"][2]["schema"] == {"type": "integer", "examples": [10], "minimum": 1}
    assert get["security"] == [{"apiKey": ["things:read"]}]
    assert put["security"] == [{"apiKey": ["things:write"]}]
    # a scope: the key's rate limit (429); a body: 408, 413
    assert set(get["responses"]) == {"200", "400", "401", "403", "404", "429", "503"}
    assert set(put["responses"]) == {"200", "400", "408", "413", "429", "503"}
    problem = put["responses"]["413"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    assert put["requestBody"]["content"]["application/json"]["schema"] == THING
    Draft202012Validator.check_schema(doc["components"]["schemas"]["Problem"])


def test_operations_with_a_scope_declare_the_rate_limit_and_its_429() -> None:
    doc = build(Route("/api/v1/shops/{shop_id}/things/{thing_id}", thing,
                      methods=["GET", "PUT"]),
                Route("/api/v1/open", open_thing))
    get = doc["paths"]["/api/v1/shops/{shop_id}/things/{thing_id}"]["get"]
    for status, answer in get["responses"].items():
        assert set(answer["headers"]) >= {"RateLimit", "RateLimit-Policy"}, status
        for header in answer["headers"].values():
            Draft202012Validator.check_schema(header["schema"])
            assert Draft202012Validator(header["schema"]).is_valid(
                header["schema"]["examples"][0])
    limited = get["responses"]["429"]
    assert set(limited["headers"]) == {"RateLimit", "RateLimit-Policy", "Retry-After"}
    assert limited["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"}
    policy = Draft202012Validator(limited["headers"]["RateLimit-Policy"]["schema"])
    assert policy.is_valid('"default";q=5;w=60') and not policy.is_valid("q=5;w=60")
    assert not policy.is_valid('"default";q=5;w=0')  # a window is never zero seconds
    rate = Draft202012Validator(limited["headers"]["RateLimit"]["schema"])
    assert rate.is_valid('"default";a=0;w=42')  # available quota, effective window
    assert not rate.is_valid('"default";r=0;t=42')  # draft -11's names are gone
    unscoped = doc["paths"]["/api/v1/open"]["get"]["responses"]
    assert "429" not in unscoped and all("headers" not in a for a in unscoped.values())


def test_closed_objects_refuse_fields_they_do_not_list() -> None:
    validator = Draft202012Validator(THING)
    assert validator.is_valid({"id": "1", "size": None})
    assert validator.is_valid({"id": "1"})
    assert not validator.is_valid({"id": "1", "colour": "red"})
    assert not validator.is_valid({"size": 3})
    open_one = obj("Open.", {"id": string("Its id.", "7")}, closed=False)
    assert Draft202012Validator(open_one).is_valid({"id": "1", "colour": "red"})


def test_schema_helpers_carry_descriptions_and_examples() -> None:
    money = mapping(string("An amount.", "1.00"), "By currency.", {"EUR": "1.00"})
    assert Draft202012Validator(money).is_valid({"EUR": "1.00", "USD": "2.50"})
    assert not Draft202012Validator(money).is_valid({"EUR": 1})
    listed = array(string("An id.", "1"), "Ids.", maxItems=2)
    assert listed["description"] == "Ids." and listed["items"]["examples"] == ["1"]
    assert not Draft202012Validator(listed).is_valid(["1", "2", "3"])
    assert nullable(THING)["type"] == ["object", "null"]
    ref = {"$ref": "#/components/schemas/Problem"}
    assert nullable(ref) == {"anyOf": [ref, {"type": "null"}]}
    with pytest.raises(ValueError, match="not properties"):
        obj("Bad.", {"id": string("Its id.", "7")}, optional=("size",))


def test_an_undeclared_api_route_method_or_path_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="has no @documented operations"):
        build(Route("/api/v1/shops/{shop_id}/secret", undeclared))
    build(Route("/elsewhere", undeclared))  # outside the API: not part of the reference
    with pytest.raises(ValueError, match=r"serves .*DELETE.* but declares"):
        build(Route("/api/things/{thing_id}", thing, methods=["GET", "PUT", "DELETE"]))
    with pytest.raises(ValueError, match="path parameter 'other'"):
        build(Route("/api/things/{thing_id}/{other}", thing, methods=["GET", "PUT"]))
