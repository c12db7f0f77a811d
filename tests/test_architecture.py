"""The shape the code must keep: the core (bot/) knows no feature, holds only core settings and no service locator;
each feature is one package, one name, found through pyproject.toml's entry points; every button's action id is
registered by its feature's router; no module under bot/, handlers/ or cards/ reaches itself through its imports."""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import cards.common
from bot.config import Settings
from bot.lifecycle.features import ENTRY_POINT_GROUP, Feature, discover
from bot.routing import protocol

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "bot"
CARDS = ROOT / "cards"
# Card pieces every feature shares; every other module in cards/ belongs to one feature.
SHARED_CARDS = {"__init__", "common", "safe", "text"}

CORE_SETTINGS = {
    "feishu_app_id",
    "feishu_app_secret",
    "feishu_verification_token",
    "feishu_encrypt_key",
    "feishu_base_url",
    "hrbot_public_url",
    "hrbot_host",
    "hrbot_port",
    "hrbot_database_url",
    "hrbot_redis_url",
    "hrbot_timezone",
    "hrbot_log_level",
    "hrbot_log_format",
    "hrbot_max_concurrency",
    "hrbot_action_timeout",
    "hrbot_dedup_retention_hours",
    "hrbot_sandbox_port",
    "hrbot_max_request_age",
    "hrbot_console_public",
    "hrbot_max_connections",
    "hrbot_ws_watchdog_pings",
    "hrbot_ws_watchdog_max_seconds",
    "hrbot_ws_unready_after_seconds",
    "hrbot_cache_hours",
    "hrbot_hr_open_ids",
    "hrbot_hr_chat_id",
    "hrbot_managers_chat_id",
    "hrbot_managers",
    "hrbot_admins",
    "hrbot_audit_retention_days",
    "hrbot_dialog_retention_days",
    "hrbot_quota_user_daily",
    "hrbot_quota_chat_daily",
    "hrbot_breaker_failures",
    "hrbot_breaker_cooldown_seconds",
    "hrbot_ledger_retention_days",
    "hrbot_metrics_host",
    "hrbot_metrics_port",
}


def declared_features() -> dict[str, str]:
    """pyproject.toml's `hrbot.features` entry points: name → "module:attribute"."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return dict(project["entry-points"][ENTRY_POINT_GROUP])


FEATURE_NAMES = sorted(declared_features())
FEATURE_CARDS = {f"cards.{path.stem}" for path in CARDS.glob("*.py")} - {f"cards.{m}" for m in SHARED_CARDS}


# Imports -------------------------------------------------------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """Every module `source` imports, anywhere in it (functions and `if TYPE_CHECKING:` blocks too), with its
    line: `import a.b`, `from a import b` (as `a` and `a.b`), relative imports resolved against `module`, and
    `importlib.import_module("...")` / `__import__("...")` with a literal name."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                if isinstance(first.value, str):
                    yield node.lineno, first.value


def is_forbidden_in_core(name: str) -> bool:
    return (
        name == "handlers"
        or name.startswith("handlers.")
        or any(name == m or name.startswith(f"{m}.") for m in FEATURE_CARDS)
    )


def core_violations(path: Path, source: str) -> list[str]:
    module = module_name(path) if path.is_relative_to(ROOT) else path.stem
    is_package = path.name == "__init__.py"
    return [
        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line} imports {name}"
        for line, name in imported_modules(source, module, is_package)
        if is_forbidden_in_core(name)
    ]


def test_the_core_imports_no_feature() -> None:
    """Nothing under bot/ (sandbox, console and migrations included) imports handlers or a feature's cards."""
    core_files = sorted(CORE.rglob("*.py"))
    assert {
        CORE / "sandbox" / "compose.py",
        CORE / "console" / "server.py",
        CORE / "state" / "migrations" / "env.py",
    } <= set(core_files)
    violations = [v for path in core_files for v in core_violations(path, path.read_text(encoding="utf-8"))]
    assert violations == []


def test_the_import_scan_sees_every_way_of_importing() -> None:
    """The scan above must not pass for want of looking: each of these lines is one violation."""
    snippets = [
        "import handlers",
        "import handlers.four_factors.state as state",
        "from handlers import help",
        "from handlers.micro_ent.router import poll_round",
        "from cards import four_factors",
        "from cards.personal_social import city_card",
        "import cards.adjust_records",
        "def later():\n    from handlers.four_factors import feature\n    return feature",
        "class Lazy:\n    def load(self):\n        import cards.micro_ent\n        return cards.micro_ent",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from handlers.help.router import router",
        "import importlib\nimportlib.import_module('handlers.enterprise_social')",
        "__import__('cards.enterprise_social')",
    ]
    for snippet in snippets:
        found = core_violations(CORE / "sandbox" / "probe.py", snippet)
        assert len(found) >= 1, snippet
    allowed = "from cards.text import card_text\nfrom cards.common import card\nimport bot.features\nfrom . import feishu"
    assert core_violations(CORE / "sandbox" / "probe.py", allowed) == []


def test_every_cards_module_but_the_shared_ones_belongs_to_a_feature() -> None:
    """One name per feature: a feature's cards module is named after it (so the core check above knows it)."""
    assert {m.removeprefix("cards.") for m in FEATURE_CARDS} <= set(FEATURE_NAMES)
    assert "cards.four_factors" in FEATURE_CARDS and "cards.text" not in FEATURE_CARDS


# Core settings and no service locator -------------------------------------------------------------------------------
def test_core_settings_hold_only_core_settings() -> None:
    """A feature's setting belongs in its own settings model (handlers/<feature>/settings.py), not here."""
    assert set(Settings.model_fields) == CORE_SETTINGS


def test_no_service_locator() -> None:
    """Handlers and jobs get their services as an argument; there is no module-level `runtime.current()`."""
    assert not (CORE / "runtime.py").exists()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("bot.runtime")
    users = [
        f"{path.relative_to(ROOT)}:{line}"
        for folder in ("bot", "handlers", "cards")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, name in imported_modules(path.read_text(encoding="utf-8"), module_name(path))
        if name == "bot.runtime" or name.startswith("bot.runtime.")
    ]
    assert users == []


# Features: found by entry point, one name ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_each_entry_point_loads_a_feature_named_after_its_package(name: str) -> None:
    target = declared_features()[name]
    module_path, _, attribute = target.partition(":")
    assert module_path == f"handlers.{name}" and attribute == "feature", target
    feature = getattr(importlib.import_module(module_path), attribute)
    assert isinstance(feature, Feature)
    assert feature.router.name == feature.name == name
    assert (ROOT / "handlers" / name / "__init__.py").is_file()


def test_discovery_finds_what_pyproject_declares() -> None:
    """What the app runs (`discover()`, from the installed metadata) is what pyproject.toml declares; if this
    fails after editing pyproject.toml, reinstall (`pip install -e .`)."""
    installed = {entry.name: entry.value for entry in entry_points(group=ENTRY_POINT_GROUP)}
    assert installed == declared_features()
    assert sorted(feature.name for feature in discover()) == FEATURE_NAMES


# Card action ids --------------------------------------------------------------------------------------------------
def button_action_ids(source: str) -> set[str]:
    """The action ids a cards module puts on buttons: the first argument of each `action_value(...)` call, a
    literal or a module-level string constant."""
    tree = ast.parse(source)
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "action_value":
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                ids.add(first.value)
            else:
                assert isinstance(first, ast.Name) and first.id in constants, ast.unparse(node)
                ids.add(constants[first.id])
    return ids


def test_buttons_carry_the_action_id_under_the_cores_key() -> None:
    assert cards.common.action_value("x.y", v=1) == protocol.action_value("x.y", v=1)
    assert cards.common.action_value("x.y")[protocol.ACTION_KEY] == "x.y"


@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_every_button_of_a_feature_is_registered_by_its_router(name: str) -> None:
    path = CARDS / f"{name}.py"
    used = button_action_ids(path.read_text(encoding="utf-8")) if path.exists() else set()
    router = importlib.import_module(f"handlers.{name}").feature.router
    assert all(action_id.startswith(f"{name}.") for action_id in used), used
    assert used <= set(router.actions), f"buttons without a handler: {used - set(router.actions)}"
    # And the other way round: every action the router answers under its own name has a button.
    assert {a.id for a in router.actions.values()} == used


def test_the_button_scan_finds_ids_however_they_are_written() -> None:
    source = 'GO = "demo.go"\ndef c():\n    return [action_value(GO, v=1), action_value("demo.stop")]\n'
    assert button_action_ids(source) == {"demo.go", "demo.stop"}
    assert button_action_ids((CARDS / "four_factors.py").read_text(encoding="utf-8")) == {
        "four_factors.submit",
        "four_factors.verify",
        "four_factors.reject",
        "four_factors.new",
        "four_factors.withdraw",
        "four_factors.agree",
        "four_factors.refuse",
    }


# The architecture doc -------------------------------------------------------------------------------------------
DOC = ROOT / "docs" / "architecture.md"


def defined_names() -> set[str]:
    """Every module, class, function and attribute name defined in the product's code."""
    names: set[str] = set()
    for folder in ("bot", "handlers", "cards"):
        for path in (ROOT / folder).rglob("*.py"):
            names.update(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(node.name)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
                elif isinstance(node, ast.arg):
                    names.add(node.arg)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    names.add(node.attr)
    return names


def test_the_docs_message_path_names_what_exists() -> None:
    """The functions, classes and files the doc walks a message through are still there."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## One message", 1)[1].split("\n## ", 1)[0]
    names = defined_names()
    missing = []
    for token in re.findall(r"`([^`]+)`", section):
        if "/" in token and token.split()[0].endswith(".py"):
            if not (ROOT / token.split()[0]).is_file():
                missing.append(token)
            continue
        if ":" in token and re.fullmatch(r"[\w.]+:\w+", token):
            module, _, attribute = token.partition(":")
            if not hasattr(importlib.import_module(module), attribute):
                missing.append(token)
            continue
        dotted = re.match(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", token)
        if dotted is None or token.isupper() or "/" in token:
            continue
        missing += [f"{part} (in `{token}`)" for part in dotted.group().split(".") if part not in names]
    assert missing == []
    assert "Webhook.handle" in section and "MessageContext.reply" in section  # the scan did look


# No circles --------------------------------------------------------------------------------------------------------
def import_graph(*folders: str) -> dict[str, set[str]]:
    """Module → the modules of `folders` it imports, anywhere in it (`if TYPE_CHECKING:` blocks too: a reader has
    to hold those in mind as well). `from a import b` counts as importing `a.b` where that is a module, else `a`."""
    paths = {module_name(path): path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        targets = set()
        for _line, name in imported_modules(
            path.read_text(encoding="utf-8"), module, path.name == "__init__.py"
        ):
            while name and name not in paths:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_in_the_core_or_the_features() -> None:
    """A reader can start anywhere: no module under bot/ or handlers/ reaches itself through its imports."""
    assert circles(import_graph("bot", "handlers", "cards")) == []


def test_the_circle_check_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_an_entry_point_listed_twice_is_one_feature(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip replacing an editable install while a bot starts leaves two metadata copies for a moment."""
    import bot.lifecycle.features as features

    listed = list(entry_points(group=ENTRY_POINT_GROUP))
    monkeypatch.setattr(features, "entry_points", lambda group: listed + listed)
    assert sorted(feature.name for feature in discover()) == FEATURE_NAMES
