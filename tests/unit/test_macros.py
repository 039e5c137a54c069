"""`python3 -m runner macros` and `show LESSON --macros`: the BPF_* macros as the installed libbcc defines them.

Without a kernel: the text is found in a fixture's bytes and in a fake library, families and expansions come from
an excerpt of bcc 0.26's helpers.h, and a library without the text is one sentence and its fix. The last tests read
the libbcc installed here (importing bcc loads it; nothing is compiled or loaded into the kernel).
"""

import os
import re
import subprocess
import sys

import pytest

from runner import macros
from runner.__main__ import main, normalize
from runner.errors import UsageError
from tests.support import ROOT, runner

# bcc 0.26's helpers.h, cut down: the macros it shares, BPF_HASH's family, a macro without helpers, and the
# histogram's family (whose helpers are named BPF_HIST*, not after it).
EXCERPT = r'''/*
 * Copyright (c) 2015 PLUMgrid, Inc.
 */
#ifndef __BPF_HELPERS_H
#define __BPF_HELPERS_H

// Associate map with its key/value types
#define BPF_ANNOTATE_KV_PAIR(name, type_key, type_val)	\
        struct ____btf_map_##name {			\
                type_key key;				\
                type_val value;				\
        }

// Changes to the macro require changes in BFrontendAction classes
#define BPF_F_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries, _flags) \
struct _name##_table_t { \
  _key_type key; \
  _leaf_type leaf; \
}; \
__attribute__((section("maps/" _table_type))) \
struct _name##_table_t _name = { .flags = (_flags), .max_entries = (_max_entries) }; \
BPF_ANNOTATE_KV_PAIR(_name, _key_type, _leaf_type)

#define BPF_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries) \
BPF_F_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries, 0)

#define BPF_TABLE_PINNED7(_table_type, _key_type, _leaf_type, _name, _max_entries, _pinned, _flags) \
  BPF_F_TABLE(_table_type ":" _pinned, _key_type, _leaf_type, _name, _max_entries, _flags)

// Table for pushing custom events to userspace via perf ring buffer
#define BPF_PERF_OUTPUT(_name) \
struct _name##_table_t { \
  int key; \
  u32 leaf; \
  /* map.perf_submit(ctx, data, data_size) */ \
  int (*perf_submit) (void *, void *, u32); \
  u32 max_entries; \
}; \
__attribute__((section("maps/perf_output"))) \
struct _name##_table_t _name = { .max_entries = 0 }

#define BPF_HASH1(_name) \
  BPF_TABLE("hash", u64, u64, _name, 10240)
#define BPF_HASH2(_name, _key_type) \
  BPF_TABLE("hash", _key_type, u64, _name, 10240)
#define BPF_HASH3(_name, _key_type, _leaf_type) \
  BPF_TABLE("hash", _key_type, _leaf_type, _name, 10240)
#define BPF_HASH4(_name, _key_type, _leaf_type, _size) \
  BPF_TABLE("hash", _key_type, _leaf_type, _name, _size)

// helper for default-variable macro function
#define BPF_HASHX(_1, _2, _3, _4, NAME, ...) NAME

// Define a hash function, some arguments optional
// BPF_HASH(name, key_type=u64, leaf_type=u64, size=10240)
#define BPF_HASH(...) \
  BPF_HASHX(__VA_ARGS__, BPF_HASH4, BPF_HASH3, BPF_HASH2, BPF_HASH1)(__VA_ARGS__)

#define BPF_HIST1(_name) \
  BPF_TABLE("histogram", int, u64, _name, 64)
#define BPF_HIST2(_name, _key_type) \
  BPF_TABLE("histogram", _key_type, u64, _name, 64)
#define BPF_HISTX(_1, _2, NAME, ...) NAME

// BPF_HISTOGRAM(name, key_type=int)
#define BPF_HISTOGRAM(...) \
  BPF_HISTX(__VA_ARGS__, BPF_HIST2, BPF_HIST1)(__VA_ARGS__)

static int (*bpf_map_update_elem)(void *map, void *key, void *value, u64 flags) =
  (void *) BPF_FUNC_map_update_elem;

#endif
'''

HASH_BLOCK = EXCERPT[EXCERPT.index("#define BPF_HASH1("):EXCERPT.index("\n\n#define BPF_HIST1")]
HASH1 = '#define BPF_HASH1(_name) \\\n  BPF_TABLE("hash", u64, u64, _name, 10240)'


def fake_library(tmp_path, text=EXCERPT, name="libbcc.so.0.99.0"):
    """A file laid out as libbcc is: code and other strings around helpers.h, one NUL-terminated string."""
    library = tmp_path / name
    library.write_bytes(b"\x7fELF\x02\x01\x01\0" + os.urandom(64).replace(b"#", b"") + b"\0other string\0"
                        + text.encode() + b"\0/*\n * Copyright (c) 2018 Clevernet, Inc.\n */\0" + bytes(32))
    return library


def helpers(text=EXCERPT):
    return macros.Helpers(text, "/usr/lib/libbcc.so.0.99.0", "0.99.0")


def test_helpers_h_is_the_nul_terminated_string_holding_bpf_table():
    data = b"\0\x01binary\0" + EXCERPT.encode() + b"\0#define BPF_OTHER(x) x\0"
    assert macros.helpers_text(data) == EXCERPT
    assert macros.helpers_text(EXCERPT.encode()) == EXCERPT  # no NUL on either side: the whole buffer
    assert macros.helpers_text(b"\0\x7fELF no macros here\0") is None


def test_bpf_hash_family_is_its_own_helpers_and_bpf_table_is_shared():
    h = helpers()
    assert h.family("BPF_HASH") == {"BPF_HASH", "BPF_HASHX", "BPF_HASH1", "BPF_HASH2", "BPF_HASH3", "BPF_HASH4"}
    assert h.family("BPF_HISTOGRAM") == {"BPF_HISTOGRAM", "BPF_HISTX", "BPF_HIST1", "BPF_HIST2"}
    assert h.family("BPF_PERF_OUTPUT") == {"BPF_PERF_OUTPUT"}  # its body's words (key, leaf, perf_submit) are no macros
    assert h.family("BPF_F_TABLE") == {"BPF_F_TABLE", "BPF_ANNOTATE_KV_PAIR"}
    assert h.referrers["BPF_TABLE"] == {"BPF_HASH1", "BPF_HASH2", "BPF_HASH3", "BPF_HASH4", "BPF_HIST1", "BPF_HIST2"}
    assert "_name" not in h.defs and "u64" not in h.refs({"BPF_HASH1"})  # parameters and types are not references
    assert h.top_level() == ["BPF_F_TABLE", "BPF_HASH", "BPF_HISTOGRAM", "BPF_PERF_OUTPUT", "BPF_TABLE",
                             "BPF_TABLE_PINNED7"]


def test_bpf_hash_is_shown_as_helpers_h_has_it_then_bpf_table_one_level_down():
    lines = helpers().describe(["BPF_HASH"])
    text = "\n".join(lines)
    assert text == "\n" + HASH_BLOCK + "\n\nBPF_HASH expands to BPF_TABLE:\n\n" \
        "#define BPF_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries) \\\n" \
        "BPF_F_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries, 0)\n\n" \
        "One level further: python3 -m runner macros BPF_F_TABLE"


def test_two_families_share_one_bpf_table_and_a_macro_keeps_its_comment():
    text = "\n".join(helpers().describe(["BPF_PERF_OUTPUT", "BPF_HASH", "BPF_HISTOGRAM", "BPF_HASH"]))
    assert text.startswith("\n// Table for pushing custom events to userspace via perf ring buffer\n"
                           "#define BPF_PERF_OUTPUT(_name) \\\n")
    assert text.count("#define BPF_HASH1(") == 1 and text.count("#define BPF_TABLE(") == 1
    assert "BPF_HASH and BPF_HISTOGRAM expand to BPF_TABLE:" in text
    assert "// BPF_HISTOGRAM(name, key_type=int)\n#define BPF_HISTOGRAM(...)" in text


def test_a_macro_with_everything_it_names_in_its_family_has_no_further_level():
    text = "\n".join(helpers().describe(["BPF_F_TABLE"]))
    assert "BPF_F_TABLE expands to BPF_ANNOTATE_KV_PAIR" not in text  # BPF_F_TABLE's own helper: in its block
    assert "// Associate map with its key/value types" in text and "One level further" not in text


def test_what_a_learner_types_names_a_macro_or_gets_one_sentence():
    h = helpers()
    assert [h.resolve(t) for t in ("BPF_HASH", "bpf_hash", "hash", "histogram")] == \
        ["BPF_HASH", "BPF_HASH", "BPF_HASH", "BPF_HISTOGRAM"]
    with pytest.raises(UsageError) as err:
        h.resolve("hsh")
    assert str(err.value) == "bcc 0.99.0's helpers.h defines no macro named 'hsh'."
    assert err.value.fix.startswith("Did you mean BPF_HASH?")


def test_a_program_uses_the_macros_it_writes_outside_comments_and_strings():
    program = '''// BPF_ARRAY would do too
    /* BPF_HISTOGRAM(dist); */
    BPF_PERF_OUTPUT(events);
    BPF_HASH(start, u32, u64);
    BPF_HASH(counts);
    int probe(void *ctx) { bpf_trace_printk("BPF_TABLE\\n"); return BPF_F_CURRENT_CPU; }
    '''
    assert macros.used_in(program, helpers()) == ["BPF_PERF_OUTPUT", "BPF_HASH"]


def test_the_command_reads_a_fake_library_and_names_its_version_and_path(tmp_path):
    library = fake_library(tmp_path)
    proc = runner("macros", "hash", "--libbcc", library)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"bcc 0.99.0 defines BPF_HASH in its helpers.h, read from {library}:\n\n")
    assert HASH_BLOCK in proc.stdout and HASH1 in proc.stdout
    listed = runner("macros", "--libbcc", library)
    assert listed.returncode == 0 and "BPF_HASH BPF_HISTOGRAM BPF_PERF_OUTPUT" in listed.stdout
    assert "BPF_HASH1" not in listed.stdout


def test_a_library_without_the_text_is_one_sentence_and_its_fix(tmp_path):
    library = fake_library(tmp_path, text="no macros in here")
    proc = runner("macros", "--libbcc", library)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (f"error: {library} holds no copy of BCC's helpers.h (no '#define BPF_TABLE(' in it), so "
                           "its macros cannot be shown.\nfix: Give a libbcc file: ldconfig -p | grep libbcc lists "
                           "this machine's.\n")
    proc = runner("macros", "--libbcc", tmp_path / "nothing")
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: Could not read {tmp_path / 'nothing'} (No such")


def test_the_installed_libbcc_without_the_text_exits_3_with_the_fix(tmp_path, monkeypatch, capsys):
    library = fake_library(tmp_path, text="stripped")
    monkeypatch.setattr(macros, "installed", lambda: ("0.26.0", str(library)))
    assert main(["show", "lesson3", "--macros"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: {library} holds no copy of BCC's helpers.h")
    assert "fix: Reinstall BCC from your OS's packages (sudo make setup), or read src/cc/export/helpers.h of bcc 0.26.0" \
        in err and "Traceback" not in err


def test_without_bcc_the_command_says_how_to_install_it(tmp_path):
    (tmp_path / "bcc").mkdir()
    (tmp_path / "bcc" / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'bcc\'", name="bcc")\n')
    proc = subprocess.run([sys.executable, "-m", "runner", "macros", "BPF_HASH"], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(tmp_path)), timeout=60)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: BCC's Python module is not importable") and "python3-bpfcc" in proc.stderr


def test_the_library_file_is_the_mapping_that_holds_its_code(tmp_path):
    class Library:  # what ctypes knows of a library it loaded: the name it was asked for, and its functions
        _name = "libbcc.so.0"

        def __init__(self, function=None):
            if function is not None:
                self.bpf_module_create_c_from_string = function

    maps = tmp_path / "maps"
    maps.write_text("55d0a0000000-55d0a0001000 r--p 00000000 fd:01 12 /usr/bin/python3.11\n"
                    "7f0000000000-7f0000100000 r-xp 00000000 fd:01 34 /opt/bcc/lib/libbcc.so.0.30.0\n"
                    "7f0000200000-7f0000300000 r-xp 00000000 fd:01 35 /usr/lib/libbcc.so.0.26.0\n"
                    "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n")
    import ctypes
    function = ctypes.cast(ctypes.c_void_p(0x7f0000200040), ctypes.CFUNCTYPE(None))
    assert macros.mapped_file(Library(function), maps=maps) == "/usr/lib/libbcc.so.0.26.0"
    assert macros.mapped_file(Library(), maps=maps) == "/opt/bcc/lib/libbcc.so.0.30.0"  # by name, the first
    assert macros.mapped_file(Library(), maps=tmp_path / "none") is None
    assert macros.version_in_name("/usr/lib/libbcc.so.0.26.0") == "0.26.0"
    assert macros.version_in_name(str(tmp_path / "libbcc.so")) is None


def test_macros_is_a_command_not_a_lesson():
    assert normalize(["macros", "BPF_HASH"]) == ["macros", "BPF_HASH"]
    assert normalize(["show", "3", "--macros"]) == ["show", "3", "--macros"]


# -- the libbcc installed here -------------------------------------------------------------

def installed_libbcc():
    """The libbcc file BCC's Python module loaded in this process, found here without the runner's code."""
    bcc = pytest.importorskip("bcc", reason="BCC's Python module is not installed here")
    if not hasattr(bcc, "BPF"):
        pytest.skip("the module named bcc here is not BCC")
    from bcc import libbcc  # noqa: F401  (loads it)
    with open("/proc/self/maps") as maps:
        found = {line.split(maxsplit=5)[5].strip() for line in maps
                 if re.search(r"/libbcc\.so[.\d]*$", line.strip())}
    assert len(found) == 1, found
    return bcc.__version__, found.pop()


def test_the_printed_bpf_hash_is_the_installed_libbccs_own():
    version, path = installed_libbcc()
    proc = runner("show", "lesson3", "--macros")
    assert proc.returncode == 0, proc.stderr
    first, _, rest = proc.stdout.partition("\n")
    assert first == f"lesson3's bpf_hash.c uses BPF_HASH. bcc {version} defines it in its helpers.h, read from {path}:"
    with open(path, "rb") as library:
        data = library.read()
    block = rest.split("\n\nBPF_HASH expands to BPF_TABLE:\n\n")[0].strip("\n")
    assert block.startswith("#define BPF_HASH1(_name)") and block.endswith("(__VA_ARGS__)")
    assert block.encode() in data  # every line, as the library holds them
    assert HASH1 in block  # the same in every bcc since v0.4.0: 0.26 here, and 0.18 and 0.31 in Debian 11 and 13
    table = rest.split("\n\nBPF_HASH expands to BPF_TABLE:\n\n")[1].split("\n\nOne level further")[0]
    assert table.startswith("#define BPF_TABLE(") and table.encode() in data


def test_the_doctor_names_the_libbcc_and_the_command():
    version, path = installed_libbcc()
    from runner import doctor
    assert doctor.libbcc_detail() == f", libbcc {path} (python3 -m runner macros shows its BPF_* macros)"
