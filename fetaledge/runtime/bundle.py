"""Bundle checks: every file that ``iqa_spec.json`` lists is present, inside the bundle and byte-identical.

Example:
    >>> spec = load_bundle("bundle/")  # load_spec + verify_bundle_files  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import sha256_file  # noqa: F401  (re-exported: the runtime's public helper)
from fetaledge.runtime.spec import SPEC_FILE_NAME, IqaSpec, load_spec

__all__ = ["load_bundle", "sha256_file", "verify_bundle_files"]


def verify_bundle_files(bundle_dir: str | Path, spec: IqaSpec) -> None:
    """Check the sha256 of every model file the spec lists (the classifier's ``models`` and, in a bundle that
    measures, ``task.measurement.models``); one error listing every problem at once.

    A missing file, a path that escapes the bundle (e.g. through a symlink) and a changed byte each name the
    model and the file.

    Example:
        >>> verify_bundle_files("bundle/", load_spec("bundle/iqa_spec.json"))  # doctest: +SKIP
    """
    root = Path(bundle_dir)
    if not root.is_dir():
        raise FetaledgeError(f"bundle folder not found: {root}", hint="pass the folder holding iqa_spec.json")
    root_resolved = root.resolve()
    problems: list[str] = []
    seg = spec.task.measurement.models if spec.task.measurement is not None else ()
    for m in (*spec.models, *seg):
        path = root / m.file
        if not path.is_file():
            problems.append(f"model {m.name!r}: file {m.file} is missing")
            continue
        if not path.resolve().is_relative_to(root_resolved):
            problems.append(f"model {m.name!r}: file {m.file} resolves outside the bundle")
            continue
        actual = sha256_file(path)
        if actual != m.sha256:
            problems.append(
                f"model {m.name!r}: file {m.file} has sha256 {actual}, but {SPEC_FILE_NAME} says {m.sha256}"
            )
    if problems:
        raise FetaledgeError(
            f"bundle {root} failed its checks: " + "; ".join(problems),
            hint="the bundle was changed after it was built: rebuild it (fetaledge build) or copy it again",
        )


def load_bundle(bundle_dir: str | Path) -> IqaSpec:
    """Load ``bundle_dir/iqa_spec.json`` and verify every file it lists; returns the spec.

    Example:
        >>> load_bundle("bundle/").models[0].file  # doctest: +SKIP
        'student_int8.onnx'
    """
    root = Path(bundle_dir)
    spec = load_spec(root / SPEC_FILE_NAME)
    verify_bundle_files(root, spec)
    return spec
