"""The rules: one module each. Importing a module registers its rule (`registry.register`);
`discover()` imports every module in this package, so a new rule needs nothing else."""

from __future__ import annotations

import importlib
import pkgutil


def discover() -> list[str]:
    names = []
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        importlib.import_module(f"{__name__}.{module.name}")
        names.append(module.name)
    return names
