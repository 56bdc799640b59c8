"""Which module may import which (docs/architecture.md, "Layers"): checked on the source, by
parsing every import with ``ast``. A failure names ``file:line`` and the rule it breaks.

1. In ``controller``: ``core`` imports only ``core``, ``loa`` and ``controller.i18n``;
   ``domain`` adds ``schedules`` and ``audio``; ``services`` adds ``domain``; ``api`` and
   ``web`` add ``services``, and neither imports the other's modules (the pages may use the
   API modules that hold no route: ``api.deps``, who is asking, and ``api.models``, request
   bodies); ``app``, ``cli`` and ``demo`` are on top. ``core``, ``domain`` and ``services``
   never import FastAPI or Starlette.
2. ``loa`` imports nothing else of the project; ``node_agent`` only ``loa``; ``schedules``
   and ``audio`` never import ``controller`` or ``node_agent``.
3. In ``controller``, an import inside a function body is allowed only in a ``cli.py`` (whose
   parser must load with argparse alone) or with a ``# lazy: <reason>`` comment on its line
   or the line above (a heavy dependency only some calls need).

Imports under ``if TYPE_CHECKING:`` count: a type from a higher layer is still an arrow up.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("loa", "controller", "node_agent", "audio", "schedules")
PROJECT = (*PACKAGES, "tests", "bench")
WEB_FRAMEWORKS = ("fastapi", "starlette")

#: controller layer -> the layers it may import (besides itself, loa and third parties).
ALLOWED: dict[str, set[str]] = {
    "core": {"core", "i18n"},
    "i18n": {"i18n"},
    "domain": {"core", "i18n", "domain", "schedules", "audio"},
    "services": {"core", "i18n", "domain", "services", "schedules", "audio"},
    "api": {"core", "i18n", "domain", "services", "api", "schedules", "audio"},
    "web": {
        "core",
        "i18n",
        "domain",
        "services",
        "web",
        *{f"api.{m}" for m in ("deps", "models")},
        "schedules",
        "audio",
    },
    "top": {
        "core",
        "i18n",
        "domain",
        "services",
        "api",
        "web",
        "top",
        "schedules",
        "audio",
    },
}
NO_WEB_FRAMEWORK = {"core", "i18n", "domain", "services"}
#: The API's modules that hold no route (the pages may import them).
API_PLUMBING = ("deps", "models")
#: What each other package may import of the project.
PACKAGE_ALLOWED = {
    "loa": {"loa"},
    "node_agent": {"loa", "node_agent"},
    "schedules": {"loa", "schedules"},
    "audio": {"loa", "audio", "schedules"},
}
LAZY = re.compile(r"#\s*lazy:\s*\S")


@dataclass(frozen=True)
class Import:
    path: Path  # relative to the root
    line: int
    module: str  # the full dotted name imported (for ``from a import b``: a.b when b is a module)
    in_function: bool
    reason: bool  # a ``# lazy:`` comment on its line or the line above


def module_name(path: Path) -> str:
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(root: Path, path: Path) -> Iterator[Import]:
    """Every import statement of a file, with its absolute dotted name(s)."""
    source = (root / path).read_text()
    lines = source.splitlines()
    tree = ast.parse(source, str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    functions: list[tuple[int, int]] = [
        (n.body[0].lineno, n.end_lineno or n.lineno)
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            # ``from controller.core import db``: the module imported is controller.core.db
            names = [
                f"{base}.{a.name}" if _is_module(root, f"{base}.{a.name}") else base
                for a in node.names
            ]
        else:
            continue
        inside = any(start <= node.lineno <= end for start, end in functions)
        here = lines[node.lineno - 1]
        above = lines[node.lineno - 2] if node.lineno > 1 else ""
        reason = bool(LAZY.search(here) or LAZY.search(above))
        for name in dict.fromkeys(names):
            yield Import(path, node.lineno, name, inside, reason)


def _is_module(root: Path, dotted: str) -> bool:
    p = root.joinpath(*dotted.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def controller_layer(dotted: str) -> str:
    """``controller.domain.zones`` -> ``domain``; app, cli, demo and the package -> ``top``."""
    parts = dotted.split(".")
    if len(parts) < 2 or parts[1] in ("app", "cli", "demo"):
        return "top"
    if parts[1] == "api" and len(parts) > 2 and parts[2] in API_PLUMBING:
        return f"api.{parts[2]}"
    return parts[1]


def target_layer(dotted: str) -> str | None:
    """What an imported name belongs to: a controller layer, another package, or None (not
    the project's)."""
    top = dotted.split(".")[0]
    if top == "controller":
        return controller_layer(dotted)
    if top in PACKAGES:
        return top
    return None


def violations(root: Path = ROOT) -> list[str]:
    """Every import that breaks a rule, as ``file:line: what (rule)``."""
    found: list[str] = []
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            path = file.relative_to(root)
            if "__pycache__" in path.parts:
                continue
            me = module_name(path)
            for imp in imports(root, path):
                found += _check(me, imp)
    return found


def _check(me: str, imp: Import) -> list[str]:
    where = f"{imp.path}:{imp.line}: {me} imports {imp.module}"
    out: list[str] = []
    package = me.split(".")[0]
    target = target_layer(imp.module)
    first = imp.module.split(".")[0]
    if package == "controller":
        layer = controller_layer(me).split(".")[0]  # api.deps is the API's
        allowed = ALLOWED[layer] | {"loa"}
        plumbing = target is not None and target.startswith("api.") and "api" in allowed
        if target is not None and target not in allowed and not plumbing:
            out.append(f"{where} (rule 1: {layer} may import only {sorted(allowed)})")
        if layer in NO_WEB_FRAMEWORK and first in WEB_FRAMEWORKS:
            out.append(f"{where} (rule 1: {layer} never imports FastAPI or Starlette)")
        if imp.in_function and imp.path.name != "cli.py" and not imp.reason:
            out.append(
                f"{where} inside a function (rule 3: only in cli.py, or with a "
                "'# lazy: <reason>' comment for a heavy dependency)"
            )
    elif package in PACKAGE_ALLOWED and target is not None and not _may(package, target):
        allowed = sorted(PACKAGE_ALLOWED[package])
        out.append(f"{where} (rule 2: {package} may import only {allowed} of the project)")
    return out


def cycles(root: Path = ROOT) -> list[list[str]]:
    """Groups of controller modules that import each other, directly or around a loop (any
    import, in a function body too): each group sorted, largest first."""
    graph: dict[str, set[str]] = {}
    for file in sorted((root / "controller").rglob("*.py")):
        me = module_name(file.relative_to(root))
        for imp in imports(root, file.relative_to(root)):
            internal = imp.module.startswith("controller.") and imp.module != me
            if internal and _is_module(root, imp.module):
                graph.setdefault(me, set()).add(imp.module)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found, key=len, reverse=True)


def test_no_two_controller_modules_import_each_other() -> None:
    """The loops the flat layout hid in function bodies (fleet<->metrics, streams<->broadcasts,
    provisioning<->cli) stay broken, and no new one comes."""
    found = cycles()
    assert not found, "controller modules that import each other:\n" + "\n".join(
        " <-> ".join(group) for group in found
    )


def test_checker_finds_a_loop(tmp_path: Path) -> None:
    loop = {
        **GOOD,
        "controller/domain/zones.py": "from controller.domain import fleet\n",
        "controller/domain/fleet.py": (
            "def f():\n    # lazy: a test\n    from controller.domain import zones\n"
        ),
    }
    assert cycles(_tree(tmp_path, loop)) == [["controller.domain.fleet", "controller.domain.zones"]]


def _may(package: str, target: str) -> bool:
    return target.split(".")[0] in PACKAGE_ALLOWED[package]


def test_imports_follow_the_layers() -> None:
    found = violations()
    assert not found, "imports against docs/architecture.md's layers:\n" + "\n".join(found)


# --- the checker itself fails on a bad import ---------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
    return tmp_path


GOOD = {
    "controller/__init__.py": "",
    "controller/core/__init__.py": "",
    "controller/core/db.py": "import sqlite3\nfrom loa.protocol import utcnow\n",
    "controller/domain/__init__.py": "",
    "controller/domain/zones.py": "from controller.core import db\nimport schedules\n",
    "controller/api/__init__.py": "",
    "controller/api/deps.py": "from fastapi import Request\n",
    "controller/api/zones.py": "from controller.domain import zones\n",
    "controller/web/__init__.py": "",
    "controller/web/zones.py": "from controller.api.deps import Request\n",
    "controller/cli.py": "def run():\n    from controller.app import create_app\n",
    "loa/__init__.py": "",
    "loa/protocol.py": "import json\n",
    "node_agent/__init__.py": "",
    "node_agent/agent.py": "from loa import protocol\n",
}


def test_checker_passes_a_tree_that_keeps_the_rules(tmp_path: Path) -> None:
    assert violations(_tree(tmp_path, GOOD)) == []


def test_checker_names_each_bad_import(tmp_path: Path) -> None:
    bad = {
        **GOOD,
        # core reaching up to the API (rule 1)
        "controller/core/db.py": "import sqlite3\nfrom controller.api import zones\n",
        # the domain using a web framework (rule 1)
        "controller/domain/zones.py": "from controller.core import db\nfrom fastapi import Body\n",
        # a web page importing an API router (rule 1)
        "controller/web/zones.py": "from controller.api.zones import zones\n",
        # the node agent importing the controller (rule 2)
        "node_agent/agent.py": "from loa import protocol\nimport controller.core.db\n",
        # a hidden import in a function body, with no reason (rule 3)
        "controller/api/zones.py": (
            "from controller.domain import zones\n\n\ndef f():\n    from controller.core import x\n"
        ),
    }
    found = violations(_tree(tmp_path, bad))
    assert [f.split(" imports ")[0] for f in found] == [
        "controller/api/zones.py:5: controller.api.zones",
        "controller/core/db.py:2: controller.core.db",
        "controller/domain/zones.py:2: controller.domain.zones",
        "controller/web/zones.py:1: controller.web.zones",
        "node_agent/agent.py:2: node_agent.agent",
    ], found
    assert "rule 3" in found[0] and "rule 1" in found[1] and "FastAPI" in found[2]
    assert "rule 2" in found[4]


def test_a_lazy_import_with_its_reason_is_allowed(tmp_path: Path) -> None:
    files = {
        **GOOD,
        "controller/domain/zones.py": (
            "def f():\n    from audio import render  # lazy: numpy and the engines, 0.5 s\n"
        ),
    }
    assert violations(_tree(tmp_path, files)) == []


def test_the_check_fails_as_a_test_on_a_planted_import(tmp_path: Path) -> None:
    """Run this file's test on a copy of the tree with one bad import planted: pytest fails and
    prints the offending file:line."""
    tree = _tree(
        tmp_path,
        {**GOOD, "controller/core/db.py": "from controller.web import zones\n"},
    )
    (tree / "tests").mkdir()
    (tree / "tests" / "test_layers.py").write_text(Path(__file__).read_text())
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "tests/test_layers.py::test_imports_follow_the_layers",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "controller/core/db.py:1: controller.core.db imports controller.web.zones" in run.stdout


if __name__ == "__main__":
    print("\n".join(violations()) or "no violations")


#: What only ``domain`` (and ``core``) may do with the database: run SQL, open a transaction,
#: reach a table or the raw connection. ``api`` and ``web`` call domain functions named for
#: what they do, so a rule of the commune is never written twice (docs/architecture.md).
DATABASE_CALLS = {"execute", "executemany", "executescript", "query", "transaction"}
DATABASE_NAMES = {"table", "insert", "transaction"}


def database_use(root: Path = ROOT) -> list[str]:
    """``file:line`` of every database call in ``controller/api`` and ``controller/web``."""
    found = []
    for layer in ("api", "web"):
        for path in sorted((root / "controller" / layer).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                what = None
                if isinstance(node, ast.Call):
                    func = node.func
                    if isinstance(func, ast.Attribute) and func.attr in DATABASE_CALLS:
                        what = f".{func.attr}()"
                    elif isinstance(func, ast.Name) and func.id in DATABASE_NAMES:
                        what = f"{func.id}()"
                elif isinstance(node, ast.Attribute) and node.attr == "conn":
                    what = ".conn"
                if what:
                    rel = path.relative_to(root)
                    found.append(f"{rel}:{node.lineno}: {what} (database work belongs in domain/)")
    return found


def test_api_and_web_leave_the_database_to_the_domain() -> None:
    assert database_use() == []


def test_database_check_names_sql_in_a_route(tmp_path: Path) -> None:
    route = tmp_path / "controller" / "api" / "things.py"
    route.parent.mkdir(parents=True)
    (tmp_path / "controller" / "web").mkdir()
    route.write_text(
        "def read(db):\n    with db.conn:\n        return db.execute('SELECT 1').fetchone()\n"
    )
    assert database_use(tmp_path) == [
        "controller/api/things.py:2: .conn (database work belongs in domain/)",
        "controller/api/things.py:3: .execute() (database work belongs in domain/)",
    ]
