"""The Python SDK of the gateway API (docs/api.md, "SDK and CLI").

- ``XgateClient``: the async client (``client.py``); ``SyncXgateClient``: the same, blocking
  (``sync.py``);
- ``ApiProblem`` (a problem answer), ``ApiUnavailable`` (no answer), ``ApiResponseInvalid``
  (``errors.py``);
- ``verify_webhook``: check a webhook post's signature (``gateway.api.webhook_signing``, the
  one definition the gateway signs with).

The answers are the API's own models (``gateway.api.models``).
"""

from gateway.api.webhook_signing import WebhookSignatureError, verify_webhook
from gateway.sdk.client import Retries, XgateClient
from gateway.sdk.errors import ApiProblem, ApiResponseInvalid, ApiUnavailable, FieldProblem
from gateway.sdk.sync import SyncXgateClient

__all__ = [
    "ApiProblem",
    "ApiResponseInvalid",
    "ApiUnavailable",
    "FieldProblem",
    "Retries",
    "SyncXgateClient",
    "WebhookSignatureError",
    "XgateClient",
    "verify_webhook",
]
