import io
import json

from runner import render
from runner.diagnostics import compiler_messages


def test_text_rows_use_bcc_columns():
    out = render.Output(stream=io.StringIO())
    out.header(["time", "comm", "pid", "message"])
    out.event({"time": 12.5, "comm": "bash", "pid": 42, "message": "Hello, World!"}, ["time", "comm", "pid", "message"])
    header, row = out.stream.getvalue().splitlines()
    assert header.split() == ["TIME(s)", "COMM", "PID", "MESSAGE"]
    assert row == "12.500000000       bash             42      Hello, World!"
    assert header.index("COMM") == row.index("bash") and header.index("PID") == row.index("42")


def test_unknown_keys_get_an_upper_case_column_and_bad_types_do_not_crash():
    out = render.Output(stream=io.StringIO())
    out.event({"pid": "not-a-number", "bytes": 10}, ["pid", "bytes"])
    assert out.stream.getvalue().split() == ["not-a-number", "10"]
    assert render.column("bytes")[0] == "BYTES"


def test_json_mode_prints_one_object_per_event_and_a_summary():
    out = render.Output(json_mode=True, stream=io.StringIO())
    out.say("narration is not JSON")
    out.header(["pid"])
    out.event({"pid": 1}, ["pid"])
    out.summary({"events": 1})
    lines = [json.loads(line) for line in out.stream.getvalue().splitlines()]
    assert lines == [{"pid": 1}, {"summary": {"events": 1}}]


CLANG = """\
In file included from <built-in>:4:
In file included from /virtual/include/bcc/helpers.h:53:
arch/x86/include/asm/ibt.h:77:8: warning: 'nocf_check' attribute ignored; use -fcf-protection to enable the attribute [-Wignored-attributes]
extern __noendbr u64 ibt_save(bool disable);
       ^
arch/x86/include/asm/ibt.h:32:34: note: expanded from macro '__noendbr'
#define __noendbr       __attribute__((nocf_check))
                                       ^
/work/main/lessons/lesson1_hello/hello.c:12:5: error: use of undeclared identifier 'oops'
    oops;
    ^
/work/main/lessons/lesson1_hello/hello.c:3:9: warning: unused variable 'x' [-Wunused-variable]
    int x;
        ^
2 warnings and 1 error generated.
"""


def test_compiler_messages_keep_errors_and_real_warnings_but_drop_the_harmless_header_warning():
    kept = compiler_messages(CLANG)
    assert "nocf_check" not in kept and "__noendbr" not in kept and "In file included" not in kept
    assert "hello.c:12:5: error: use of undeclared identifier 'oops'" in kept
    assert "hello.c:3:9: warning: unused variable 'x'" in kept
    assert "    oops;" in kept
