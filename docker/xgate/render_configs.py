"""Write each compose service's xgate config: the deployed base config plus its overlay.

    python render_configs.py BASE.toml OVERLAYS_DIR OUT_DIR

For every ``OVERLAYS_DIR/<service>.toml``, writes ``OUT_DIR/<service>.toml``: BASE with the
overlay's tables merged in (an overlay key replaces the base's value; tables merge key by key),
then checks it with xgate's config loader (``gateway.config.load_config``) and exits 1 naming
the first file that does not load. Run by deploy.sh after ``xgate deploy`` has written the
contracts into BASE; tests/ops/test_compose.py runs ``merge`` on the committed files.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import tomli_w


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` merged in: tables key by key, anything else replaced."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def render(base_file: Path, overlays: Path, out_dir: Path) -> list[Path]:
    from gateway.config import load_config

    base = tomllib.loads(base_file.read_text(encoding="utf-8"))
    written = []
    for overlay_file in sorted(overlays.glob("*.toml")):
        overlay = tomllib.loads(overlay_file.read_text(encoding="utf-8"))
        target = out_dir / overlay_file.name
        header = f"# Written by render_configs.py: {base_file.name} + {overlay_file.name}\n"
        target.write_text(header + tomli_w.dumps(merge(base, overlay)), encoding="utf-8")
        load_config(target)  # raises ConfigError naming the file and every problem
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    from adapters.errors import ConfigError

    try:
        for path in render(Path(argv[0]), Path(argv[1]), Path(argv[2])):
            print(f"wrote {path}")
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
