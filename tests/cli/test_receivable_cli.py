"""`xgate receivable show | disclose | open` against the API on the session's real nodes
(tests/helpers/receivables.py). The commands run in process on a thread of their own (their
own event loop) while the test's loop serves the API: a holder shows its copy, discloses the
private terms sealed to a recipient (checked against the public commitment first: a wrong
salt seals nothing, exit 1), the recipient opens the box and checks it on chain (exit 0), a box
of forged terms opens but is invalid (exit 1). Neither the salt nor the key is ever printed."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from nacl.public import PrivateKey

from gateway.cli import main
from gateway.domain.disclosure import seal_disclosure
from tests.helpers.receivables import ReceivableNet
from tests.helpers.receivables import net as net  # the module's world and API

pytestmark = pytest.mark.live

PRINTED: list[str] = []  # every command's stdout and stderr


async def xgate(
    net: ReceivableNet, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[Any], str]:
    """``xgate receivable ARGS --json``: its exit code, its JSON lines and its stderr."""
    argv = ["receivable", *args, "--api", net.url, "--token", net.reader.token, "--json"]
    code = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    PRINTED.extend((captured.out, captured.err))
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


async def test_show_prints_the_receivable_as_the_api_answers_it(
    net: ReceivableNet, capsys: pytest.CaptureFixture[str]
) -> None:
    code, [shown], _ = await xgate(net, capsys, "show", str(net.public_id), str(net.private))
    assert code == 0
    assert shown["kind"] == "wrapped" and shown["wrapped"]["private"] is True
    code, _, err = await xgate(net, capsys, "show", str(net.hub_id), "1000000000")
    assert code == 1 and "receivable-not-found" in err


async def test_disclose_then_open_round_trip_with_exit_codes(
    net: ReceivableNet, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    recipient = PrivateKey.generate()
    key_file = tmp_path / "recipient.x25519"
    key_file.write_text(bytes(recipient).hex())
    to = "0x" + bytes(recipient.public_key).hex()
    box_file = tmp_path / "disclosure.box"

    code, [sealed], err = await xgate(
        net, capsys, "disclose", str(net.private), "--salt", net.salt.hex(), "--to", to,
        "--out", str(box_file),
    )  # fmt: skip
    assert code == 0, err
    assert sealed == {"token_id": str(net.private), "chain_id": net.public_id, "out": str(box_file)}

    code, [opened], err = await xgate(
        net, capsys, "open", str(box_file), "--key-file", str(key_file)
    )
    assert code == 0, err
    assert opened["valid"] is True and opened["chain_id"] == net.public_id
    terms = net.world.terms(net.private)
    assert opened["terms"]["face_value"] == str(terms.face_value)
    assert opened["commitment"] is not None

    code, out, err = await xgate(
        net, capsys, "disclose", str(net.private), "--salt", net.other_salt.hex(), "--to", to,
    )  # fmt: skip
    assert code == 1 and out == [] and "commitment-mismatch" in err

    forged = net.disclosure(net.private, net.salt)
    forged = replace(forged, terms=replace(forged.terms, face_value=1))
    box = "0x" + seal_disclosure(forged, bytes(recipient.public_key)).hex()
    code, [invalid], err = await xgate(
        net, capsys, "open", box, "--key-file", str(key_file), "--chain", str(net.public_id)
    )
    assert code == 1
    assert invalid["valid"] is False and invalid["reason"] == "commitment-mismatch"

    stranger = tmp_path / "stranger.x25519"
    stranger.write_text(bytes(PrivateKey.generate()).hex())
    code, out, err = await xgate(net, capsys, "open", str(box_file), "--key-file", str(stranger))
    assert code == 1 and out == []

    for secret in (net.salt.hex(), bytes(recipient).hex(), net.reader.token):
        assert not any(secret in text for text in PRINTED)
