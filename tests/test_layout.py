"""The layout rules of ARCHITECTURE.md, checked: no import cycle among app modules (imports
inside functions count), no domain module loose at app/'s top level, and each package
importing only from its own floor or the floors below it."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _import_cycles_script():
    """bench/import_cycles.py, loaded as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("import_cycles",
                                                  ROOT / "bench" / "import_cycles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


import_cycles = _import_cycles_script()

#: What may sit loose at app/'s top level: the factory, settings, extensions, the CLI entry.
TOP_LEVEL_MODULES = {"app", "app.config", "app.extensions", "app.cli"}

#: Floors, lowest first (README, "Where things live"). A module may import modules on its
#: own floor or below; the most specific prefix names a module's floor.
FLOORS = {
    # 0: settings, schema, pure rules, and the unbound extensions
    "app.config": 0, "app.models": 0, "app.identity": 0, "app.extensions": 0,
    "app.oidc.authorization_server": 0, "app.platform.client_network": 0,
    # 1: outbound services, what every area stands on, the pure phone-risk rules
    "app.providers": 1, "app.platform": 1, "app.risk": 1,
    # 2: the customer records and the phones that can open them
    "app.directory": 2, "app.phones": 2,
    # 3: logging in and the authorization server
    "app.auth": 3, "app.oidc": 3,
    # 4: operations on a whole customer, composed of factors, sessions and apps
    "app.directory.identifier_changes": 4, "app.directory.customer_merge": 4,
    "app.directory.erasure": 4, "app.directory.data_export": 4,
    # 5: the surfaces: hosted pages, admin API, CLI, the demo and the factory
    "app.web": 5, "app.admin": 5, "app.cli": 5, "app.demo": 5, "app": 5,
}


def floor_of(module: str) -> int:
    """The floor of `module`: that of the longest FLOORS prefix naming it."""
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        prefix = ".".join(parts[:size])
        if prefix in FLOORS:
            return FLOORS[prefix]
    raise AssertionError(f"{module} has no floor: add its package to FLOORS")


def test_no_import_cycle_among_app_modules():
    graph = import_cycles.import_graph()
    assert import_cycles.cycles(graph) == []


def test_only_the_factory_config_extensions_and_cli_at_the_top_level():
    top = {name for name in import_cycles.app_modules()
           if name.count(".") <= 1 and not (ROOT / name.replace(".", "/")).is_dir()}
    assert top <= TOP_LEVEL_MODULES, sorted(top - TOP_LEVEL_MODULES)


def test_every_import_goes_to_the_same_floor_or_below():
    graph = import_cycles.import_graph()
    upward = sorted(f"{module} (floor {floor_of(module)}) -> {target} (floor {floor_of(target)})"
                    for module, targets in graph.items() for target in targets
                    if floor_of(target) > floor_of(module))
    assert upward == []
