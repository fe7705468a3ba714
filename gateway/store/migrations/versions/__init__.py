"""Migration scripts, one per revision, in order of ``down_revision``."""
