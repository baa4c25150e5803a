"""The package version travels with the sound codes: the speech tokenizer and the LLM of one
package must come from the same registry version (a codebook's code 17 means nothing to another
version's LLM). During a rollout replicas of both deployments swap at different moments, so each
request remembers which version encoded its audio, and the LLM refuses codes from another version
(the ingress then retries on another replica, and answers 503 rather than a wrong reply).

The per-request record is a dict in a ContextVar that AccessMiddleware sets before the route
runs; tasks the route spawns (parallel encodes) copy the context and share the same dict."""

from __future__ import annotations

from contextvars import ContextVar

_REQUEST: ContextVar[dict | None] = ContextVar("ichigo_request", default=None)


class CodesVersionMismatch(Exception):
    """The LLM replica runs another package version than the one that made the codes."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def new_request() -> None:
    _REQUEST.set({"codes_versions": set()})


def note_codes_version(version: str | None) -> None:
    state = _REQUEST.get()
    if state is not None and version is not None:
        state["codes_versions"].add(str(version))


def codes_versions() -> set[str]:
    state = _REQUEST.get()
    return set(state["codes_versions"]) if state is not None else set()


def check_codes_version(codes_version: str | list[str] | None, serving: str) -> None:
    """In the LLM replica: the codes must come from the version it runs."""
    wanted = {codes_version} if isinstance(codes_version, str) else set(codes_version or ())
    if wanted and wanted != {str(serving)}:
        raise CodesVersionMismatch(f"sound codes from package version(s) {sorted(wanted)} reached an "
                                   f"LLM replica running version {serving}")
