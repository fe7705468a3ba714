"""``private_terms`` on a ``[[routes]]`` entry: validated by the config model and turned into
the vault's ``setPrivateTerms`` by the deployment plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.errors import ConfigError
from adapters.types import Address, Hash32
from gateway.cli.deployment import Call, hub_plan, private_terms_chain_ids
from gateway.config import dump_config, load_config
from tests.unit.test_config import base, changed, problems, write

ADMIN = Address(b"\x01" * 20)


def _plan(private: tuple[int, ...]) -> list[Call]:
    consortium, _ = hub_plan(
        admin=ADMIN,
        attesters=[Address(b"\x02" * 20)],
        attester_threshold=1,
        consortium_chain_id=20250,
        public_chain_ids=(31337, 31338),
        consortium_validators=[Address(b"\x03" * 20)],
        trusted_consortium_header=(7, Hash32(b"\xab" * 32), 1_700_000_000),
        private_terms_chain_ids=private,
    )
    return [s for s in consortium if isinstance(s, Call) and s.function == "setPrivateTerms"]


def test_routes_have_public_terms_unless_configured(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, base()))
    assert [r.private_terms for r in cfg.routes] == [False, False]
    assert private_terms_chain_ids(cfg) == ()


def test_a_route_from_the_hub_can_carry_private_terms(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, changed("routes.0.private_terms", True)))
    assert cfg.routes[0].private_terms is True
    assert private_terms_chain_ids(cfg) == (31337,)


def test_private_terms_only_on_a_route_leaving_the_hub_for_a_public_chain(tmp_path: Path) -> None:
    assert problems(tmp_path, changed("routes.1.private_terms", True)) == [
        "routes[1].private_terms: private terms apply to receivables leaving the qbft hub for "
        "a public chain: set it on that route"
    ]


def test_private_terms_is_a_strict_boolean(tmp_path: Path) -> None:
    assert problems(tmp_path, changed("routes.0.private_terms", "yes")) == [
        "routes[0].private_terms: expected true or false"
    ]


def test_the_plan_turns_private_terms_on_for_the_configured_chains_only() -> None:
    assert _plan(()) == []
    [step] = _plan((31338,))
    assert step == Call("c.vault", "setPrivateTerms", (31338, True))


def test_the_plan_refuses_private_terms_for_a_chain_it_does_not_deploy() -> None:
    with pytest.raises(ConfigError):
        _plan((99,))


def test_a_config_dumped_and_loaded_keeps_private_terms(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, changed("routes.0.private_terms", True)))
    path = tmp_path / "again.toml"
    path.write_text(dump_config(cfg))
    assert load_config(path).routes[0].private_terms is True
