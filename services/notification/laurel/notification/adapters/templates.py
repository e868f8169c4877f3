"""Reading the template catalog from its YAML file, once, at start-up.

The domain renders from a `Catalog` it is handed; only this adapter touches
the file. A broken file raises `TemplateError` here, which the bootstrap turns
into a refusal to start.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from laurel.notification.domain.templates import Catalog, parse_catalog

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "templates.yaml"
# libyaml's loader when PyYAML was built with it: four times faster than the
# pure-Python one, and the same safe subset of YAML.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_catalog(path: Path = DEFAULT_PATH) -> Catalog:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506
    return parse_catalog(data, source=str(path))
