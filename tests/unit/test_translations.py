"""The runner's Chinese catalog: every message the runner, the notebook builder and the lessons mark has its
translation, with the same placeholders; the committed .mo is the compiled .po; and the runner speaks Chinese
under a Chinese locale or --lang zh, English otherwise (no BPF program is loaded here: tests/live runs lessons)."""

import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import translations  # noqa: E402  scripts/translations.py

from runner import language  # noqa: E402
from tests.support import HAN  # noqa: E402


PO = Path(language.LOCALEDIR) / "zh_CN" / "LC_MESSAGES" / f"{language.DOMAIN}.po"


def placeholders(text):
    """The {name} fields (with their format specs) and the %(name)s / %s conversions argparse fills in."""
    fields = set()
    try:
        for _literal, name, spec, conversion in string.Formatter().parse(text):
            if name is not None:
                fields.add(f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}")
    except ValueError as err:
        fields.add(f"unparsable: {err}")
    return fields | set(re.findall(r"%\([a-z_]+\)[sdr]|%[sr]|%%", text))


@pytest.fixture(scope="module")
def template():
    return translations.template()


@pytest.fixture(scope="module")
def catalog():
    return translations.read(PO)


def test_placeholders_are_read_with_their_specs():
    assert placeholders("{n} events in {seconds:.1f} s, %(default)s") == {"{n}", "{seconds:.1f}", "%(default)s"}
    assert placeholders("no fields") == set()


def test_the_catalog_holds_the_runners_and_the_lessons_messages(template):
    where = {loc.split("/")[0] for m in template for loc, _line in m.locations}
    assert {"runner", "lessons", "notebooks"} <= where, where
    assert len(template) > 300, f"only {len(template)} messages are marked"


def test_every_message_has_its_chinese_translation(template, catalog):
    missing = [m.id for m in template if m.id and (m.id not in catalog or not catalog[m.id].string
                                                   or catalog[m.id].fuzzy)]
    assert not missing, (f"{len(missing)} messages have no Chinese translation (or a fuzzy one) in {PO.name}, e.g. "
                         f"{missing[:3]}; fix: python scripts/translations.py, then translate them")


def test_each_translation_keeps_the_placeholders_of_its_message(catalog):
    wrong = []
    for m in catalog:
        if not m.id or not m.string:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for translated in filter(None, strings):  # an empty one is untranslated: the test above says so
            if placeholders(translated) != placeholders(ids[-1]):
                wrong.append((ids[0], translated))
    assert not wrong, "placeholders differ:\n" + "\n".join(f"{a!r}\n  -> {b!r}" for a, b in wrong[:5])


def test_each_translation_is_chinese(catalog):
    # a message that is only a command, a name or punctuation may stay as it is
    english = [m.id for m in catalog if m.id and m.string and not isinstance(m.string, tuple)
               and not HAN.search(m.string) and re.search(r"[a-z]{3,} [a-z]{3,} [a-z]{3,}", m.string)]
    assert not english, f"{len(english)} translations are still English, e.g. {english[:3]}"


def test_the_committed_mo_is_the_compiled_po():
    assert translations.main(["--check"]) == 0


def runner(*args, env=None):
    environ = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=120)


def test_a_chinese_locale_lists_the_lessons_in_chinese_and_others_in_english():
    zh = runner("list", env={"LANG": "zh_CN.UTF-8"})
    assert zh.returncode == 0 and HAN.search(zh.stdout), zh.stdout + zh.stderr
    for env in ({"LANG": "C.UTF-8"}, {"LANG": "fr_FR.UTF-8"}, {}):
        en = runner("list", env=env)
        assert en.returncode == 0 and not HAN.search(en.stdout), (env, en.stdout)
    assert HAN.search(runner("list", "--lang", "zh").stdout)
    assert HAN.search(runner("--lang=zh", "list", env={"LANG": "C.UTF-8"}).stdout)
    assert not HAN.search(runner("list", "--lang", "en", env={"LANG": "zh_CN.UTF-8"}).stdout)


@pytest.mark.parametrize("args, english", [
    (["lesson99"], "no lesson"),                               # an unknown lesson
    (["lesson1", "--duration", "-3"], "must be greater than 0"),  # a bad flag value
    (["flamegraph", "/nonexistent.folded"], "cannot be read"),  # a missing file
], ids=["unknown-lesson", "bad-duration", "missing-file"])
def test_errors_are_one_chinese_sentence_and_its_fix(args, english):
    en = runner(*args, env={"LANG": "C.UTF-8"})
    assert en.returncode == 2 and english in en.stderr.lower(), en.stderr
    zh = runner(*args, env={"LANG": "zh_CN.UTF-8"})
    assert zh.returncode == 2 and HAN.search(zh.stderr) and "Traceback" not in zh.stderr, zh.stderr
    assert english not in zh.stderr.lower(), zh.stderr


def test_a_hint_and_a_lessons_text_are_chinese():
    hint = runner("hint", "lesson1", env={"LANG": "zh_CN.UTF-8"})
    assert hint.returncode == 0 and HAN.search(hint.stdout) and "README.zh.md" in hint.stdout, hint.stdout
    show = runner("show", "lesson1", env={"LANG": "zh_CN.UTF-8"})
    assert show.returncode == 0 and "[English](README.md)" in show.stdout, show.stdout[:300]


def test_help_is_chinese_under_a_chinese_locale():
    zh = runner("--help", env={"LANG": "zh_CN.UTF-8"})
    assert zh.returncode == 0 and HAN.search(zh.stdout) and "--lang" in zh.stdout
