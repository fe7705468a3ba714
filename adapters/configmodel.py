"""The pydantic base of every config value, its field types, and pydantic errors as ``ConfigError``.

Configs are frozen pydantic models that refuse unknown keys. Scalars are strict (``"1"`` is not
a number, ``true`` is not an integer); containers are lax so TOML lists fill tuples. Raw config
may spell bytes as ``0x`` hex and finality as ``"latest"``, ``"safe"``, ``"finalized"`` or
``{"depth": N}``; the field types turn them into ``bytes`` and ``Finality``.

A ``ValidationError`` never leaves a config: ``config_error`` turns it into one ``ConfigError``
with one line per problem, ``key.path: what is wrong``. Input values are never echoed, so a
secret put under the wrong key cannot reach a log through an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    InstanceOf,
    Strict,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from adapters.errors import ConfigError
from adapters.types import Address, Finality, Hash32

__all__ = [
    "AddressField",
    "ConfigModel",
    "FinalityField",
    "Hash32Field",
    "HttpUrlStr",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "config_error",
    "describe_problems",
    "hex_to_bytes",
]


class ConfigModel(BaseModel):
    """Frozen, unknown keys refused; construction errors are ``ConfigError``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    if not TYPE_CHECKING:  # hidden from mypy so it keeps each model's typed keyword signature

        def __init__(self, **data: Any) -> None:
            try:
                super().__init__(**data)
            except ValidationError as exc:
                # from None: pydantic's own text echoes the input (a secret, maybe).
                raise config_error(exc, type(self).__name__) from None

        # Marked as pydantic's own __init__ (as RootModel does), so validating a parent from
        # data builds nested models without calling this: only the outermost call converts,
        # and nested problems keep their full key path.
        __init__.__pydantic_base_init__ = True


# --- field types -------------------------------------------------------------------------------

PositiveInt = Annotated[int, Strict(), Field(ge=1)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]
# Strict floats still take ints (TOML `timeout = 3`), never bools or strings.
PositiveFloat = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]

_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _http_url(value: str) -> str:
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError:
        raise PydanticCustomError(
            "http_url", "expected an http:// or https:// URL with a host"
        ) from None
    return value  # the caller's spelling, not pydantic's normalised Url (it adds a "/")


HttpUrlStr = Annotated[str, Strict(), AfterValidator(_http_url)]


def hex_to_bytes(value: Any) -> Any:
    """``"0x..."`` hex from raw config becomes bytes; everything else is left to the field."""
    if isinstance(value, str):
        if not value.startswith(("0x", "0X")):
            raise PydanticCustomError("hex", "expected 0x-prefixed hex")
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            raise PydanticCustomError("hex", "expected 0x-prefixed hex") from None
    return value


# Exactly sized bytes; raw config spells them as 0x hex. The hex validator comes last so it
# runs first and the size stays a constraint of the bytes schema (its own error type).
AddressField = Annotated[
    Address, Strict(), Field(min_length=20, max_length=20), BeforeValidator(hex_to_bytes)
]
Hash32Field = Annotated[
    Hash32, Strict(), Field(min_length=32, max_length=32), BeforeValidator(hex_to_bytes)
]

_FINALITY_HINT = 'expected "latest", "safe", "finalized" or {"depth": N} with N >= 0'


def _finality(value: Any) -> Any:
    if isinstance(value, Finality):
        return value
    if value in ("latest", "safe", "finalized"):
        return Finality(tag=value)
    if isinstance(value, Mapping) and set(value) == {"depth"}:
        depth = value["depth"]
        if type(depth) is int and depth >= 0:
            return Finality.confirmations(depth)
    raise PydanticCustomError("finality", _FINALITY_HINT)


FinalityField = Annotated[InstanceOf[Finality], BeforeValidator(_finality)]


# --- errors ------------------------------------------------------------------------------------

# Our words for pydantic's error types; anything else falls back to pydantic's message (which
# names the expectation, not the input).
_MESSAGES: dict[str, str] = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key (check its spelling and section)",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bytes_type": "expected 0x-prefixed hex",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "too_short": "needs at least {min_length} item(s)",
    "too_long": "takes at most {max_length} item(s)",
    "string_too_short": "must not be empty",
    # Every bytes field is of one exact size, so either bound is that size.
    "bytes_too_short": "must be {min_length} bytes",
    "bytes_too_long": "must be {max_length} bytes",
    "literal_error": "expected {expected}",
    "union_tag_invalid": "expected one of {expected_tags}",
    "union_tag_not_found": "required key is missing",
}


def _path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: ErrorDetails) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    template = _MESSAGES.get(err["type"])
    if template is None:
        return err["msg"]
    return template.format(**ctx)


def describe_problems(exc: ValidationError, *, skip: int = 0) -> list[str]:
    """One ``key.path: what is wrong`` line per problem. ``skip`` drops leading ``loc`` parts
    that are no key (the tag of a discriminated union at the root)."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(err["loc"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # pydantic reports the union's own position; the problem is its tag key.
            loc = (*loc, str((err.get("ctx") or {}).get("discriminator", "")).strip("'"))
        else:
            loc = loc[skip:]
        path = _path(loc)
        lines.append(f"{path}: {_message(err)}" if path else _message(err))
    return lines


def config_error(exc: ValidationError, source: str = "", *, skip: int = 0) -> ConfigError:
    """One ``ConfigError`` for all of ``exc``'s problems, one line each, prefixed by ``source``
    (a file or class name) when given."""
    lines = describe_problems(exc, skip=skip)
    return ConfigError("\n".join(f"{source}: {line}" if source else line for line in lines))
