"""Loading a ``[signers.NAME]`` key when a service starts.

Secrets (keys, passwords) are read here and handed to ``LocalSigner``; they never appear in an
error, a log line or a repr: errors name the file or variable and what to do, nothing read.
Key and password files must not be readable by group or others (like ssh's private keys).
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Mapping
from pathlib import Path

from eth_account import Account
from eth_utils.address import to_checksum_address

from adapters.errors import ConfigError
from adapters.signer import LocalSigner, RemoteSigner, Signer
from gateway.config.model import SignerConfig

__all__ = ["load_signer", "load_tx_signer"]

log = logging.getLogger(__name__)


def load_signer(cfg: SignerConfig, environ: Mapping[str, str], *, name: str) -> LocalSigner:
    """The key of signer ``name`` (its key under ``[signers]``). ``environ`` is where
    ``password_env`` and ``key_file_env`` are looked up (``os.environ`` in a service)."""
    where = f"signers.{name}"
    if cfg.external_url is not None:
        raise ConfigError(
            f"{where}: an external signer signs transactions for xgate deploy only; this "
            "service signs messages too and needs a keystore or key file"
        )
    if cfg.keystore is not None:
        key = _from_keystore(cfg, environ, where)
        source = f"keystore {cfg.keystore}"
    else:
        path = cfg.key_file if cfg.key_file is not None else _key_file_from_env(cfg, environ, where)
        key = _key_from_file(path, where)
        source = f"key file {path}"
    try:
        signer = LocalSigner(key)
    except ConfigError:
        raise ConfigError(f"{where}: {source} holds no valid secp256k1 private key") from None
    log.info("%s: %s from %s", where, to_checksum_address(signer.address), source)
    return signer


def load_tx_signer(cfg: SignerConfig, environ: Mapping[str, str], *, name: str) -> Signer:
    """A transaction signer for signer ``name``: a ``RemoteSigner`` for an ``external_url``
    (nothing is read; the remote side holds the key), else ``load_signer``'s key."""
    if cfg.external_url is None:
        return load_signer(cfg, environ, name=name)
    assert cfg.address is not None  # SignerConfig requires it with external_url
    signer = RemoteSigner(cfg.external_url, cfg.address)
    log.info("signers.%s: %s through %r", name, to_checksum_address(cfg.address), signer)
    return signer


def _env(environ: Mapping[str, str], var: str, where: str, key: str) -> str:
    value = environ.get(var)
    if not value:
        raise ConfigError(f"{where}.{key}: environment variable {var} is not set; export it")
    return value


def _key_file_from_env(cfg: SignerConfig, environ: Mapping[str, str], where: str) -> Path:
    assert cfg.key_file_env is not None  # SignerConfig has exactly one source
    return Path(_env(environ, cfg.key_file_env, where, "key_file_env"))


def _read_secret(path: Path, where: str, what: str) -> str:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{where}: {what} {path} is accessible to group or others; run `chmod 600 {path}`"
            )
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {what} {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: {what} {path} is not text") from None


def _key_from_file(path: Path, where: str) -> bytes:
    text = _read_secret(path, where, "key file").strip()
    digits = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        key = b""
    if len(key) != 32:
        # Deliberately nothing of the content: it is (nearly) a key.
        raise ConfigError(
            f"{where}: key file {path} must hold one private key: 64 hex digits, 0x optional"
        )
    return key


def _from_keystore(cfg: SignerConfig, environ: Mapping[str, str], where: str) -> bytes:
    assert cfg.keystore is not None
    if cfg.password_file is not None:
        # Only the line ending goes: spaces may be part of a password.
        password = _read_secret(cfg.password_file, where, "password file").rstrip("\r\n")
    else:
        assert cfg.password_env is not None  # SignerConfig checks keystore has one password
        password = _env(environ, cfg.password_env, where, "password_env")
    try:
        keyfile = json.loads(cfg.keystore.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"{where}: cannot read keystore {cfg.keystore} ({exc.strerror})"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"{where}: keystore {cfg.keystore} is not JSON (keystore v3)") from None
    try:
        return bytes(Account.decrypt(keyfile, password))
    except Exception:  # eth-account raises ValueError, KeyError, TypeError ... by format
        # from None: the library's message and locals must not travel with the error.
        raise ConfigError(
            f"{where}: keystore {cfg.keystore} could not be decrypted: wrong password, or not "
            "an Ethereum keystore v3 file"
        ) from None
