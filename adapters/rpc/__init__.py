"""JSON-RPC plumbing of the EVM adapters: the transport (``transport``), strict parsing of node
answers (``answers``) and transaction submission (``submit``)."""
