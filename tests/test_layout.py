"""The shape of bot/: no module imports itself back through others (imports inside functions
count too, so a cycle cannot hide in one), and no module grows past a size a newcomer can read."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.config import PROJECT_ROOT

BOT = PROJECT_ROOT / "bot"
MAX_LINES = 600

# Modules over MAX_LINES, each with the reason it is still one file. Keep this short: split a
# module rather than add it here.
LONG_MODULES: dict[str, str] = {}


def _name(path: Path) -> str:
    """bot/domain/tickets/views.py → bot.domain.tickets.views; a package is its __init__."""
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_name(path): path for path in sorted(BOT.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The bot modules that `name` imports, anywhere in its file, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from bot.domain import tickets` imports the module bot.domain.tickets.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # `import bot.domain.tickets.views` names a module; a name inside one counts as it.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as the modules along it (the first repeated at the end)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_module_of_bot_imports_itself_back() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    # Only the imports written count: that Python runs a package's __init__ before a module in it
    # is no edge here, so a package face may hand on names of its own modules.
    cycle = _cycle(graph)
    assert cycle is None, "an import cycle in bot/: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_of_bot_is_too_long_to_read() -> None:
    lengths = {str(path.relative_to(PROJECT_ROOT)): len(path.read_text(encoding="utf-8")
                                                         .splitlines())
               for path in BOT.rglob("*.py")}
    too_long = sorted(name for name, lines in lengths.items()
                      if lines > MAX_LINES and name not in LONG_MODULES)
    assert not too_long, f"over {MAX_LINES} lines, and not in LONG_MODULES: {too_long}"
    # An entry that has come down to size is dropped, so that the list stays honest.
    shrunk = sorted(name for name in LONG_MODULES if lengths.get(name, 0) <= MAX_LINES)
    assert not shrunk, f"no longer over {MAX_LINES} lines, drop from LONG_MODULES: {shrunk}"
