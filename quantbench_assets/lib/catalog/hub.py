"""Which commit a branch of a Hugging Face model repo points at now: what a sensor polls to notice a new
revision of a tracked repo. Pure functions, no Dagster.

The token is never handled here: huggingface-hub reads it itself (HF_TOKEN, else its login file) and sends
it. Errors are re-raised as HubError with anything token-shaped redacted and without the original
exception chained, so no token can reach a log through a traceback either.
"""
from __future__ import annotations

import os

from ..catalog.acquire import redact


class HubError(RuntimeError):
    pass


def hub_endpoint(endpoint: str | None = None) -> str | None:
    """The Hub to talk to: `endpoint` if given, else HF_ENDPOINT as the environment says *now*.

    huggingface-hub reads HF_ENDPOINT only once, when it is imported; passing it explicitly as
    `endpoint=` (the library's supported argument) makes a later change of the variable take effect.
    None means the library's own default (https://huggingface.co).
    """
    value = endpoint or os.environ.get("HF_ENDPOINT")
    return value.rstrip("/") if value else None


def current_revision(repo_id: str, branch: str = "main", endpoint: str | None = None, *,
                     timeout: float = 30.0) -> str:
    """The 40-hex commit sha that `branch` of model repo `repo_id` points at on the Hub now.

    Asks the Hub directly every time (HfApi.model_info at the branch), never a local cache: a sensor must
    not mistake a stale cached ref for the current one. (HfApi.resolve_revision would fall back to the
    cache when the Hub is unreachable.)
    """
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    where = hub_endpoint(endpoint)
    what = f"{repo_id}@{branch} on {where or 'the default hub'}"
    try:
        info = HfApi(endpoint=where).model_info(repo_id, revision=branch, timeout=timeout)
    except (HfHubHTTPError, httpx2.HTTPError, OSError, ValueError) as e:
        # OSError covers OfflineModeIsEnabled; ValueError covers an invalid repo id.
        raise HubError(redact(f"cannot read the current revision of {what}: {type(e).__name__}: {e}")) from None
    if not info.sha:
        raise HubError(f"the hub answered for {what} without a commit sha")
    return info.sha
