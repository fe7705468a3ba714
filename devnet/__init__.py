"""Embedded local chains for development, demos and tests (DEV ONLY: well-known keys).

- ``devnet.node``: ``python -m devnet.node --mode consortium|plain --port 0 [--data-dir D]
  [--config JSON]`` serves a py-evm chain over HTTP JSON-RPC and prints one ready line.
  Consortium mode seals Besu-QBFT-compatible blocks with in-process validator keys and enforces
  an account allowlist (Besu ``perm_*``); plain mode is an unsealed post-merge auto-mine chain.
- ``devnet.launcher``: ``start_consortium``, ``start_plain``, ``start_public`` (anvil when
  installed, else plain) as async context managers yielding ``RunningNode``.
- ``devnet.config``: ``DevnetConfig.from_dict`` (typed, rejects unknown keys).
- ``devnet.chain``: the chain itself (execution, sealing, pool, votes, persistence).
"""
