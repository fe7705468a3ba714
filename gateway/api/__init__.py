"""The gateway's HTTP API (docs/api.md), served by ``xgate api``.

- ``app``: ``create_app(store, config)``, ops endpoints, request ids, metrics, access log;
- ``spec``: the registry of operations (routes, request parsing, ``/openapi.json``, ``/docs``);
- ``models``: request and response models and their wire types;
- ``problems``: RFC 9457 problem answers and the middleware that renders every error;
- ``v1``: the ``/v1`` operations.
"""
