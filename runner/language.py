"""Which language the runner speaks: Chinese where the locale says so (LANG=zh_CN.UTF-8) or --lang zh, else English.

The runner's modules mark each message _("... {name} ...").format(name=...) with _ from here. The lessons'
checks and workloads, which never import the runner, call the standard library's gettext.gettext(): use()
binds the same catalog as the process's text domain, and it passes the language on to the processes the
runner starts (a workload, a notebook's kernel) through LANGUAGE, which gettext reads first.

The catalog is runner/locale/zh_CN/LC_MESSAGES/bcc-lessons.po, compiled to the .mo beside it:
`make translations` extracts the messages (Babel, babel.cfg), merges them into the .po and compiles it;
tests/unit/test_translations.py fails on a message without its translation.
"""

import contextlib
import gettext
import os

DOMAIN = "bcc-lessons"
LOCALEDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")
LANGUAGES = {"en": "en", "zh": "zh_CN"}  # --lang's choices, and the locale each one means

_translation = None


def use(lang=None):
    """Speak `lang` ("en" or "zh") from now on, here and in the processes started from here; None: as the
    locale says (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, in gettext's order). Returns "en" or "zh"."""
    global _translation
    if lang is not None:
        os.environ["LANGUAGE"] = LANGUAGES[lang]
    gettext.bindtextdomain(DOMAIN, LOCALEDIR)
    gettext.textdomain(DOMAIN)
    _translation = gettext.translation(DOMAIN, LOCALEDIR, fallback=True)
    return current()


@contextlib.contextmanager
def speaking(lang):
    """Speak `lang` inside the with block, then as before (LANGUAGE as it was)."""
    before = os.environ.get("LANGUAGE")
    use(lang)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("LANGUAGE", None)
        else:
            os.environ["LANGUAGE"] = before
        use()


def current():
    """"zh" when the messages are Chinese, else "en"."""
    if _translation is None:
        use()
    return "zh" if isinstance(_translation, gettext.GNUTranslations) else "en"


def take(argv):
    """(lang, argv without it): --lang zh / --lang=zh is accepted anywhere in a command line, like --debug, and
    read before the parser is built so that its help is in that language too. lang is None when it is not there;
    a value that is not a choice is left in argv for the parser to refuse."""
    rest, lang, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        value = arg[len("--lang="):] if arg.startswith("--lang=") else (
            argv[i + 1] if arg == "--lang" and i + 1 < len(argv) else None)
        if value in LANGUAGES:
            lang = value
            i += 1 if arg.startswith("--lang=") else 2
            continue
        rest.append(arg)
        i += 1
    return lang, rest


def _(message):
    """The message in the runner's language ("" stays "": gettext's "" is the catalog's header)."""
    return (_translation or _start()).gettext(message) if message else message


def ngettext(singular, plural, n):
    """The singular or plural message for n, in the runner's language (Chinese has one form)."""
    return (_translation or _start()).ngettext(singular, plural, n)


def N_(message):
    """Marks a message for the catalog where it is defined (a table of messages); _() translates it where used."""
    return message


def _start():
    use()
    return _translation


# argparse's own messages, which it looks up with gettext.gettext() in the text domain use() binds: in the
# catalog, so that a usage error reads in the runner's language too (the wording of Python 3.9 to 3.13)
ARGPARSE = (
    N_("usage: "), N_("%(prog)s: error: %(message)s\n"), N_("argument %(argument_name)s: %(message)s"),
    N_("show this help message and exit"), N_("positional arguments"), N_("options"), N_("optional arguments"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"), N_("expected one argument"), N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"), N_("not allowed with argument %s"),
)
