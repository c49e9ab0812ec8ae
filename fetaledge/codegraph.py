"""The static import graph of ``fetaledge`` and ``quantize`` (read with ``ast``; imports inside functions count).

Two users: the build's stage cache (a stage's code is the import closure of the module that defines its ``run``,
so an edit anywhere in that closure re-runs the stage) and the layering test (no cycles, bench never imports
build, the runtime never reaches torch, quantize never imports fetaledge).

Example:
    >>> g = import_graph()
    >>> "fetaledge.errors" in g.closure(["fetaledge.fsio"])
    True
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fetaledge.errors import FetaledgeError

PACKAGES = ("fetaledge", "quantize")


def package_root(package: str) -> Path:
    """The folder Python imports ``package`` from."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FetaledgeError(f"package {package!r} is not importable")
    return Path(spec.origin).parent


def read_source(path: Path) -> bytes:
    """The bytes of one source file (the one place the graph reads files; tests patch it to edit a file)."""
    return Path(path).read_bytes()


def _module_name(package: str, root: Path, f: Path) -> str:
    parts = [package, *f.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_names(module: str, is_package: bool, tree: ast.AST) -> list[str]:
    """Every name an ``import`` / ``from ... import`` anywhere in ``tree`` may refer to, made absolute."""
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            out.append(base)
            out += [f"{base}.{a.name}" for a in node.names if a.name != "*"]
    return out


@dataclass(frozen=True)
class ImportGraph:
    """``files``: module -> source file; ``edges``: module -> the modules it imports (own packages: the module
    file a name resolves to; anything else: the imported name as written, e.g. ``torch.nn``); ``discovered``:
    registry package -> the modules it imports at run time by listing its folder (followed by :meth:`closure`,
    so a stage's fingerprint covers them; not import edges, so not part of :meth:`cycles`)."""

    files: dict[str, Path]
    edges: dict[str, frozenset[str]]
    discovered: dict[str, frozenset[str]] = dataclasses.field(default_factory=dict)

    def internal(self, module: str) -> frozenset[str]:
        """The imports of ``module`` that are modules of the graph's packages."""
        return frozenset(m for m in self.edges[module] if m in self.files)

    def closure(self, seeds: Iterable[str], parents: bool = True) -> set[str]:
        """Every module of the graph reachable from ``seeds`` (including them). ``parents``: also the packages
        above each module, whose ``__init__`` runs on import."""
        todo, seen = [s for s in seeds], set()
        for s in todo:
            if s not in self.files:
                raise FetaledgeError(f"module {s!r} is not part of {', '.join(PACKAGES)}")
        while todo:
            m = todo.pop()
            if m in seen:
                continue
            seen.add(m)
            todo += self.internal(m)
            todo += self.discovered.get(m, ())
            if parents and "." in m:
                todo.append(m.rpartition(".")[0])
        return seen

    def external(self, modules: Iterable[str]) -> set[str]:
        """The imports of ``modules`` from outside the graph's packages (as written)."""
        return {e for m in modules for e in self.edges[m] if e not in self.files
                and e.split(".")[0] not in PACKAGES}

    def cycles(self) -> list[list[str]]:
        """Groups of modules that import each other (strongly connected components larger than one)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []

        def visit(v: str) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            on_stack.add(v)
            for w in sorted(self.internal(v)):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))

        for v in sorted(self.files):
            if v not in index:
                visit(v)
        return found

    def fingerprint(self, modules: Iterable[str]) -> str:
        """sha256 over the names and bytes of ``modules``' files, in name order."""
        h = hashlib.sha256()
        for m in sorted(set(modules)):
            h.update(m.encode() + b"\0" + read_source(self.files[m]) + b"\0")
        return h.hexdigest()[:16]


def _resolve(name: str, files: dict[str, Path]) -> str:
    """``fetaledge.runtime.spec.IqaSpec`` -> ``fetaledge.runtime.spec`` (the nearest module); others unchanged."""
    if name.split(".")[0] not in PACKAGES:
        return name
    n = name
    while n and n not in files:
        n = n.rpartition(".")[0]
    return n or name


def _discovers_submodules(tree: ast.AST) -> bool:
    """True when a package's ``__init__`` lists its own modules at run time (``pkgutil.iter_modules``)."""
    return any(isinstance(n, ast.Attribute) and n.attr == "iter_modules" for n in ast.walk(tree))


@cache
def import_graph(packages: tuple[str, ...] = PACKAGES) -> ImportGraph:
    """The graph of ``packages`` as their source stands now (cached; :func:`clear` after an edit)."""
    files: dict[str, Path] = {}
    for pkg in packages:
        root = package_root(pkg)
        for f in sorted(root.rglob("*.py")):
            files[_module_name(pkg, root, f)] = f
    edges: dict[str, frozenset[str]] = {}
    discovered: dict[str, frozenset[str]] = {}
    for m, f in files.items():
        try:
            tree = ast.parse(read_source(f), filename=str(f))
        except SyntaxError as exc:
            raise FetaledgeError(f"{f}: cannot parse ({exc.msg}, line {exc.lineno})") from exc
        names = _imported_names(m, f.name == "__init__.py", tree)
        if f.name == "__init__.py" and _discovers_submodules(tree):
            # a registry package (quantize.backends) imports its modules by discovery, invisible to ``import``
            discovered[m] = frozenset(k for k in files if k.rpartition(".")[0] == m)
        edges[m] = frozenset(r for r in (_resolve(n, files) for n in names) if r != m)
    return ImportGraph(files, edges, discovered)


@cache
def code_fingerprint(*modules: str) -> str:
    """Fingerprint of the import closure of ``modules``: changes when any file they (transitively) import does.

    Example:
        >>> len(code_fingerprint("fetaledge.train.pretrain"))  # doctest: +SKIP
        16
    """
    g = import_graph()
    return g.fingerprint(g.closure(modules))


def _bindings(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> dict[str, str]:
    """Name bound by a top-level import -> the absolute name it refers to."""
    out = {}
    for a in node.names:
        if isinstance(node, ast.Import):
            out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        else:
            base = _imported_names(module, is_package, ast.ImportFrom(module=node.module, names=[], level=node.level))
            out[a.asname or a.name] = f"{base[0]}.{a.name}"
    return out


def _names_used(node: ast.AST) -> set[str]:
    """Names a definition reads at run time (annotations left out: they are not executed)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        parts: list[ast.AST] = [*node.body, *node.decorator_list, *node.args.defaults,
                                *(d for d in node.args.kw_defaults if d is not None)]
    else:
        parts = [node]
    return {n.id for p in parts for n in ast.walk(p) if isinstance(n, ast.Name)}


def function_code(module: str, name: str) -> tuple[frozenset[str], str]:
    """What the top-level function ``module.name`` depends on: the modules it imports, or names through the
    module's top-level imports, itself or through the top-level functions and classes of its module that it names
    (transitively); and a fingerprint of the source of those definitions. So one module can define several
    stages whose code differs.

    Example:
        >>> seeds, text = function_code("fetaledge.build_stages", "run_export")  # doctest: +SKIP
    """
    g = import_graph()
    if module not in g.files:
        raise FetaledgeError(f"module {module!r} is not part of {', '.join(PACKAGES)}")
    src = read_source(g.files[module]).decode()
    tree = ast.parse(src)
    is_pkg = g.files[module].name == "__init__.py"
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    if name not in defs:
        raise FetaledgeError(f"{module} has no top-level function {name!r}")
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update(_bindings(module, is_pkg, node))
    names: list[str] = []
    todo, seen = [name], set()
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.add(d)
        names += _imported_names(module, is_pkg, defs[d])
        used = _names_used(defs[d])
        names += [bound[u] for u in used if u in bound]
        todo += [u for u in used if u in defs]
    seeds = frozenset(r for r in (_resolve(n, g.files) for n in names) if r in g.files and r != module)
    h = hashlib.sha256()
    for d in sorted(seen):
        h.update(d.encode() + b"\0" + (ast.get_source_segment(src, defs[d]) or "").encode() + b"\0")
    return seeds, h.hexdigest()[:16]


@cache
def stage_code_fingerprint(module: str, name: str) -> str:
    """Fingerprint of a stage's code: the definitions :func:`function_code` finds plus the files of the import
    closure of the modules they import."""
    seeds, own = function_code(module, name)
    g = import_graph()
    return hashlib.sha256(f"{own}|{g.fingerprint(g.closure(seeds))}".encode()).hexdigest()[:16]


def clear() -> None:
    """Forget the cached graph and fingerprints (after a source edit in the same process)."""
    import_graph.cache_clear()
    code_fingerprint.cache_clear()
    stage_code_fingerprint.cache_clear()
