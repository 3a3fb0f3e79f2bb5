"""RFC 9457 problem details: every error answer is `application/problem+json`, its `type` a
stable URI per kind of error (a path on this server: PROBLEMS_PATH#kind, whose page explains
each kind; clients branch on `type`, people read `detail`)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
}

# 408: RFC 9110 15.5.9, the server closes the connection whose request it gave up waiting for.
HEADERS = {408: {"Connection": "close"}, 503: {"Retry-After": "5"}}


PROBLEMS_PATH = "/api/docs/problems"
# kind: (status, what it means and what to do): the page at PROBLEMS_PATH lists them
KINDS: dict[str, tuple[int, str]] = {
    "invalid-request": (400, "A parameter or body the call cannot use; `detail` names it and "
                             "says what to send. Nothing was stored."),
    "missing-key": (401, "No key was sent: send `Authorization: Bearer <api_key>`."),
    "invalid-key": (401, "The key is not a live key of this shop (revoked, rotated out, or "
                         "never issued); ask the shop's owner for one."),
    "invalid-signature": (401, "A webhook whose signature does not match the shop's webhook "
                               "secret; nothing was stored."),
    "forbidden": (403, "The call is not allowed to this caller."),
    "other-shop-key": (403, "The key belongs to another shop than the one in the path."),
    "missing-scope": (403, "The key lacks the scope the call needs (`detail` names it); use "
                           "a key with that scope."),
    "not-found": (404, "No such shop, customer or resource here."),
    "method-not-allowed": (405, "The path does not take this method."),
    "body-timeout": (408, "The request body did not arrive in time; send it at once."),
    "conflict": (409, "The request cannot be done in the current state (for example, training "
                      "a shop without orders)."),
    "gone": (410, "It existed but no longer does."),
    "body-too-large": (413, "The body is over the size limit; send less."),
    "unprocessable": (422, "The request is well formed but cannot be processed."),
    "rate-limited": (429, "Too many calls with this key; wait `Retry-After` seconds."),
    "headers-too-large": (431, "The request line and headers are too large."),
    "unavailable": (503, "Storage is unavailable; nothing was stored. Retry after "
                         "`Retry-After` seconds."),
}
DEFAULT_KIND = {status: kind for kind, (status, _) in reversed(KINDS.items())}


def problem_type(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of problem {kind!r}")
    return f"{PROBLEMS_PATH}#{kind}"


def problem(status: int, detail: str, kind: str | None = None, **extra: Any) -> JSONResponse:
    """An error response whose `detail` tells a person what to do about it; `type` is the
    kind's (default: the status' general kind)."""
    found = kind or DEFAULT_KIND.get(status)
    body = {"type": problem_type(found) if found else "about:blank",
            "title": TITLES.get(status, "Error"), "status": status}
    body["detail"] = detail
    body.update(extra)
    headers = HEADERS.get(status)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)
