"""The code's dependencies run the way the README's "Code layout" says, read from the source.

Layers, top to bottom: messaging -> numbers -> workspaces -> accounts -> messaging_platform. A module
imports only its own layer and those below; the domain (services, selectors and every other module
that is not an entry point) knows nothing of HTTP; the test helpers in messaging_platform/testing
serve only tests and benchmarks.
"""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["messaging_platform", "accounts", "workspaces", "numbers", "messaging"]  # bottom first
RANK = {name: rank for rank, name in enumerate(LAYERS)}

# messaging_platform's composition root: it wires every app together (URLs, ASGI routing, the
# Celery app, the embedded default's in-process beat), so it may name any of them.
COMPOSITION_ROOT = {
    "messaging_platform",
    "messaging_platform.settings",
    "messaging_platform.urls",
    "messaging_platform.asgi",
    "messaging_platform.wsgi",
    "messaging_platform.raw_entry",  # the WSGI application's hot paths: every layer's middlewares
    "messaging_platform.routing",
    "messaging_platform.celery",
    "messaging_platform.embedded_beat",
}

# Imports against the layers that are known and have an owner, each with its reason. Shrink it;
# never grow it without one.
# (module, the app it may import)
UPWARD_ALLOWED = {
    # The SMPP bind process runs the delivery engine's rounds (binds) and files receipts and
    # inbound parts through messaging's lifecycle and intake (store), and the codec counts segments
    # with messaging's encoder: the bind process is an entry point of its own, the encoder belongs
    # below both.
    ("numbers.providers.smpp.binds", "messaging"),
    ("numbers.providers.smpp.store", "messaging"),
    ("numbers.providers.smpp.codec", "messaging"),
    # The lean send path answers POST /api/messages itself: it belongs beside messaging/api.py.
    ("messaging_platform.api.lean", "workspaces"),
}

# Entry points: they take a request, a frame, a task or a command and call the domain. They may use
# HTTP (DRF); nothing else may.
_ENTRY_POINT = re.compile(
    r"(^|\.)(api|\w+_api|views|\w+_views|pages|responses|serializers|urls|admin|consumers|webhooks|"
    r"authentication|auth|scoping|schema|send_input|tasks|apps|management\.commands\.\w+)$"
    r"|^messaging(_platform)?\.routing$"
)  # WebSocket URL routing
# In messaging_platform/api but no part of HTTP: the per-process credential caches and the models.
_NOT_HTTP = ("messaging_platform.api.credentials", "messaging_platform.api.models")
_HTTP_MODULES = re.compile(r"^(rest_framework|drf_spectacular)(\.|$)")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (for `from x import y`: x, and x.y as well)
    line: int
    in_function: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _production_files() -> list[Path]:
    files = []
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts or parts[:2] == ("messaging_platform", "testing"):
                continue
            files.append(path)
    return files


def _exists(target: str) -> bool:
    base = ROOT / Path(*target.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists() or base.is_dir()


def _imports(path: Path) -> list[Import]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    # Imports under `if TYPE_CHECKING:` or `try:` at module level count as module level.
    for node in tree.body:
        if isinstance(node, (ast.If, ast.Try)):
            top_level.update(id(child) for child in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from package import module` imports the module; `from module import name`, the module.
            submodules = [
                f"{origin}.{alias.name}" for alias in node.names if _exists(f"{origin}.{alias.name}")
            ]
            targets = submodules or [origin]
        for target in targets:
            found.append(Import(module, target, node.lineno, id(node) not in top_level))
    return found


ALL_IMPORTS = [imp for path in _production_files() for imp in _imports(path)]


def _first_party(target: str) -> bool:
    return target.split(".")[0] in RANK and (ROOT / target.split(".")[0]).is_dir()


def test_the_source_is_read():
    modules = {imp.module for imp in ALL_IMPORTS}
    assert {
        "messaging.sending",
        "numbers.services",
        "workspaces.services",
        "accounts.services",
        "messaging_platform.api.exceptions",
    } <= modules


def test_every_import_goes_to_its_own_layer_or_below():
    wrong = sorted(
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if _first_party(imp.target)
        and _exists(imp.target)
        and RANK[imp.target.split(".")[0]] > RANK[imp.module.split(".")[0]]
        and imp.module not in COMPOSITION_ROOT
        and (imp.module, imp.target.split(".")[0]) not in UPWARD_ALLOWED
    )
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def _is_http(target: str) -> bool:
    if _HTTP_MODULES.match(target):
        return True
    if not (_first_party(target) and _exists(target)):
        return False
    if target.startswith("messaging_platform.api."):
        return not target.startswith(_NOT_HTTP)
    # Tasks are entry points, but domain code may enqueue them.
    return bool(_ENTRY_POINT.search(target)) and not target.endswith((".tasks", ".apps"))


def test_no_domain_module_knows_http():
    domain = {
        imp.module
        for imp in ALL_IMPORTS
        if not _ENTRY_POINT.search(imp.module)
        and not imp.module.startswith("messaging_platform.api")
        and imp.module not in COMPOSITION_ROOT
    }
    wrong = sorted(
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if imp.module in domain and _is_http(imp.target)
    )
    assert not wrong, "domain modules that depend on the HTTP layer:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", ["services", "selectors"])
def test_no_service_or_selector_imports_rest_framework(name):
    offenders = sorted(
        {
            imp.module
            for imp in ALL_IMPORTS
            if imp.module.split(".")[-1] == name and _HTTP_MODULES.match(imp.target)
        }
    )
    assert not offenders


def test_nothing_in_production_imports_the_test_helpers():
    wrong = sorted(
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if imp.target.startswith(("messaging_platform.testing", "bench"))
    )
    assert not wrong, "\n".join(wrong)


def test_another_app_is_imported_at_module_level():
    """A function-level import of another app hides a dependency (or dodges a cycle the layers
    forbid). AppConfig.ready and the composition root import what must wait for the registry."""
    wrong = sorted(
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if imp.in_function
        and _first_party(imp.target)
        and imp.target.split(".")[0] != imp.module.split(".")[0]
        and not imp.module.endswith(".apps")
        and imp.module not in COMPOSITION_ROOT
        and (imp.module, imp.target.split(".")[0]) not in UPWARD_ALLOWED | FUNCTION_LEVEL_ALLOWED
    )
    assert not wrong, "function-level imports of another app:\n" + "\n".join(wrong)


# Function-level imports of another app that are there for a reason other than a cycle.
FUNCTION_LEVEL_ALLOWED = {
    # Imported by the ASGI server's metrics middleware before the app registry is ready.
    ("messaging.operations.metrics", "numbers"),
    # The delivery engine loads Twilio's keep-alive pools and failover routes only when used.
    ("messaging.dispatch.loop", "numbers"),
    ("messaging.dispatch.round", "numbers"),
}


def test_only_url_configurations_import_views():
    """Page helpers live in workspaces/pages.py: a view never imports another app's views."""
    wrong = sorted(
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if _first_party(imp.target)
        and re.search(r"(^|\.)(\w+_)?views$", imp.target)
        and not imp.module.endswith("urls")
        and imp.module not in COMPOSITION_ROOT
    )
    assert not wrong, "\n".join(wrong)
