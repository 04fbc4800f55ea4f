"""The test folders share one import namespace (pytest's default ``prepend`` mode puts each on
``sys.path``), so two helper or test modules with the same name would shadow each other only when
the whole suite runs: keep every name unique."""

from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {"node_modules", ".venv", ".tools", "artifacts"}


def test_test_module_names_are_unique_across_the_workspace():
    seen: dict[str, list[str]] = defaultdict(list)
    for path in ROOT.rglob("tests/**/*.py"):
        relative = path.relative_to(ROOT)
        if SKIP.intersection(relative.parts) or path.name == "conftest.py":
            continue
        seen[path.name].append(str(relative))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, clashes


def test_no_document_is_blown_up():
    """A bad merge once repeated a table 22,000 times inside bench/README.md; documents stay small."""
    documents = [path for path in ROOT.rglob("*.md") if not SKIP.intersection(path.relative_to(ROOT).parts)]
    assert documents
    too_big = {str(path.relative_to(ROOT)): path.stat().st_size for path in documents if path.stat().st_size > 200_000}
    assert not too_big, too_big
