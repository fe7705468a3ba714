"""The Python SDK of the gateway API (docs/api.md, "SDK and CLI").

- ``XgateClient``: the async client (``client.py``); ``SyncXgateClient``: the same, blocking
  (``sync.py``);
- ``ApiProblem`` (a problem answer), ``ApiUnavailable`` (no answer), ``ApiResponseInvalid``,
  ``WaitTimedOut`` (a ``wait_for_transfer`` / ``wait_for_swap`` gave up) (``errors.py``);
- ``DisclosureRefused``, ``OpenedDisclosure``: a holder's disclosure of private terms built,
  sealed, opened and checked on the client (``disclosures.py``);
- ``verify_webhook``: check a webhook post's signature (``gateway.api.webhook_signing``, the
  one definition the gateway signs with).

The answers are the API's own models (``gateway.api.models``).
"""

from gateway.api.webhook_signing import WebhookSignatureError, verify_webhook
from gateway.sdk.client import (
    SWAP_TERMINAL_STATES,
    TRANSFER_TERMINAL_STATUSES,
    Retries,
    XgateClient,
)
from gateway.sdk.disclosures import DisclosureRefused, OpenedDisclosure
from gateway.sdk.errors import (
    ApiProblem,
    ApiResponseInvalid,
    ApiUnavailable,
    FieldProblem,
    WaitTimedOut,
)
from gateway.sdk.sync import SyncXgateClient

__all__ = [
    "SWAP_TERMINAL_STATES",
    "TRANSFER_TERMINAL_STATUSES",
    "ApiProblem",
    "ApiResponseInvalid",
    "ApiUnavailable",
    "DisclosureRefused",
    "FieldProblem",
    "OpenedDisclosure",
    "Retries",
    "SyncXgateClient",
    "WaitTimedOut",
    "WebhookSignatureError",
    "XgateClient",
    "verify_webhook",
]
