"""The typed configuration of an xgate deployment (``xgate.toml``)."""
