"""`xgate proof ...`: one JSON object per run; exit 0 valid, 1 invalid, 2 unusable input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import replace

import pytest
import rlp
from eth_hash.auto import keccak
from trie import HexaryTrie

from adapters.bft import decode_qbft_extra, qbft_block_hash, with_qbft_extra
from adapters.headers import Header, decode_header, encode_header, header_hash
from adapters.receipts import Log, Receipt, build_ordered_proof, encode_receipt, ordered_trie_root
from gateway.cli import main, proof_cmd
from tests.helpers.headers import keys_of, qbft_extra, qbft_header, validator_set

VALIDATORS = validator_set(range(4))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["proof", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out)


def run_cli_exit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    """Like run_cli, for argument errors that argparse reports by exiting."""
    with pytest.raises(SystemExit) as stop:
        main(["proof", *argv])
    return int(stop.value.code), json.loads(capsys.readouterr().out)


def sealed_header(number: int = 7, round_: int = 0, signers: int = 3) -> Header:
    extra = qbft_extra(VALIDATORS, round_=round_)
    return qbft_header(number, extra, keys_of(VALIDATORS[:signers]))


def hexed(data: bytes) -> str:
    return "0x" + data.hex()


def verify_header(
    capsys: pytest.CaptureFixture[str], header: bytes, *options: str
) -> tuple[int, dict]:
    """``proof verify-header`` of ``header`` against the test validator set."""
    validators = ",".join(hexed(v) for v in VALIDATORS)
    return run_cli(capsys, "verify-header", *options, "--validators", validators, hexed(header))


def test_decode_header_reports_qbft_fields_and_besu_block_hash(capsys):
    header = sealed_header(round_=2)
    code, out = run_cli(capsys, "decode-header", hexed(encode_header(header)))
    assert code == 0
    assert out["kind"] == "qbft"
    assert out["field_count"] == 17
    assert out["number"] == 7
    assert out["round"] == 2
    assert out["validators"] == [hexed(v) for v in VALIDATORS]
    assert out["seals"] == 3
    assert out["hash"] == hexed(qbft_block_hash(header))
    # The Besu rule ignores round and seals, so the hash differs from the plain keccak.
    assert out["hash"] != hexed(header_hash(header))


def test_decode_header_with_eth_kind_uses_the_plain_hash(capsys):
    header = sealed_header()
    code, out = run_cli(capsys, "decode-header", "--kind", "eth", hexed(encode_header(header)))
    assert code == 0
    assert out["hash"] == hexed(header_hash(header))
    assert "round" not in out


def test_verify_header_accepts_a_quorum_of_validator_seals(capsys):
    header = sealed_header()
    code, out = verify_header(capsys, encode_header(header), "--kind", "qbft")
    assert code == 0, out
    assert out["valid"] is True
    assert out["quorum"] == 3
    assert sorted(out["signers"]) == sorted(hexed(v) for v in VALIDATORS[:3])
    assert out["hash"] == hexed(qbft_block_hash(header))


def test_verify_header_rejects_too_few_seals(capsys):
    header = sealed_header(signers=2)
    code, out = verify_header(capsys, encode_header(header))
    assert code == 1
    assert out["valid"] is False
    assert out["error"] == "HeaderInvalid"


def test_verify_header_rejects_a_seal_made_for_another_round(capsys):
    header = sealed_header(round_=0)
    extra = decode_qbft_extra(header.extra_data)
    moved = with_qbft_extra(header, replace(extra, round=1))  # seals still sign round 0
    code, out = verify_header(capsys, encode_header(moved))
    assert code == 1
    assert out["error"] == "HeaderInvalid"


def test_verify_header_rejects_a_flipped_byte_with_a_specific_error(capsys):
    raw = bytearray(encode_header(sealed_header()))
    raw[len(raw) // 2] ^= 0x01
    code, out = verify_header(capsys, bytes(raw))
    assert code == 1
    assert out["valid"] is False
    assert out["error"] in {"HeaderInvalid", "DecodeError"}


@pytest.mark.parametrize(
    "argv",
    [
        ["decode-header", "0xzz"],
        ["decode-header", "0x123"],
        ["verify-header", "--validators", "0x1234", "0xc0"],
        ["verify-receipt", "--root", "0x00", "--index", "0", "0xc0"],
        ["verify-storage", "--storage-root", "0x" + "00" * 32, "--slot", "abc", "0xc0"],
    ],
)
def test_unusable_input_exits_2_with_a_json_error(capsys, argv):
    code, out = run_cli(capsys, *argv)
    assert code == 2
    assert out == {
        "valid": False,
        "error": "UnusableInput",
        "message": out["message"],
        "argument": out["argument"],
    }


def test_missing_required_option_exits_2_with_a_json_error(capsys):
    code, out = run_cli_exit(capsys, "verify-receipt", "--index", "0", "0xc0")
    assert code == 2
    assert out["error"] == "UnusableInput"
    assert "--root" in out["message"]


def receipts_block() -> tuple[list[bytes], list[Receipt]]:
    receipts = []
    cumulative = 0
    for i in range(40):
        cumulative += 21_000 + i
        logs = (
            Log(
                address=keccak(bytes([i]))[:20], topics=(keccak(b"Transfer"),), data=bytes([i]) * 32
            ),
        )
        receipts.append(
            Receipt(
                tx_type=2 if i % 2 else 0,
                status=1,
                cumulative_gas_used=cumulative,
                logs_bloom=b"\x00" * 256,
                logs=logs,
            )
        )
    return [encode_receipt(r) for r in receipts], receipts


def test_verify_receipt_returns_the_decoded_receipt(capsys):
    encoded, receipts = receipts_block()
    root = ordered_trie_root(encoded)
    nodes = build_ordered_proof(encoded, 5)
    code, out = run_cli(
        capsys, "verify-receipt", "--root", hexed(root), "--index", "5", *map(hexed, nodes)
    )
    assert code == 0, out
    assert out["receipt"]["type"] == 2
    assert out["receipt"]["status"] == 1
    assert out["receipt"]["cumulativeGasUsed"] == receipts[5].cumulative_gas_used
    assert out["receipt"]["logs"][0]["data"] == hexed(bytes([5]) * 32)


def test_verify_receipt_with_a_flipped_byte_is_invalid(capsys):
    encoded, _ = receipts_block()
    root = ordered_trie_root(encoded)
    nodes = [bytearray(n) for n in build_ordered_proof(encoded, 5)]
    nodes[-1][-3] ^= 0x40
    code, out = run_cli(
        capsys,
        "verify-receipt",
        "--root",
        hexed(root),
        "--index",
        "5",
        *(hexed(bytes(n)) for n in nodes),
    )
    assert code == 1
    assert out["error"] == "ProofInvalid"


def test_verify_receipt_for_another_index_is_invalid(capsys):
    encoded, _ = receipts_block()
    root = ordered_trie_root(encoded)
    nodes = build_ordered_proof(encoded, 5)
    code, out = run_cli(
        capsys, "verify-receipt", "--root", hexed(root), "--index", "6", *map(hexed, nodes)
    )
    assert code == 1
    assert out["valid"] is False


def state_trie() -> tuple[HexaryTrie, bytes, HexaryTrie]:
    """A state trie with 50 accounts sharing one storage trie; returns the state trie, the
    first account's address and the storage trie."""
    storage = HexaryTrie({})
    for slot in range(10):
        storage[keccak(slot.to_bytes(32, "big"))] = rlp.encode(slot * 1000 + 1)
    state = HexaryTrie({})
    target = b""
    for i in range(50):
        address = keccak(b"acct" + bytes([i]))[:20]
        account = rlp.encode([i, 10**18 + i, storage.root_hash, keccak(b"code")])
        state[keccak(address)] = account
        target = target or address
    return state, target, storage


def verify_account(
    capsys: pytest.CaptureFixture[str], state: HexaryTrie, address: bytes
) -> tuple[int, dict]:
    """``proof verify-account`` with py-trie's proof of ``address`` in ``state``."""
    nodes = state.get_proof(keccak(address))
    return run_cli(
        capsys,
        "verify-account",
        "--state-root",
        hexed(state.root_hash),
        "--address",
        hexed(address),
        *(hexed(rlp.encode(n)) for n in nodes),
    )


def test_verify_account_and_storage_return_the_proven_values(capsys):
    state, address, storage = state_trie()
    code, out = verify_account(capsys, state, address)
    assert code == 0, out
    assert out["exists"] is True
    assert out["account"]["balance"] == 10**18
    assert out["account"]["storageRoot"] == hexed(storage.root_hash)

    slot_nodes = storage.get_proof(keccak((3).to_bytes(32, "big")))
    code, out = run_cli(
        capsys,
        "verify-storage",
        "--storage-root",
        hexed(storage.root_hash),
        "--slot",
        "3",
        *(hexed(rlp.encode(n)) for n in slot_nodes),
    )
    assert code == 0, out
    assert int(out["value"], 16) == 3001


def test_verify_account_for_an_absent_address_proves_exclusion(capsys):
    state, _, _ = state_trie()
    absent = keccak(b"nobody")[:20]
    code, out = verify_account(capsys, state, absent)
    assert code == 0, out
    assert out["exists"] is False


def test_proof_nodes_can_be_piped_as_a_json_array():
    state, address, _ = state_trie()
    nodes = [hexed(rlp.encode(n)) for n in state.get_proof(keccak(address))]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "proof",
            "verify-account",
            "--state-root",
            hexed(state.root_hash),
            "--address",
            hexed(address),
            "-",
        ],
        input=json.dumps(nodes),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["account"]["nonce"] == 0


def run_cli_process(*argv: str, stdin: str = "") -> tuple[int, dict]:
    """``xgate proof ...`` in its own process, as an operator runs it (exit code, JSON answer)."""
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "proof", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.stdout, f"exit {result.returncode}, no JSON answer: {result.stderr[-2000:]}"
    return result.returncode, json.loads(result.stdout)


def test_deeply_nested_json_on_stdin_is_unusable_input_not_a_crash():
    code, out = run_cli_process(
        "verify-receipt", "--root", "0x" + "00" * 32, "--index", "0", "-", stdin="[" * 200_000
    )
    assert code == 2
    assert out["error"] == "UnusableInput"
    assert out["argument"] == "NODE_HEX"
    assert "nested too deeply" in out["message"]


def test_proof_commands_run_under_the_default_recursion_limit_and_restore_it(capsys, monkeypatch):
    # py_ecc raises the limit to 100,000 at import; a proof command runs no EVM code and runs
    # under CPython's default, so runaway recursion is a RecursionError, not a C stack overflow.
    seen = []

    def spy(data: bytes) -> Header:
        seen.append(sys.getrecursionlimit())
        return decode_header(data)

    monkeypatch.setattr(proof_cmd, "decode_header", spy)
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # as the eth stack's import leaves it
    try:
        run_cli(capsys, "decode-header", "0xc0")
        after = sys.getrecursionlimit()
    finally:
        sys.setrecursionlimit(before)
    assert (seen, after) == ([1000], 100_000)


@pytest.mark.parametrize(
    ("argv", "argument"),
    [
        (["decode-header", "0xc0  c0"], "HEADER_RLP_HEX"),
        (
            [
                "verify-receipt",
                "--root",
                "0x" + "00" * 16 + "  " + "00" * 16,
                "--index",
                "0",
                "0xc0",
            ],
            "--root",
        ),
        (["verify-receipt", "--root", "0x" + "00" * 32, "--index", "1_0", "0xc0"], "--index"),
        (["verify-receipt", "--root", "0x" + "00" * 32, "--index", "0", "0x12  34"], "NODE_HEX"),
        (["verify-storage", "--storage-root", "0x" + "00" * 32, "--slot", "1_0", "0xc0"], "--slot"),
        (
            ["verify-storage", "--storage-root", "0x" + "00" * 32, "--slot", "0x1_0", "0xc0"],
            "--slot",
        ),
        (["verify-storage", "--storage-root", "0x" + "00" * 32, "--slot", " 1", "0xc0"], "--slot"),
        (
            [
                "verify-account",
                "--state-root",
                "0x" + "00" * 32,
                "--address",
                "0x" + "11" * 19 + " 11",
                "0xc0",
            ],
            "--address",
        ),
    ],
)
def test_numbers_and_hex_with_separators_are_unusable_input_naming_the_argument(
    capsys, argv, argument
):
    code, out = run_cli(capsys, *argv)
    assert (code, out["error"], out["argument"]) == (2, "UnusableInput", argument), out


@pytest.mark.parametrize(
    "stdin",
    ['{"accountProof": ["0xc0"]}', '"0xc0"', "[1, 2]", '["0xc0", ["0xc0"]]', "[", "0x12 0xzz"],
)
def test_stdin_that_is_not_an_array_of_hex_strings_is_unusable_input(stdin):
    code, out = run_cli_process(
        "verify-receipt", "--root", "0x" + "00" * 32, "--index", "0", "-", stdin=stdin
    )
    assert (code, out["error"], out["argument"]) == (2, "UnusableInput", "NODE_HEX"), out


@pytest.mark.parametrize(
    ("argv", "message"),
    [([], "PROOF_COMMAND"), (["verify-everything"], "verify-everything")],
)
def test_missing_or_unknown_proof_command_exits_2_with_a_json_error(argv, message):
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "proof", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    out = json.loads(result.stdout)
    assert out["error"] == "UnusableInput"
    assert message in out["message"]


@pytest.mark.parametrize("stdin", [b"c0 " * 40, b'["0xc0"' + b', "0xc0"' * 20 + b"]"])
def test_stdin_larger_than_the_limit_is_unusable_input_not_truncated(capsys, monkeypatch, stdin):
    monkeypatch.setattr(proof_cmd, "STDIN_MAX_BYTES", 100)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code, out = run_cli(capsys, "verify-receipt", "--root", "0x" + "00" * 32, "--index", "0", "-")
    assert (code, out["error"], out["argument"]) == (2, "UnusableInput", "NODE_HEX"), out
    assert "larger than 100 bytes" in out["message"]
