"""Test-only building blocks shared across the unit, CLI and live suites."""
