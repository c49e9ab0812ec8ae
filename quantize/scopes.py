"""Backend-neutral "keep these submodules in float": torch module scopes resolved to the nodes of an ONNX graph.

``torch.onnx.export`` names a node after the module path that made it (module ``net.conv_stem`` -> node
``/net/conv_stem/Conv``; ``net.blocks.0`` -> ``/net/blocks/blocks.0/...``), so one list of torch scopes
(``Recipe.keep_float``) selects the same layers in every backend: ONNX backends exclude the matching nodes,
LiteRT's PT2E quantizer leaves the submodules unannotated.
"""

from __future__ import annotations

from pathlib import Path

from quantize.census import _import_onnx
from quantize.errors import QuantizeError


def node_module(name: str) -> str:
    """The dotted torch module path of an exported ONNX node name (its last component is the op).

    The exporter writes one component per attribute step, and a child of a Sequential / ModuleList as the
    parent's name plus the index (``/net/blocks/blocks.0/blocks.0.1/conv/Conv``): a component that starts with
    the previous one plus a dot adds only its remainder.

    Example:
        >>> node_module("/classifier/net/blocks/blocks.0/blocks.0.1/conv_dw/Conv")
        'classifier.net.blocks.0.1.conv_dw'
    """
    parts = [p for p in name.split("/") if p][:-1]
    out: list[str] = []
    prev = ""
    for comp in parts:
        if prev and comp.startswith(prev + "."):
            out.append(comp[len(prev) + 1 :])
        else:
            out.append(comp)
        prev = comp
    return ".".join(out)


def in_scope(module: str, scope: str) -> bool:
    """Whether module path ``module`` is ``scope`` or lies inside it."""
    return module == scope or module.startswith(scope + ".")


def onnx_scopes(names: list[str], depth: int = 4) -> list[str]:
    """The module scopes (dotted) present in a list of exported node names, up to ``depth`` levels."""
    found: set[str] = set()
    for name in names:
        parts = node_module(name).split(".")
        for k in range(1, min(depth, len(parts)) + 1):
            if parts[0]:
                found.add(".".join(parts[:k]))
    return sorted(found)


def onnx_scope_nodes(onnx_path: Path, scopes: tuple[str, ...] | list[str]) -> list[str]:
    """Names of the nodes of ``onnx_path`` that lie under any of ``scopes``; a scope without a node is an error.

    Example:
        >>> onnx_scope_nodes(Path("student.onnx"), ["classifier.net.conv_stem"])  # doctest: +SKIP
        ['/classifier/net/conv_stem/Conv']
    """
    if not scopes:
        return []
    onnx = _import_onnx("keep_float")
    names = [n.name for n in onnx.load(str(onnx_path), load_external_data=False).graph.node]
    out: list[str] = []
    modules = {n: node_module(n) for n in names}
    for scope in scopes:
        scope = scope.strip()
        if not scope:
            raise QuantizeError("empty keep_float scope", hint="name a submodule, e.g. 'net.conv_stem'")
        hits = [n for n in names if in_scope(modules[n], scope)]
        if not hits:
            known = onnx_scopes(names)
            raise QuantizeError(
                f"keep_float scope {scope!r} matches no node of {Path(onnx_path).name}",
                hint=f"scopes in this graph include: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}",
            )
        out += hits
    return sorted(set(out))
