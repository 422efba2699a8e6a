"""``varbench info``: versions, backend, devices, the settings in force and the compilation cache."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from varbench.cli._common import FORMATS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``info`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("info", help="versions, backend, devices and the compilation cache in use")
    parser.add_argument("--format", choices=FORMATS, default="table")
    return parser


def _settings() -> dict[str, Any]:
    """The settings in force (:func:`varbench.configure`), as plain data."""
    from varbench.engine import settings

    return {"settings": dataclasses.asdict(settings.current())}


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def run(args: argparse.Namespace) -> int:
    """Print the facts (``name: value`` lines, or one JSON object); returns 0."""
    import jax

    from varbench import __version__
    from varbench.engine import compile_cache, compile_tier, exported_kernels, kernel_cache
    facts = {"varbench": __version__, "jax": jax.__version__, "backend": jax.default_backend(),
             "devices": [str(d) for d in jax.devices()], **_settings(), **compile_cache.info(),
             **exported_kernels.info(), **compile_tier.info(), **kernel_cache.info()}
    if args.format == "json":
        print(json.dumps(facts))
    else:
        for key, value in facts.items():
            print(f"{key:>18}: {_text(value)}")
    return 0
