"""Untrusted JSON is refused by size and nesting depth before the C parser can recurse on it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.errors import DecodeError
from adapters.jsonlimits import loads_bounded, nesting_depth


def test_deep_nesting_is_refused_with_its_depth() -> None:
    with pytest.raises(DecodeError) as info:
        loads_bounded("[" * 100_000 + "]" * 100_000, max_bytes=1_000_000)
    assert info.value.context == {"depth": 100_000, "limit": 64}


def test_deep_nesting_does_not_crash_under_a_raised_recursion_limit() -> None:
    # py_ecc raises the limit to 100,000 at import; json.loads then overflows the C stack.
    script = (
        "import sys; sys.setrecursionlimit(1_000_000)\n"
        "from adapters.errors import DecodeError\n"
        "from adapters.jsonlimits import loads_bounded\n"
        "try:\n"
        "    loads_bounded(b'[' * 100_000, max_bytes=1_000_000)\n"
        "except DecodeError as exc:\n"
        "    print(exc.context['depth'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, b"100000")


def test_unclosed_nesting_counts_as_deep() -> None:
    with pytest.raises(DecodeError, match="nested too deeply"):
        loads_bounded(b"{" * 65, max_bytes=1000)


def test_nesting_at_the_depth_limit_is_parsed() -> None:
    assert loads_bounded("[" * 64 + "]" * 64, max_bytes=1000) == json.loads("[" * 64 + "]" * 64)
    with pytest.raises(DecodeError, match="nested too deeply"):
        loads_bounded("[" * 65 + "]" * 65, max_bytes=1000)


def test_objects_and_arrays_both_count_as_nesting() -> None:
    assert nesting_depth(b'{"a": [{"b": []}]}') == 4
    with pytest.raises(DecodeError, match="nested too deeply"):
        loads_bounded('{"a": [{"b": []}]}', max_bytes=1000, max_depth=3)


def test_brackets_inside_strings_do_not_count() -> None:
    document = json.dumps(["[" * 1000, "{" * 1000, "]]]"])
    assert loads_bounded(document, max_bytes=10_000) == ["[" * 1000, "{" * 1000, "]]]"]


@pytest.mark.parametrize(
    "text",
    ['a"[[[[', 'a\\"[[[[', "a\\\\", 'a\\\\\\"[[[[', "\\u0022[[[["],
    ids=["quote", "escaped-quote", "escaped-backslash", "backslashes-then-quote", "unicode"],
)
def test_escaped_quotes_do_not_end_a_string(text: str) -> None:
    document = json.dumps([text, [text]])
    assert nesting_depth(document.encode()) == 2
    assert loads_bounded(document, max_bytes=10_000, max_depth=2) == [text, [text]]


def test_a_string_ending_in_a_backslash_does_not_hide_the_brackets_after_it() -> None:
    document = json.dumps(["a\\"]).encode()[:-1] + b", " + b"[" * 100 + b"]" * 100 + b"]"
    assert nesting_depth(document) == 101
    with pytest.raises(DecodeError, match="nested too deeply"):
        loads_bounded(document, max_bytes=10_000)


def test_a_document_larger_than_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(DecodeError) as info:
        loads_bounded(b"[" + b"1," * 100 + b"1]", max_bytes=100)
    assert info.value.context == {"size": 203, "limit": 100}


def test_a_document_of_exactly_the_limit_is_parsed() -> None:
    document = b'"' + b"a" * 98 + b'"'
    assert loads_bounded(document, max_bytes=100) == "a" * 98
    with pytest.raises(DecodeError, match="too large"):
        loads_bounded(document, max_bytes=99)


def test_a_text_is_measured_in_utf8_bytes() -> None:
    document = '"' + "\u00e9" * 10 + '"'  # 12 characters, 22 bytes
    assert loads_bounded(document, max_bytes=22) == "\u00e9" * 10
    with pytest.raises(DecodeError) as info:
        loads_bounded(document, max_bytes=21)
    assert info.value.context == {"size": 22, "limit": 21}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[1,", "invalid JSON"),
        (b"", "invalid JSON"),
        (b"{'a': 1}", "invalid JSON"),
        (b'"\xff"', "not UTF-8"),
        ('"\ud800"', "not valid Unicode"),
        (b"1" * 5000, "invalid JSON"),  # beyond Python's int_max_str_digits
    ],
)
def test_malformed_documents_raise_decode_error(data: bytes | str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        loads_bounded(data, max_bytes=10_000)


def test_nan_and_infinity_are_read_as_json_loads_does() -> None:
    assert loads_bounded("[Infinity]", max_bytes=100) == [float("inf")]


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ax\u00e9', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=4), inner, max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=500)
@given(_JSON_VALUES, st.booleans())
def test_nesting_depth_of_any_json_document_is_the_depth_of_its_value(
    value: object, ascii_only: bool
) -> None:
    document = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nesting_depth(document) == _depth(value)
