"""Built-in models, by the name the CLI and `checker.check` take."""
from __future__ import annotations

from checker.model import Model
from checker.models.cas_register import CAS_REGISTER
from checker.models.kv import KV

MODELS: dict[str, Model] = {m.name: m for m in (CAS_REGISTER, KV)}


def get(model) -> Model:
    if isinstance(model, Model):
        return model
    try:
        return MODELS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r} (built-in: {', '.join(MODELS)})") from None
