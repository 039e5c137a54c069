import io
import json

from runner import lessons, render
from runner import diagnostics
from runner.diagnostics import compiler_messages


def lesson(*columns, formats=None):
    return lessons.Lesson(number=1, name="x", title="", teaches="", events="trace_pipe", columns=list(columns),
                          formats=formats or {})


def test_text_rows_use_bcc_columns():
    out = render.Output(lesson("time", "comm", "pid", "message"), stream=io.StringIO())
    out.header()
    out.event({"time": 12.5, "comm": "bash", "pid": 42, "message": "Hello, World!"})
    header, row = out.stream.getvalue().splitlines()
    assert header.split() == ["TIME(s)", "COMM", "PID", "MESSAGE"]
    assert row == "12.500000000       bash             42      Hello, World!"
    assert header.index("COMM") == row.index("bash") and header.index("PID") == row.index("42")


def test_unknown_keys_get_an_upper_case_column_and_bad_types_do_not_crash():
    out = render.Output(lesson("pid", "bytes"), stream=io.StringIO())
    out.event({"pid": "not-a-number", "bytes": 10})
    assert out.stream.getvalue().split() == ["not-a-number", "10"]
    assert out.lesson.column("bytes")[0] == "BYTES"


def test_a_lesson_declares_its_own_column_formats():
    out = render.Output(lesson("pid", "ms", formats={"ms": ("MS", 8, "%.1f")}), stream=io.StringIO())
    out.header()
    out.event({"pid": 7, "ms": 2.25})
    header, row = out.stream.getvalue().splitlines()
    assert header.split() == ["PID", "MS"] and row.split() == ["7", "2.2"]


def test_json_mode_prints_one_object_per_event_and_a_summary():
    out = render.Output(lesson("pid"), json_mode=True, stream=io.StringIO())
    out.say("narration is not JSON")
    out.header()
    out.event({"pid": 1})
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
    # clang's count would include the hidden harmless warning: a count that does not match what is shown is left out
    assert "generated" not in kept


def test_a_load_that_succeeded_after_a_first_way_failed_shows_none_of_that_ways_errors():
    first = "/virtual/main.c:81:21: error: field has incomplete type 'enum sk_rst_reason'\n  enum sk_rst_reason reason;\n1 error generated.\n"
    second = "/work/main/lessons/lesson1_hello/hello.c:3:9: warning: unused variable 'x' [-Wunused-variable]\n    int x;\n1 warning generated.\n"
    kept = compiler_messages(first + second, loaded=True)
    assert "sk_rst_reason" not in kept and "unused variable 'x'" in kept
    last = diagnostics.last_compile(first + second)  # what a failed second compile is explained from
    assert "sk_rst_reason" not in last and "unused variable 'x'" in last


def test_log2_rows_number_buckets_as_bpf_log2l_does_and_keep_the_empty_ones_between():
    # bpf_log2l(v): 0 for 0, else floor(log2(v)) + 1, so bucket 4 holds 8..15 and bucket 7 holds 64..127
    rows = render.log2_rows({4: 25, 7: 3, 9: 0})
    assert [(r["low"], r["high"], r["count"]) for r in rows] == [
        (1, 1, 0), (2, 3, 0), (4, 7, 0), (8, 15, 25), (16, 31, 0), (32, 63, 0), (64, 127, 3)]
    assert render.log2_rows({0: 2, 1: 1})[0] == {"low": 0, "high": 0, "count": 2}
    assert render.log2_rows({}) == render.log2_rows({3: 0}) == []


def test_the_summary_shows_a_histogram_with_bars_scaled_to_the_largest_bucket():
    out = render.Output(stream=io.StringIO())
    summary = {"events": 4, "lost": None, "duration": 1.0, "rows": 1, "intervals": 1, "probes": [],
               "fallbacks": [], "kernel": "6.18", "workload": None,
               "histogram": {"label": "strlen() returned", "buckets": render.log2_rows({2: 1, 3: 4})}}
    out.summary(summary)
    lines = out.stream.getvalue().splitlines()
    first = next(i for i, line in enumerate(lines) if "strlen() returned" in line)
    assert lines[first].split() == ["strlen()", "returned", ":", "count", "distribution"]
    one, two, three = lines[first + 1:first + 4]
    assert one.split()[:5] == ["1", "->", "1", ":", "0"] and one.count("*") == 0
    assert two.split()[:5] == ["2", "->", "3", ":", "1"] and two.count("*") == 10
    assert three.split()[:5] == ["4", "->", "7", ":", "4"] and three.count("*") == 40
    assert one.index("|") == two.index("|") == three.index("|") and lines[first + 4] == ""


def test_the_workload_summary_adds_up_its_children_and_what_else_it_caused():
    base = {"events": 12, "lost": 0, "duration": 1.0, "probes": [], "fallbacks": [], "kernel": "6.18"}
    work = {"pid": 9, "comm": "bcc-workload", "ops": 10, "what": "resets and execs", "pids": [10, 11],
            "also": [{"count": 1, "why": "its own start"}]}
    line = render.summary_lines(dict(base, workload=work, workload_events=11))[1]
    assert line.endswith("; 11 of the events above are its and its children's: its 10, and 1 more: its own start.")
    line = render.summary_lines(dict(base, workload=work, workload_events=5))[1]
    assert line.endswith("(6 of the 11 it caused did not arrive).")
    table = dict(base, rows=3, intervals=2, workload_events=104,
                 workload={"pid": 9, "comm": "bcc-workload", "ops": 103, "what": "calls",
                           "also": [{"count": 1, "why": "Python's own call at start-up"}]})
    assert render.summary_lines(table)[1].endswith(
        "the map counted 104 for its pid: its 103, and 1 more: Python's own call at start-up.")


def test_losses_the_kernel_never_reported_are_said_and_its_figure_called_a_lower_bound():
    base = {"events": 90, "lost": 2, "duration": 1.0, "probes": [], "fallbacks": [], "kernel": "6.18",
            "workload": {"pid": 9, "comm": "bcc-workload", "ops": 407, "what": "clone() calls"},
            "workload_events": 88, "lost_unreported": 317}
    lines = render.summary_lines(base)
    assert lines[0] == "90 events in 1.0 s, 2 lost as the kernel reported, at least 319 in fact."
    assert any(line.startswith("The kernel reported 2 lost, yet 319 of the workload's events did not arrive: "
                               "it reports a loss only with the next event written to that CPU's buffer") for line in lines)
    assert not any("lower bound" in line for line in render.summary_lines(dict(base, lost_unreported=0)))


def test_a_burst_of_events_alike_but_for_their_time_prints_as_one_line_and_a_count_and_json_keeps_each():
    from runner import lessons
    lesson = lessons.find("lesson2")
    burst = [{"time": 1.0 + i / 1000, "comm": "bcc-workload", "pid": 7, "cpu": 0, "message": "clone()"} for i in range(400)]
    other = {"time": 2.0, "comm": "bash", "pid": 8, "cpu": 1, "message": "clone()"}
    out = render.Output(lesson, stream=io.StringIO())
    for record in burst + [other]:
        out.event(record)
    out.lost(3)
    lines = out.stream.getvalue().splitlines()
    assert len(lines) == 4 and "bcc-workload" in lines[0] and "bash" in lines[2]
    assert lines[1].strip() == "... and 399 more like the line above within 10 ms of each other (--json shows each)"
    assert lines[3].startswith("Lost 3 events")
    # the same event a second apart is not a burst: each is shown
    out = render.Output(lesson, stream=io.StringIO())
    for i in range(3):
        out.event(dict(other, time=float(i)))
    assert len(out.stream.getvalue().splitlines()) == 3
    out = render.Output(lesson, json_mode=True, stream=io.StringIO())
    for record in burst:
        out.event(record)
    assert len(out.stream.getvalue().splitlines()) == 400
