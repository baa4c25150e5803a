"""Bad input -> a 4xx with a JSON body saying what to fix (OpenAI's error shape, which every
client library already parses). Anything else is a 5xx and is logged."""

from __future__ import annotations

from dataclasses import dataclass

from ichigo.assistant import TooLarge
from ichigo.errors import InputError


@dataclass
class ApiError(Exception):
    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.status}}


class ClientError(InputError):
    """A bad-input error that survives pickling across a Ray handle (plain args, no custom
    fields); deployments convert InputError subclasses with extra state into it."""

    def __init__(self, message: str, status: int = 400, type: str = "invalid_request_error"):
        super().__init__(message, status, type)
        self.message, self.status, self.type = message, status, type

    def __str__(self) -> str:
        return self.message


def portable(e: InputError) -> ClientError:
    err = from_exception(e)
    assert err is not None
    return ClientError(err.message, err.status, err.type)


def from_exception(e: BaseException) -> ApiError | None:
    """The ApiError for a known bad-input exception (also when it crossed a Ray handle: Ray
    re-raises a remote exception as a subclass of its original class)."""
    if isinstance(e, ApiError):
        return e
    if isinstance(e, ClientError):
        return ApiError(e.status, e.message, e.type)
    if isinstance(e, TooLarge):
        return ApiError(413, _msg(e), "payload_too_large")
    if isinstance(e, InputError):
        reason = getattr(e, "reason", None)
        return ApiError(400, _msg(e), f"invalid_audio_{reason}" if reason else "invalid_request_error")
    return None


def _msg(e: BaseException) -> str:
    # Ray's subclass prefixes a traceback; the user needs the original message only
    cause = getattr(e, "cause", None)
    return str(cause if isinstance(cause, BaseException) else e).strip().splitlines()[-1]
