"""RFC 9457 problem details: every error answer is `application/problem+json`."""

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


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    """An error response whose `detail` tells a person what to do about it."""
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    body["detail"] = detail
    body.update(extra)
    headers = HEADERS.get(status)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)
