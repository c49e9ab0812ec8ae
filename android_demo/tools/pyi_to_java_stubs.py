"""Java declaration stubs of the Android API from PyPI's ``chaquopy-stubs-android`` (Python stubs that chaquopy's
stub generator wrote from the real android.jar, API 36), so that the Kotlin compiler can type-check the app's
Android code on a machine without the Android SDK. Standard library only (ast).

    python3 pyi_to_java_stubs.py SITE_DIR OUT_DIR     # SITE_DIR holds android-stubs/; writes OUT_DIR/android/**.java

What the Python stubs do not say, and how it is decided here (the limits of the check, also in the README):
  * interface or class: a type with no constructor whose bases are all interfaces is an interface (so listeners
    are SAM interfaces); everything with a constructor, or extending a class, is a class;
  * integer and float RETURN types are written ``int`` and ``float`` (the stubs do not tell int from long or float
    from double on returns; parameters are exact);
  * generics are erased (raw types), protected members are public, bodies throw.
The Kotlin compiler only reads these declarations (Java sources are resolved, not compiled), so the check catches
a wrong Android class, method, parameter type or count in the app; it is not the real build.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

PRIMS = {"java.jint": "int", "java.jlong": "long", "java.jboolean": "boolean", "java.jfloat": "float",
         "java.jdouble": "double", "java.jbyte": "byte", "java.jshort": "short", "java.jchar": "char"}
ARRAYS = {"JavaArrayJInt": "int[]", "JavaArrayJByte": "byte[]", "JavaArrayJFloat": "float[]", "JavaArrayJChar": "char[]",
          "JavaArrayJLong": "long[]", "JavaArrayJBoolean": "boolean[]", "JavaArrayJShort": "short[]",
          "JavaArrayJDouble": "double[]"}
RETURNS = {"int": "int", "float": "float", "bool": "boolean", "str": "java.lang.String", "None": "void"}
# Return types the Python stubs write as plain `int` though the Java API returns long (the generator cannot tell):
# the ones the app calls, from the Android API reference.
LONG_RETURNS = {"android.content.res.AssetFileDescriptor.getStartOffset", "android.content.res.AssetFileDescriptor.getLength",
                "android.content.res.AssetFileDescriptor.getDeclaredLength"}
ROOTS = ("android.", "java.", "javax.", "dalvik.", "org.", "com.", "libcore.")
JAVA_KEYWORDS = {"default", "native", "new", "package", "interface", "class", "enum", "final", "static", "this",
                 "throw", "switch", "case", "char", "int", "long", "byte", "short", "boolean", "double", "float",
                 "import", "synchronized", "transient", "volatile", "assert", "goto", "const", "strictfp", "abstract",
                 "private", "protected", "public", "catch", "try", "finally", "extends", "implements", "super",
                 "instanceof", "void", "return", "break", "continue", "do", "while", "for", "if", "else", "throws"}


@dataclass
class Cls:
    fqn: str  # android.view.View.OnClickListener
    pkg: str
    node: ast.ClassDef
    bases: list[str] = field(default_factory=list)
    has_init: bool = False
    enum: bool = False
    nested: list[Cls] = field(default_factory=list)


def _dotted(e: ast.expr) -> str:
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Attribute):
        return f"{_dotted(e.value)}.{e.attr}"
    if isinstance(e, ast.Subscript):
        return _dotted(e.value)
    return ""


class Gen:
    def __init__(self) -> None:
        self.classes: dict[str, Cls] = {}
        self.top: list[Cls] = []
        self.typevars: set[str] = set()
        self.used_tv: list[str] = []  # type variables the method being written uses (become <T, U> on it)

    # ---------------------------------------------------------------- reading
    def read(self, pkg: str, tree: ast.Module) -> None:
        for n in tree.body:
            if (isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                    and _dotted(n.value.func) == "typing.TypeVar"):
                self.typevars.update(t.id for t in n.targets if isinstance(t, ast.Name))
            if isinstance(n, ast.ClassDef):
                self.top.append(self._cls(pkg, pkg, n))

    def _cls(self, pkg: str, outer: str, n: ast.ClassDef) -> Cls:
        c = Cls(f"{outer}.{n.name}", pkg, n)
        for b in n.bases:
            name = _dotted(b)
            if name.startswith("typing.") or not name:
                continue
            if name == "java.lang.Enum":
                c.enum = True
                continue
            c.bases.append(name)
        for s in n.body:
            if isinstance(s, ast.FunctionDef) and s.name == "__init__":
                c.has_init = True
            elif isinstance(s, ast.ClassDef):
                c.nested.append(self._cls(pkg, c.fqn, s))
        self.classes[c.fqn] = c
        return c

    def resolve(self, name: str, ctx: Cls) -> str | None:
        """A dotted name as the fully qualified Java name, None when it is not a known type."""
        if name.startswith(("java.", "javax.")) and name not in self.classes:
            return name
        if name.startswith(ROOTS):
            return name if name in self.classes else None
        # relative: a class of this module, or a nested class of an enclosing class
        scope = ctx.fqn
        while scope:
            cand = f"{scope}.{name}"
            if cand in self.classes:
                return cand
            scope = scope.rpartition(".")[0]
        return None

    def is_interface(self, c: Cls, seen: frozenset[str] = frozenset()) -> bool:
        if c.has_init or c.enum or c.fqn in seen:
            return False
        for b in c.bases:
            r = self.resolve(b, c)
            if r is None or r == "java.lang.Object":
                continue
            bc = self.classes.get(r)
            if bc is None:  # a JDK type: interfaces we can name
                if r not in ("java.lang.Comparable", "java.lang.Runnable", "java.lang.AutoCloseable", "java.io.Closeable",
                             "java.lang.Iterable", "java.util.EventListener", "java.lang.CharSequence", "java.lang.Cloneable",
                             "java.io.Serializable", "java.lang.Appendable", "java.lang.Readable"):
                    return False
            elif not self.is_interface(bc, seen | {c.fqn}):
                return False
        return True

    # ---------------------------------------------------------------- types
    def jtype(self, e: ast.expr | None, ctx: Cls, ret: bool = False) -> str:
        if e is None:
            return "void"
        if isinstance(e, ast.Constant) and e.value is None:
            return "void"
        if isinstance(e, ast.BinOp):  # a | b | c: the Java primitive when one is named, else the first known type
            parts: list[ast.expr] = []

            def flat(x: ast.expr) -> None:
                if isinstance(x, ast.BinOp):
                    flat(x.left)
                    flat(x.right)
                else:
                    parts.append(x)

            flat(e)
            for p in parts:
                if _dotted(p) in PRIMS:
                    return PRIMS[_dotted(p)]
            for p in parts:
                t = self.jtype(p, ctx, ret)
                if t not in ("java.lang.Object",) and not (isinstance(p, ast.Name) and p.id in RETURNS):
                    return t
            return self.jtype(parts[-1], ctx, ret)
        name = _dotted(e)
        if name in self.typevars:
            tv = "T" + "".join(ch for ch in name if ch.isalnum())
            if tv not in self.used_tv:
                self.used_tv.append(tv)
            return tv
        if name == "typing.Type" and isinstance(e, ast.Subscript):
            return f"java.lang.Class<{self.jtype(e.slice, ctx, ret)}>"
        if name in PRIMS:
            return PRIMS[name]
        if name.startswith("java.chaquopy."):
            short = name.rsplit(".", 1)[1]
            if short in ARRAYS:
                return ARRAYS[short]
            if short == "JavaArray" and isinstance(e, ast.Subscript):
                return self.jtype(e.slice, ctx, ret) + "[]"
            return "java.lang.Object[]"
        if name in RETURNS:
            return RETURNS[name] if ret or name in ("str", "bool") else {"int": "int", "float": "double"}[name]
        if name.startswith("typing.") or not name:
            return "java.lang.Object"
        r = self.resolve(name, ctx)
        return r if r else "java.lang.Object"

    # ---------------------------------------------------------------- writing
    def emit(self, c: Cls, indent: str = "", nested: bool = False) -> str:
        iface = self.is_interface(c)
        name = c.node.name
        ext: list[str] = []
        impl: list[str] = []
        for b in c.bases:
            r = self.resolve(b, c)
            if r is None or r == "java.lang.Object" or r == c.fqn:
                continue
            bc = self.classes.get(r)
            b_iface = self.is_interface(bc) if bc else r in ("java.lang.Comparable", "java.lang.Runnable",
                                                              "java.lang.AutoCloseable", "java.io.Closeable",
                                                              "java.lang.Iterable", "java.util.EventListener",
                                                              "java.lang.CharSequence", "java.lang.Cloneable",
                                                              "java.io.Serializable")
            if iface or b_iface:
                impl.append(r) if b_iface else None
            elif not ext:
                ext.append(r)
        static = "static " if nested and not iface else ""
        if c.enum:
            head = f"{indent}public {static}enum {name}" + (f" implements {', '.join(impl)}" if impl else "")
        elif iface:
            head = f"{indent}public interface {name}" + (f" extends {', '.join(impl)}" if impl else "")
        else:
            head = (f"{indent}public {static}class {name}" + (f" extends {ext[0]}" if ext else "")
                    + (f" implements {', '.join(impl)}" if impl else ""))
        lines = [head + " {"]
        inner = indent + "    "
        constants = []
        seen_sigs: set[str] = set()
        # An interface with one instance method stays abstract (a SAM type: Kotlin lambdas convert to it).
        single_method = iface and sum(1 for x in c.node.body if isinstance(x, ast.FunctionDef)
                                      and "staticmethod" not in {_dotted(d) for d in x.decorator_list}) == 1
        for s in c.node.body:
            if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
                ann = s.annotation
                is_static = isinstance(ann, ast.Subscript) and _dotted(ann.value) == "typing.ClassVar"
                t_expr = ann.slice if is_static else ann
                jt = self.jtype(t_expr, c, ret=True)
                fname = s.target.id
                if fname in JAVA_KEYWORDS:
                    continue
                if c.enum and jt == c.fqn:
                    constants.append(fname)
                    continue
                if is_static:
                    value = {"int": "0", "long": "0L", "float": "0f", "double": "0.0", "boolean": "false",
                             "byte": "0", "short": "0", "char": "'0'"}.get(jt, "null")
                    lines.append(f"{inner}{'' if iface else 'public '}static final {jt} {fname} = {value};")
                elif not iface:
                    lines.append(f"{inner}public {jt} {fname};")
        if c.enum:
            lines.insert(1, f"{inner}{', '.join(constants)};")
        for s in c.node.body:
            if not isinstance(s, ast.FunctionDef):
                continue
            decos = {_dotted(d) for d in s.decorator_list}
            is_static = "staticmethod" in decos
            args = s.args.posonlyargs + s.args.args
            if args and args[0].arg == "self":
                args = args[1:]
            self.used_tv = []
            params = ", ".join(f"{self.jtype(a.annotation, c)} p{i}" for i, a in enumerate(args))
            if s.args.vararg is not None:
                va = f"{self.jtype(s.args.vararg.annotation, c)}... p{len(args)}"
                params = f"{params}, {va}" if params else va
            if c.enum and s.name in ("values", "valueOf"):
                continue
            if s.name == "__init__":
                if iface or c.enum:
                    continue
                if self.used_tv:
                    params = ", ".join(f"{self.jtype(a.annotation, c)} p{i}" for i, a in enumerate(args))
                    for tv in self.used_tv:
                        params = params.replace(f"{tv} p", "java.lang.Object p").replace(f"<{tv}>", "")
                sig = f"<init>({params})"
                if sig not in seen_sigs:
                    seen_sigs.add(sig)
                    lines.append(f"{inner}public {name}({params}) {{ throw new RuntimeException(); }}")
                continue
            if s.name.startswith("__") or s.name in JAVA_KEYWORDS:
                continue
            ret = self.jtype(s.returns, c, ret=True)
            if f"{c.fqn}.{s.name}" in LONG_RETURNS and ret == "int":
                ret = "long"
            if s.name in ("findViewById", "requireViewById") and ret == "android.view.View":
                # The stubs drop the generic; the real signature is <T extends View> T findViewById(int).
                self.used_tv.append("V")
                ret = "V"
            tparams = ""
            if self.used_tv:
                tparams = "<" + ", ".join(f"{t} extends android.view.View" if t == "V" else t for t in self.used_tv) + "> "
            sig = f"{s.name}({', '.join(p.split(' ')[0] for p in params.split(', ') if p)})"
            if sig in seen_sigs:
                continue
            seen_sigs.add(sig)
            if iface:
                if is_static:
                    lines.append(f"{inner}static {tparams}{ret} {s.name}({params}) {{ throw new RuntimeException(); }}")
                elif single_method:
                    lines.append(f"{inner}{tparams}{ret} {s.name}({params});")
                else:  # a default body: a stub class need not repeat what it inherits (real defaults or not)
                    lines.append(f"{inner}default {tparams}{ret} {s.name}({params}) {{ throw new RuntimeException(); }}")
            else:
                lines.append(f"{inner}public {'static ' if is_static else ''}{tparams}{ret} {s.name}({params}) "
                             f"{{ throw new RuntimeException(); }}")
        if not c.has_init and not iface and not c.enum:
            lines.append(f"{inner}{name}() {{ }} // no public constructor in the API")
        for n in c.nested:
            lines.append(self.emit(n, inner, nested=True))
        lines.append(indent + "}")
        return "\n".join(lines)


def main(argv: list[str]) -> int:
    site, out = Path(argv[1]), Path(argv[2])
    gen = Gen()
    roots = sorted(site.glob("android-stubs/**/__init__.pyi"))
    if not roots:
        print(f"error: no android-stubs/**/__init__.pyi under {site}", file=sys.stderr)
        return 2
    for f in roots:
        rel = f.parent.relative_to(site)
        pkg = ".".join(("android", *rel.parts[1:]))
        gen.read(pkg, ast.parse(f.read_text(encoding="utf-8")))
    n = 0
    for c in gen.top:
        path = out / Path(*c.pkg.split(".")) / f"{c.node.name}.java"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"// generated from chaquopy-stubs-android (android.jar API 36) by pyi_to_java_stubs.py\n"
                        f"package {c.pkg};\n\n{gen.emit(c)}\n", encoding="utf-8")
        n += 1
    print(f"{n} Java stub types from {len(roots)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
