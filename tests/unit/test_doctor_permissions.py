"""The doctor's permission check (runner/permissions.py) covers what root imports and runs (issue 17).

Each test builds a small checkout in tmp_path: a copy of runner/ and lessons/, a .venv whose python is a chain of
symlinks to a fake interpreter, a site-packages folder with .pth files, and a fake BCC package. The check is pointed
at it (lessons.ROOT and the doctor's two look-ups of the running Python and of BCC); the real checkout is never
chmod'ed.
"""

import os
import shutil
import time
from pathlib import Path

import pytest

from runner import lessons, permissions
from tests.support import ROOT

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def _tidy(top):
    """Modes as a clean git checkout has them (whatever the real checkout's are)."""
    for folder, dirs, files in os.walk(top):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


class Tree:
    def __init__(self, base):
        self.base = base
        self.home = base / "home" / "alice"
        self.checkout = self.home / "bcc-lessons"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / "runner", self.checkout / "runner", ignore=ignore)
        shutil.copytree(ROOT / "lessons", self.checkout / "lessons", ignore=ignore)
        self.usr = base / "usr"
        self.interpreter = self.usr / "bin" / "python3.11"
        self.interpreter.parent.mkdir(parents=True)
        self.interpreter.write_text("#!/bin/false\n")
        (self.usr / "bin" / "python3").symlink_to("python3.11")
        self.venv = self.checkout / ".venv"
        (self.venv / "bin").mkdir(parents=True)
        (self.venv / "bin" / "python3").symlink_to(self.usr / "bin" / "python3")
        (self.venv / "bin" / "python").symlink_to("python3")
        (self.venv / "pyvenv.cfg").write_text(f"home = {self.usr / 'bin'}\ninclude-system-site-packages = true\n")
        self.site = self.venv / "lib" / "python3.11" / "site-packages"
        self.site.mkdir(parents=True)
        (self.site / "bcc-lessons.pth").write_text(f"{self.checkout}\n")
        (self.site / "distutils-precedence.pth").write_text("import os\n")
        (self.site / "rich").mkdir()
        (self.site / "rich" / "__init__.py").write_text("")
        self.system_site = self.usr / "lib" / "python3" / "dist-packages"
        self.bcc = self.system_site / "bcc"
        self.bcc.mkdir(parents=True)
        for name in ("__init__.py", "table.py", "libbcc.py"):
            (self.bcc / name).write_text("")
        (self.system_site / "extra.pth").write_text("# a comment\n")
        _tidy(self.base)

    def python_paths(self):
        """What permissions._python_paths() gives for the running Python: interpreters, site folders, sys.path folders."""
        return [self.venv / "bin" / "python"], [self.site, self.system_site], [self.usr / "lib" / "python3.11"]


@pytest.fixture
def tree(tmp_path, monkeypatch):
    os.chmod(tmp_path, 0o755)
    t = Tree(tmp_path)
    monkeypatch.setattr(lessons, "ROOT", t.checkout)
    monkeypatch.delenv(lessons.DIR_ENV, raising=False)
    monkeypatch.delenv("SUDO_UID", raising=False)
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.setattr(permissions.os, "geteuid", lambda: 0)
    monkeypatch.setattr(permissions, "_python_paths", t.python_paths, raising=False)
    monkeypatch.setattr(permissions, "_bcc_folder", lambda: t.bcc, raising=False)
    return t


def warns_about(path):
    finding = permissions.check_permissions()
    assert finding is not None and finding.name == "permissions"
    assert finding.status == "warn", finding
    assert str(path) in finding.detail, finding.detail
    assert str(path) in finding.fix or f"-R go-w {path}" in finding.fix, finding.fix
    return finding


def test_a_clean_tree_is_ok(tree):
    finding = permissions.check_permissions()
    assert finding.name == "permissions" and finding.status == "ok", finding
    assert finding.fix == ""


@pytest.mark.parametrize("relative", [
    "runner/session.py", "runner/vm/boot.py", "runner/__init__.py",
    "lessons/lesson1_hello/hello.py", "lessons/lesson1_hello/hello.c", "lessons/lessons.toml",
    "lessons/common.py", "lessons/lesson1_hello/exercise/check.py", "lessons/lesson6_uprobes/uprobes.c",
    ".venv/pyvenv.cfg",
])
def test_a_world_writable_file_root_runs_warns_with_its_path(tree, relative):
    path = tree.checkout / relative
    os.chmod(path, 0o666)
    finding = warns_about(path)
    assert finding.fix == f"chmod go-w {path}"
    assert "world-writable" in finding.detail


@pytest.mark.parametrize("relative", ["runner", "runner/notebook", "lessons", "lessons/lesson3_bpf_hash", ".venv",
                                      ".venv/bin", ".venv/lib/python3.11", "."])
def test_a_writable_folder_of_the_checkout_warns(tree, relative):
    path = (tree.checkout / relative).resolve()
    os.chmod(path, 0o775)
    finding = warns_about(path)
    assert "group-writable" in finding.detail


def test_a_world_writable_site_packages_folder_warns(tree):
    os.chmod(tree.site, 0o777)
    warns_about(tree.site)


def test_a_world_writable_system_site_packages_folder_warns(tree):
    os.chmod(tree.system_site, 0o777)
    warns_about(tree.system_site)


def test_a_writable_pth_file_warns(tree):
    os.chmod(tree.site / "distutils-precedence.pth", 0o666)
    warns_about(tree.site / "distutils-precedence.pth")
    os.chmod(tree.site / "distutils-precedence.pth", 0o644)
    os.chmod(tree.system_site / "extra.pth", 0o664)
    warns_about(tree.system_site / "extra.pth")


def test_a_folder_a_pth_file_adds_is_checked(tree):
    added = tree.base / "opt" / "added"
    added.mkdir(parents=True)
    (tree.site / "added.pth").write_text(f"# comment\nimport os\n{added}\n")
    os.chmod(tree.site / "added.pth", 0o644)
    assert permissions.check_permissions().status == "ok"
    os.chmod(added, 0o777)
    warns_about(added)


def test_a_group_writable_interpreter_warns_with_the_resolved_path(tree):
    os.chmod(tree.interpreter, 0o775)
    finding = warns_about(tree.interpreter)
    assert str(tree.venv / "bin" / "python") not in finding.detail.replace(str(tree.interpreter), "")


def test_the_folder_of_a_symlink_to_the_interpreter_is_checked(tree):
    os.chmod(tree.usr / "bin", 0o777)  # whoever writes there can point python3 somewhere else
    warns_about(tree.usr / "bin")


def test_a_writable_file_of_bcc_warns(tree):
    os.chmod(tree.bcc / "table.py", 0o666)
    warns_about(tree.bcc / "table.py")
    os.chmod(tree.bcc / "table.py", 0o644)
    os.chmod(tree.bcc, 0o777)
    warns_about(tree.bcc)


def test_a_writable_folder_above_the_checkout_warns(tree):
    os.chmod(tree.home, 0o777)  # anyone can move the checkout away and put another one there
    warns_about(tree.home)


def test_a_sticky_folder_above_is_fine_but_not_a_sticky_folder_python_imports_from(tree):
    os.chmod(tree.home, 0o1777)  # like /tmp: others cannot replace what is not theirs
    assert permissions.check_permissions().status == "ok"
    os.chmod(tree.site, 0o1777)  # but they can add a module of their own there
    warns_about(tree.site)


def test_many_offenders_are_named_five_at_a_time_and_fixed_together(tree):
    loose = sorted((tree.checkout / "lessons").rglob("*.py"))
    assert len(loose) > 8
    for path in loose:
        os.chmod(path, 0o666)
    finding = permissions.check_permissions()
    assert finding.status == "warn"
    named = [p for p in loose if str(p) in finding.detail]
    assert 1 <= len(named) <= 5, finding.detail
    assert f"and {len(loose) - len(named)} more" in finding.detail
    assert finding.fix == f"chmod -R go-w {tree.checkout}", finding.fix


def test_offenders_inside_and_outside_the_checkout_are_each_fixed(tree):
    os.chmod(tree.checkout / "runner" / "session.py", 0o666)
    os.chmod(tree.interpreter, 0o775)
    finding = permissions.check_permissions()
    assert finding.status == "warn"
    assert finding.fix.startswith("chmod go-w ")
    assert str(tree.checkout / "runner" / "session.py") in finding.fix and str(tree.interpreter) in finding.fix


def test_not_root_is_not_checked(tree, monkeypatch):
    os.chmod(tree.checkout / "runner" / "session.py", 0o666)
    monkeypatch.setattr(permissions.os, "geteuid", lambda: 1000)
    assert permissions.check_permissions() is None


@as_root
def test_a_file_another_user_owns_warns(tree):
    os.chown(tree.checkout / "runner" / "session.py", 4242, 4242)
    finding = warns_about(tree.checkout / "runner" / "session.py")
    assert "owned by" in finding.detail and "chown" in finding.fix


@as_root
def test_under_sudo_the_checkout_owner_is_named_as_able_to_change_what_root_runs(tree, monkeypatch):
    for folder, dirs, files in os.walk(tree.home):
        os.chown(folder, 4242, 4242)
        for name in files + dirs:
            os.lchown(os.path.join(folder, name), 4242, 4242)
    monkeypatch.setenv("SUDO_UID", "4242")
    monkeypatch.setenv("SUDO_USER", "alice")
    finding = permissions.check_permissions()
    assert finding.status == "ok", finding
    assert "alice" in finding.detail and "can change what root runs" in finding.detail
    monkeypatch.setenv("SUDO_UID", "4343")  # someone else runs sudo in alice's checkout
    monkeypatch.setenv("SUDO_USER", "bob")
    finding = permissions.check_permissions()
    assert finding.status == "warn", finding
    assert "4242" in finding.detail or "alice" in finding.detail
    assert "can change what root runs" in finding.detail and "bob who ran sudo" in finding.detail
    assert finding.fix == f"run from a checkout of your own (or: chown -R bob {tree.checkout})"


def test_the_real_check_covers_what_root_runs_here():
    paths = set(permissions.trusted_paths())
    for relative in ("runner/session.py", "runner/vm/boot.py", "lessons/lessons.toml",
                     "lessons/lesson1_hello/hello.py", "lessons/lesson1_hello/hello.c", "runner", "lessons"):
        assert ROOT / relative in paths, relative
    assert Path("/") in paths and ROOT.parent in paths
    venv_python = ROOT / ".venv" / "bin" / "python"
    if venv_python.exists():
        assert venv_python.resolve() in paths and venv_python.parent in paths
        for site in (ROOT / ".venv" / "lib").glob("python3.*/site-packages"):
            assert site.resolve() in paths  # as it is on disk: a .venv may be a link
            for pth in site.glob("*.pth"):
                assert pth.resolve() in paths
    try:
        import bcc
    except ImportError:
        return
    assert Path(bcc.__file__).parent in paths and Path(bcc.__file__) in paths


def test_the_real_check_runs_and_its_time_is_printed(capsys):
    start = time.perf_counter()
    finding = permissions.check_permissions()
    took = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n  check_permissions() on {ROOT}: {took * 1000:.1f} ms "
              f"({len(permissions.trusted_paths())} paths; {finding.status if finding else 'not root: not checked'})")
