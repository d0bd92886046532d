"""Built-in models, by the name the CLI and `checker.check` take."""
from __future__ import annotations

from checker.model import Model
from checker.models import values
from checker.models.cas_register import CAS_REGISTER
from checker.models.kv import KV

MODELS: dict[str, Model] = {m.name: m for m in (CAS_REGISTER, KV)}


_NO_VALUE = object()


def get(model, initial=_NO_VALUE) -> Model:
    """A model by name (or itself); `initial` replaces a built-in model's initial value."""
    if not isinstance(model, Model):
        try:
            model = MODELS[model]
        except KeyError:
            raise ValueError(f"unknown model {model!r} (built-in: {', '.join(MODELS)})") from None
    if initial is _NO_VALUE:
        return model
    b = base(model)
    if b is None:
        raise ValueError(f"--initial-value is for the built-in models ({', '.join(MODELS)}), not {model.name}")
    return _with_initial(b, initial)


def base(model: Model):
    """The built-in model `model` is (or is derived from), else None."""
    name = getattr(model, "name", None)
    b = MODELS.get(name)
    return b if b is not None and model.step is b.step else None


def _with_initial(b: Model, initial) -> Model:
    import dataclasses
    import functools

    from checker.models import cas_register, kv

    if b is CAS_REGISTER:
        v = values.canon(initial)
        return dataclasses.replace(b, init=functools.partial(_const, v),
                                   encode=functools.partial(cas_register.encode, init=v))
    text = kv.text(initial)
    return dataclasses.replace(b, init=functools.partial(_const, text),
                               encode=functools.partial(kv.encode, init=text))


def _const(v):
    return v
