"""One exception family: every class we raise lives in errors.py and derives from ReplyraceError."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import pytest_replyrace
from pytest_replyrace import errors
from pytest_replyrace.driver import DriverSettings
from pytest_replyrace.provider.server import FakeProvider

PACKAGE = Path(pytest_replyrace.__file__).parent
# Raised on purpose as what they are: pytest's own usage error (the plugin speaks pytest's language), an
# abstract method, and the reset a provider fault injects into the connection (never reaches a test).
ALLOWED_FOREIGN = {"UsageError", "NotImplementedError", "ConnectionResetError"}


def _raised_classes() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
                continue
            func = node.exc.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name[:1].isupper():  # a class; a lower-case call (self.fail(...)) builds one of ours
                found.append((str(path.relative_to(PACKAGE)), node.lineno, name))
    return found


def test_every_raised_class_is_ours_and_lives_in_errors_py() -> None:
    raised = _raised_classes()
    assert len(raised) > 50  # the walk sees the package's raises
    ours = {
        name for name, obj in vars(errors).items() if inspect.isclass(obj) and issubclass(obj, errors.ReplyraceError)
    }
    stray = [f"{path}:{line} raises {name}" for path, line, name in raised if name not in ours | ALLOWED_FOREIGN]
    assert stray == []


def test_no_exception_class_is_defined_outside_errors_py() -> None:
    defined = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", "").endswith(("Error", "Exception", "Failure")) for base in node.bases
            ):
                defined.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert defined == []


def test_every_class_in_errors_py_derives_from_the_base_and_is_exported() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.ReplyraceError), name


@pytest.mark.parametrize(
    ("make", "builtin"),
    [
        (lambda: DriverSettings(calls=0), ValueError),
        (lambda: DriverSettings(send_at="soon"), ValueError),
        (lambda: FakeProvider().port, RuntimeError),
    ],
    ids=["calls=0", "send_at=soon", "port-before-start"],
)
def test_a_library_user_gets_ours_keeping_the_builtin(make, builtin) -> None:
    with pytest.raises(errors.ReplyraceError) as info:
        make()
    assert isinstance(info.value, builtin)
