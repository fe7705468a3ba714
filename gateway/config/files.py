"""Reading and writing ``xgate.toml``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w
from pydantic import ValidationError

from adapters.configmodel import config_error
from adapters.errors import ConfigError
from gateway.config.model import XgateConfig

__all__ = [
    "DEFAULT_STATE_FILE",
    "XGATE_CONFIG_NAME",
    "dev_config_path",
    "dump_config",
    "load_config",
]

DEFAULT_STATE_FILE = Path(".xgate/devnet.json")  # `xgate devnet up`'s summary
XGATE_CONFIG_NAME = "xgate.toml"  # written beside the summary file


def dev_config_path(summary_file: Path = DEFAULT_STATE_FILE) -> Path:
    """Where ``xgate devnet up --out SUMMARY_FILE`` writes its xgate.toml (beside the summary;
    its key files are in ``keys/`` beside that): every command's default ``--config``."""
    return summary_file.with_name(XGATE_CONFIG_NAME)


def load_config(path: str | Path) -> XgateConfig:
    """Read and validate ``path``. Relative paths inside (SQLite file, key files) resolve
    against its folder. Raises ``ConfigError``: one line per problem, ``FILE: key.path: what``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read it ({exc.strerror or exc}); pass --config PATH, or run "
            "`xgate devnet up` to write a development one"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib names the position, never the text around it.
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return XgateConfig.model_validate(raw, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise config_error(exc, str(path)) from None


def dump_config(cfg: XgateConfig, *, header: str = "") -> str:
    """``cfg`` as TOML that ``load_config`` reads back to an equal config. ``header`` becomes
    comment lines at the top."""
    data = cfg.model_dump(mode="json", by_alias=True, exclude_none=True)
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comments + tomli_w.dumps(data)
