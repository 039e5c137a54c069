#!/usr/bin/env python3
"""The runner's message catalogs: extract, merge, compile (make translations), with Babel.

    python scripts/translations.py            # extract the messages, merge them into each .po, compile each .mo
    python scripts/translations.py --check    # exit 1 when a .po lacks a message or its .mo is out of date

Messages are what runner/ marks with _(), N_() and ngettext() (runner/language.py), what the lessons' checks,
workloads and glue mark with gettext's own gettext()/_(), the sentences of lessons/lessons.toml (title, teaches,
fallback, bcc_fallbacks, an option's help, hint, histogram, flamegraph) and the notebook builder's cells.
A new message lands in each .po untranslated: tests/unit/test_translations.py fails until it has its msgstr.
"""

import argparse
import io
import sys
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from runner.language import DOMAIN, LOCALEDIR  # noqa: E402

KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
TOML_KEYS = ("title", "teaches", "fallback", "hint", "flamegraph")  # histogram: a label in BCC's own output


def sources():
    """The files whose messages the catalog holds: the runner, the notebook builder, the lessons' tracked .py files."""
    files = sorted((ROOT / "runner").rglob("*.py")) + [ROOT / "notebooks" / "build.py"]
    files += [ROOT / "lessons" / "formats.py", ROOT / "lessons" / "common.py"]  # shared by lessons, and by runner format
    for lesson in sorted((ROOT / "lessons").glob("lesson*_*")):
        files += sorted(lesson.glob("*.py")) + [p for p in (lesson / "exercise" / "check.py",) if p.exists()]
    return files


def toml_messages(path):
    """[(line, message)] of lessons.toml's sentences."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    lines = text.splitlines()

    def line_of(value):
        needle = value[:40].replace("\\", "\\\\").replace('"', '\\"')
        return next((i + 1 for i, line in enumerate(lines) if needle in line), 0)

    found = []
    for lesson in data.get("lesson", []):
        values = [lesson[k] for k in TOML_KEYS if isinstance(lesson.get(k), str)]
        values += list(lesson.get("bcc_fallbacks", {}).values())
        values += [o["help"] for o in lesson.get("options", []) if isinstance(o, dict) and "help" in o]
        found += [(line_of(v), v) for v in values]
    return found


def template():
    """A Catalog of every message, each with where it is used."""
    # a fixed creation date: a run that finds the same messages leaves the .po as it was
    catalog = Catalog(domain=DOMAIN, project="bcc-lessons", version="1", charset="utf-8",
                      creation_date=datetime(2026, 12, 4, tzinfo=timezone.utc))
    for path in sources():
        rel = path.relative_to(ROOT).as_posix()
        for line, message, comments, _context in extract_from_file("python", str(path), keywords=KEYWORDS,
                                                                  comment_tags=("TRANSLATORS:",), strip_comment_tags=True):
            catalog.add(message, locations=[(rel, line)], auto_comments=comments)
    toml = ROOT / "lessons" / "lessons.toml"
    for line, message in toml_messages(toml):
        catalog.add(message, locations=[(toml.relative_to(ROOT).as_posix(), line)])
    return catalog


def po_paths():
    return sorted(Path(LOCALEDIR).glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def mo_bytes(catalog):
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def read(path):
    with open(path, "rb") as f:
        return read_po(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when something is out of date")
    args = parser.parse_args(argv)
    pot = template()
    stale = []
    for po_path in po_paths():
        catalog = read(po_path)
        missing = [m.id for m in pot if m.id and m.id not in catalog]
        mo_path = po_path.with_suffix(".mo")
        if args.check:
            if missing:
                stale.append(f"{po_path.relative_to(ROOT)} lacks {len(missing)} messages, e.g. {missing[0]!r}")
            if not mo_path.exists() or mo_path.read_bytes() != mo_bytes(catalog):
                stale.append(f"{mo_path.relative_to(ROOT)} is not the compiled {po_path.name}")
            continue
        catalog.update(pot, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False  # the header: gettext reads its Plural-Forms only from a header that is not fuzzy
        out = io.BytesIO()
        write_po(out, catalog, width=120, sort_output=False)
        po_path.write_bytes(out.getvalue())
        catalog = read(po_path)
        mo_path.write_bytes(mo_bytes(catalog))
        untranslated = sum(1 for m in catalog if m.id and not all(m.string if isinstance(m.string, tuple) else
                                                                  [m.string]))
        print(f"{po_path.relative_to(ROOT)}: {len(pot)} messages, {untranslated} untranslated; {mo_path.name} written")
    for line in stale:
        print(line)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
