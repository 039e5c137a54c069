"""Who else can change what root runs: the files and folders the runner imports or runs as root, and any that a
user other than their owner can write (a finding for python3 -m runner doctor).
"""

import os
from pathlib import Path

from .findings import Finding
from .language import _, ngettext

CODE = (".py", ".pyc", ".c", ".h", ".toml", ".pth")  # in the folders walked: what root imports, compiles or reads
SHOWN = 5  # offenders named in the finding; the rest are counted


def _python_paths():
    """The running Python: ([interpreter], [site-packages folders], [the other folders on sys.path])."""
    import site
    import sys
    sites = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        sites.append(site.getusersitepackages())
    return [Path(sys.executable)], [Path(p) for p in sites], [Path(p or os.getcwd()) for p in sys.path]


def _bcc_folder():
    """BCC's package folder (bcc.__file__'s), found without importing it; None if there is none."""
    import importlib.util
    try:
        spec = importlib.util.find_spec("bcc")
    except (ImportError, ValueError):
        return None
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def _links(path):
    """path, then each symlink's target in turn: whoever can write the folder of any of them changes what runs."""
    chain = [path]
    for _ in range(40):  # the kernel's own limit on a chain of links
        try:
            target = os.readlink(path)
        except OSError:
            break
        path = os.path.normpath(os.path.join(os.path.dirname(path), target))
        chain.append(path)
    return chain


class _RootRuns:
    """Every file and folder root imports or runs here, in the order found: {path: True if Python imports from it
    or root runs it, False for a folder only above one (a sticky folder there, like /tmp, is safe)}."""

    def __init__(self):
        self.paths, self.walked = {}, set()

    def _above(self, path):
        chain, folder = [], os.path.dirname(path)
        while folder not in self.paths:
            chain.append(folder)
            if folder == "/":
                break
            folder = os.path.dirname(folder)
        for folder in reversed(chain):
            self.paths[folder] = False

    def add(self, path, walk=False):
        chain = _links(os.path.abspath(path))
        for link in chain:
            self._above(link)
        real = os.path.realpath(chain[-1])
        self._above(real)
        self.paths[real] = True
        if walk and real not in self.walked:
            self.walked.add(real)
            self._walk(real)
        return real

    def _walk(self, folder):
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)  # the same order everywhere
        except OSError:
            return  # not there, or not a folder
        for entry in entries:
            if entry.is_symlink():
                if entry.name.endswith(CODE) or entry.is_dir():
                    self.add(entry.path, walk=True)
            elif entry.is_dir():
                self.paths[entry.path] = True
                self._walk(entry.path)
            elif entry.name.endswith(CODE):
                self.paths[entry.path] = True

    def site(self, path):
        """A site-packages folder, its .pth files and the folders they add to sys.path (as site.py reads them)."""
        folder = self.add(path)
        try:
            entries = sorted((e for e in os.scandir(folder) if e.name.endswith(".pth")), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            self.add(entry.path)
            try:
                with open(entry.path, encoding="utf-8", errors="replace") as pth:
                    lines = pth.read().splitlines()
            except OSError:
                continue
            for line in lines:
                if line.strip() and not line.startswith(("#", "import ", "import\t")):
                    added = os.path.join(folder, line.rstrip())
                    if os.path.exists(added):
                        self.add(added)


def _root_runs():
    from .lessons import ROOT, lessons_dir
    found = _RootRuns()
    root, venv = str(ROOT), str(ROOT / ".venv")
    found.add(root)
    found.add(ROOT / "runner", walk=True)
    found.add(ROOT / "lessons", walk=True)  # lessons.common is imported from the checkout
    found.add(lessons_dir(), walk=True)     # and the lessons run from here (BCC_LESSONS_DIR: another folder)
    found.add(venv)
    found.add(os.path.join(venv, "pyvenv.cfg"))  # says where the interpreter and its library are
    interpreters, sites, imported = _python_paths()
    for python in [Path(venv, "bin", "python"), *interpreters]:
        found.add(python)
    import glob
    for site in [*sorted(glob.glob(os.path.join(glob.escape(venv), "lib", "python3.*", "site-packages"))), *sites]:
        found.site(site)
    for folder in imported:
        found.add(folder)
    bcc = _bcc_folder()
    if bcc is not None:
        found.add(bcc, walk=True)
    return found.paths


def trusted_paths():
    """What runs as root when a learner runs the lessons: the runner and the lessons (each file and folder), the .venv,
    its interpreter and site-packages (with their .pth files), BCC's package, and every folder above them."""
    return [Path(p) for p in _root_runs()]


def _user(uid, sudo_uid):
    """A user's name (sudo's SUDO_USER for the one who ran sudo), or their number if they have no name."""
    if uid == sudo_uid and os.environ.get("SUDO_USER"):
        return os.environ["SUDO_USER"]
    import pwd
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_permissions(paths=None):
    """As root, a file or folder another user can write is code they can make root run: warn, with the fix.

    Checked: everything root imports or runs here (trusted_paths()), or the paths given, each as it is. Group- or
    world-writable is an offence (a sticky folder above one, like /tmp, is not); so is an owner other than root
    or the checkout's. The checkout's owner (a learner, under sudo) can change what root runs: said, not warned,
    unless someone else ran sudo.
    """
    if os.geteuid() != 0:
        return None  # a learner's own files, run as themselves: nothing is gained by writing them
    import shlex
    import stat
    from .lessons import ROOT
    checked = _root_runs() if paths is None else {str(p): True for p in paths}
    try:
        keeper = os.stat(ROOT).st_uid  # the checkout's owner: a learner's checkout is the learner's
    except OSError:
        keeper = 0
    try:
        sudo_uid = int(os.environ["SUDO_UID"])
    except (KeyError, ValueError):
        sudo_uid = None
    trusted = {0, keeper}
    inside = str(ROOT).rstrip("/") + "/"
    loose, foreign, seen, count = [], [], set(), 0  # each a list of (path, why): writable, or someone else's
    for path, runs in checked.items():
        try:
            st = os.stat(path)
        except OSError:
            continue  # not there (no .venv): nothing to write into
        count += 1
        mode = st.st_mode
        if mode & 0o022 and (runs or not (stat.S_ISDIR(mode) and mode & stat.S_ISVTX)):
            why, owned = _("world-writable") if mode & 0o002 else _("group-writable"), False
        elif st.st_uid not in trusted:
            why, owned = _("owned by user {user}").format(user=_user(st.st_uid, sudo_uid)), True
        else:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue  # the same file by another name (a symlink on the way)
        seen.add((st.st_dev, st.st_ino))
        (foreign if owned else loose).append((path, why))
    offenders = loose + foreign
    note, fixes = "", []
    stranger = keeper != 0 and sudo_uid not in (None, 0, keeper)  # someone else's checkout, run under sudo
    if keeper != 0:
        owner = _user(keeper, sudo_uid)
        if stranger:
            note = _("this checkout belongs to {owner}, not to {user} who ran sudo: {owner} can change what root "
                     "runs here").format(owner=owner, user=_user(sudo_uid, sudo_uid))
        elif sudo_uid == keeper:
            note = _("this checkout belongs to {owner} (who ran sudo), so {owner} can change what root runs here (as "
                     "with any code one runs under sudo)").format(owner=owner)
        else:
            note = _("this checkout belongs to {owner}, so {owner} can change what root runs here (as with any code "
                     "one runs under sudo)").format(owner=owner)
    if not offenders and not stranger:
        if paths is None:
            # TRANSLATORS: {count} is a number of files and folders (always more than one)
            detail = _("the {count} files and folders root imports or runs here (the runner, the lessons, .venv, its "
                       "Python and site-packages, BCC, and the folders above them) can be written by their owner "
                       "only").format(count=count)
        else:
            detail = _("the {count} paths checked can be written by their owner only").format(count=count)
        return Finding("permissions", "ok", detail + (f"; {note}" if note else ""))

    def quoted(items):
        return " ".join(shlex.quote(p) for p, _why in items)

    details = []
    if offenders:
        named = [f"{p} ({why})" for p, why in offenders[:SHOWN]]
        more = len(offenders) - len(named)
        if more:
            # TRANSLATORS: {paths} is a comma-separated list of paths, each with why in parentheses
            listed = _("{paths} and {more} more").format(paths=", ".join(named), more=more)
        else:
            listed = _("{paths} and {last}").format(paths=", ".join(named[:-1]), last=named[-1]) if len(named) > 1 \
                else named[0]
        details.append(ngettext("{listed} can be written by other users, and root imports or runs it here: whoever "
                                "can write it runs code as root",
                                "{listed} can be written by other users, and root imports or runs them here: whoever "
                                "can write them runs code as root", len(offenders)).format(listed=listed))
        ours = [o for o in loose if o[0] == str(ROOT) or o[0].startswith(inside)]
        if len(ours) > SHOWN:
            fixes.append(f"chmod -R go-w {shlex.quote(str(ROOT))}")
            loose = [o for o in loose if o not in ours]
        if loose:
            fixes.append(f"chmod go-w {quoted(loose)}")
        for uid, where in ((keeper, [o for o in foreign if o[0].startswith(inside)]),
                           (0, [o for o in foreign if not o[0].startswith(inside)])):
            if where:
                fixes.append(f"chown {shlex.quote(_user(uid, sudo_uid)) if uid else 'root'} {quoted(where)}")
    if note:
        details.append(note)
    if stranger:
        fixes.append(_("run from a checkout of your own (or: chown -R {user} {path})").format(
            user=shlex.quote(_user(sudo_uid, sudo_uid)), path=shlex.quote(str(ROOT))))
    detail = "; ".join(details)
    return Finding("permissions", "warn", detail, "; ".join(fixes))
