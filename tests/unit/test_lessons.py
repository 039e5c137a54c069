import pytest

from runner import lessons
from runner.errors import LessonFailed, UsageError


def test_discovery_lists_lessons_in_order_with_their_files():
    found = lessons.load_all()
    assert [lesson.number for lesson in found] == sorted(lesson.number for lesson in found)
    for lesson in found:
        assert lesson.program_path.is_file(), lesson.program_path
        assert lesson.glue_path.is_file(), lesson.glue_path
        assert lesson.readme_path.is_file(), lesson.readme_path
        assert lesson.intro(), f"{lesson.id}'s README has no opening paragraph for the runner to narrate"


@pytest.mark.parametrize("typed", ["lesson1", "1", "lesson01", "Lesson1", "LESSON1", "lesson1_hello", "hello",
                                   " lesson1 ", "lessons/lesson1_hello/", "01"])
def test_find_accepts_the_sensible_spellings(typed):
    assert lessons.find(typed).number == 1


@pytest.mark.parametrize("typed", ["lesson99", "0", "hell", "lesson", "", "lesson1x", "-1"])
def test_find_rejects_unknown_lessons_with_a_usage_error(typed):
    with pytest.raises(UsageError) as err:
        lessons.find(typed)
    assert err.value.code == 2
    assert "lesson1" in err.value.fix


def test_broken_metadata_is_one_clear_sentence(tmp_path):
    bad = tmp_path / "lessons.toml"
    bad.write_text("[[lesson]\nnumber = 1\n")
    with pytest.raises(LessonFailed, match="not valid TOML"):
        lessons.load_all(bad)
    bad.write_text("# nothing here\n")
    with pytest.raises(LessonFailed, match="no \\[\\[lesson\\]\\] entries"):
        lessons.load_all(bad)
    bad.write_text('[[lesson]]\nnumber = 1\nname = "x"\n')
    with pytest.raises(LessonFailed, match="lacks"):
        lessons.load_all(bad)
    with pytest.raises(LessonFailed, match="missing"):
        lessons.load_all(tmp_path / "absent.toml")


GOOD = '''[[lesson]]
number = 1
name = "one"
title = "t"
teaches = "t"
events = "trace_pipe"
columns = ["pid"]
'''


def lesson_folder(root, number=1, name="one", workload=False):
    folder = root / f"lesson{number}_{name}"
    folder.mkdir(parents=True, exist_ok=True)
    for file in ("README.md", f"{name}.c", f"{name}.py") + (("workload.py",) if workload else ()):
        (folder / file).write_text("x\n")
    return folder


@pytest.mark.parametrize("extra, says", [
    ('colums = ["pid"]\n', "lesson 1 (one) has an unknown key 'colums'"),
    ('options = ["pdi"]\n', "lesson 1 (one) accepts an unknown option 'pdi'"),
    ('options = [{ name = "Size", type = "int", help = "h" }]\n', "declares the option 'Size'"),
    ('options = [{ name = "pid", type = "int", help = "h" }]\n', "declares the option 'pid'"),
    ('prefers = "kprobe"\n', "has prefers = 'kprobe', which should be a list"),
    ('workload = { count = 1 }\n', "has no file"),
    ('[lesson.exercise]\nedits = ["one.c"]\n', "has an unknown key exercise.'edits'"),
    ('[lesson.exercise]\nduration = "5"\n', "has exercise.duration = '5'"),
    ('needs_pid = true\n', 'has needs_pid = true but does not take the option "pid"'),
    ('needs_pid = 1\n', "has needs_pid = 1, which should be"),
], ids=["unknown key", "unknown option", "flag name", "reserved flag", "wrong type", "missing workload",
        "unknown exercise key", "exercise type", "needs_pid without pid", "needs_pid type"])
def test_a_mistake_in_lessons_toml_is_one_sentence_naming_the_lesson_and_the_key(tmp_path, extra, says):
    lesson_folder(tmp_path)
    (tmp_path / "lessons.toml").write_text(GOOD + extra)
    with pytest.raises(LessonFailed) as err:
        lessons.load_all(tmp_path / "lessons.toml")
    assert says in str(err.value) and err.value.fix


def test_a_declared_column_needs_its_header_width_and_format(tmp_path):
    lesson_folder(tmp_path)
    (tmp_path / "lessons.toml").write_text(GOOD.replace('["pid"]', '["pid", { key = "ms", header = "MS" }]'))
    with pytest.raises(LessonFailed, match="declares a column without 'width'"):
        lessons.load_all(tmp_path / "lessons.toml")


def test_a_missing_file_and_a_number_used_twice_are_named(tmp_path):
    (tmp_path / "lessons.toml").write_text(GOOD)
    with pytest.raises(LessonFailed, match=r"lesson 1 \(one\) has no file .*lesson1_one/README.md"):
        lessons.load_all(tmp_path / "lessons.toml")
    lesson_folder(tmp_path)
    lesson_folder(tmp_path, name="two")
    (tmp_path / "lessons.toml").write_text(GOOD + GOOD.replace('"one"', '"two"'))
    with pytest.raises(LessonFailed, match="lesson 1 \\(two\\) has the number 1, which lesson one already has"):
        lessons.load_all(tmp_path / "lessons.toml")


def test_the_real_lesson_list_is_in_order_and_declares_what_the_runner_shows():
    found = lessons.load_all()
    text = (lessons.ROOT / "lessons" / "lessons.toml").read_text()
    numbers = [int(n) for n in __import__("re").findall(r"^number = (\d+)", text, flags=__import__("re").M)]
    assert numbers == sorted(numbers), "lessons.toml lists the lessons in the order of their numbers"
    assert lessons.find("3").column("slept_ms") == ("SLEPT(ms)", 10, "%.3f")
    assert lessons.find("6").options == ["pid", "probe"]
    assert lessons.find("5").names_a_thing("sport") and not lessons.find("3").names_a_thing("slept_ms")
    for lesson in found:
        if lesson.workload is not None:
            assert lesson.workload_path.is_file()


def test_no_file_in_runner_names_a_lesson():
    """A lesson is its folder plus its entry: runner/ holds no lesson's names, marks or columns."""
    import re
    found = lessons.load_all()
    mechanisms = {"kprobes", "tracepoints", "uprobes"}  # lesson names that are also what the doctor checks
    words = {lesson.name for lesson in found} - mechanisms | {"slept_ms", "sport", "dport", "lesson6:", "strlen"}
    for path in (lessons.ROOT / "runner").rglob("*.py"):
        text = path.read_text()
        for word in words:
            assert not re.search(rf"\b{re.escape(word)}\b", text), f"{path} names {word!r}"
        assert not re.search(r"\blessons? [1-9]\b", text), f"{path} names a lesson by its number"


@pytest.mark.parametrize("extra, says", [
    ('prefers = [1]\n', "has prefers entry 1, which should be a string"),
    ('ids = ["sport", 2]\n', "has ids entry 2, which should be a string"),
    ('[lesson.exercise]\nedit = [1]\n', "has exercise.edit entry 1, which should be a string"),
    ('[lesson.exercise]\nedit = ["../one.c"]\n', "has exercise.edit entry '../one.c', which should be a file name"),
    ('workload = { count = { a = 1 } }\n', "has workload.count = {'a': 1}, which should be a string, a number"),
    ('[lesson.exercise]\nworkload = { count = [[1]] }\n', "has exercise.workload.count = [[1]], which should be"),
    ('options = [{ name = "size", type = "int", default = "big", help = "h" }]\n',
     "declares the option 'size' of type 'int' with default = 'big', which should be a whole number"),
    ('options = [{ name = "on", type = "bool", default = 1, help = "h" }]\n',
     "declares the option 'on' of type 'bool' with default = 1, which should be true or false"),
    ('options = [{ name = "rate", type = "float", default = "x", help = "h" }]\n', "default = 'x', which should be a number"),
    ('bcc_fallbacks = { "nomodule" = "s" }\n', "has bcc_fallbacks key 'nomodule', which should name module.Class.call"),
    ('number = 0\n', None),  # replaced below: a number must be 1 or more
], ids=["prefers entry", "ids entry", "edit entry", "edit path", "workload value", "exercise workload value",
        "int default", "bool default", "float default", "bcc_fallbacks key", "number 0"])
def test_every_value_in_lessons_toml_has_its_type_checked(tmp_path, extra, says):
    lesson_folder(tmp_path)
    text = GOOD + extra
    if extra.startswith("number"):
        text, says = GOOD.replace("number = 1", "number = 0"), "has number = 0, which should be 1 or more"
        lesson_folder(tmp_path, number=0)
    (tmp_path / "lessons.toml").write_text(text)
    with pytest.raises(LessonFailed) as err:
        lessons.load_all(tmp_path / "lessons.toml")
    assert says in str(err.value) and err.value.fix


@pytest.mark.parametrize("events", ["tablex", "trace_pipe2", "perf:", "perf:my-table", "perf"])
def test_events_is_exactly_trace_pipe_table_or_perf_and_a_table_name(tmp_path, events):
    lesson_folder(tmp_path)
    (tmp_path / "lessons.toml").write_text(GOOD.replace('"trace_pipe"', f'"{events}"'))
    with pytest.raises(LessonFailed, match=f"has an unknown events source '{events}'"):
        lessons.load_all(tmp_path / "lessons.toml")


@pytest.mark.parametrize("column, says", [
    ('{ key = "ms", header = "MS", width = 10, format = "%q" }', "format = '%q', which should be one printf conversion"),
    ('{ key = "ms", header = "MS", width = 10, format = "%d %d" }', "format = '%d %d', which should be one printf"),
    ('{ key = "ms", header = "MS", width = 10, format = "ms" }', "format = 'ms', which should be one printf"),
    ('{ key = "ms", header = "MS", width = -1, format = "%d" }', "width = -1, which should be 0 or more"),
], ids=["unknown conversion", "two conversions", "no conversion", "negative width"])
def test_a_declared_columns_format_and_width_are_checked(tmp_path, column, says):
    lesson_folder(tmp_path)
    (tmp_path / "lessons.toml").write_text(GOOD.replace('["pid"]', f'["pid", {column}]'))
    with pytest.raises(LessonFailed) as err:
        lessons.load_all(tmp_path / "lessons.toml")
    assert says in str(err.value) and err.value.fix


def test_good_formats_widths_and_defaults_are_accepted(tmp_path):
    lesson_folder(tmp_path)
    columns = ('["pid", { key = "ms", header = "MS", width = 10, format = "%-10.3f%%" }, '
               '{ key = "n", header = "N", width = 0, format = "%#x" }]')
    options = ('options = ["pid", { name = "size", type = "int", default = 64, help = "h" }, '
               '{ name = "rate", type = "float", default = 2, help = "h" }, { name = "on", type = "bool", help = "h" }]\n'
               'workload = { count = 5, names = ["a", 1], fast = true }\n')
    (tmp_path / "lesson1_one" / "workload.py").write_text("x\n")
    (tmp_path / "lessons.toml").write_text(GOOD.replace('["pid"]', columns) + options)
    (lesson,) = lessons.load_all(tmp_path / "lessons.toml")
    assert lesson.column("ms") == ("MS", 10, "%-10.3f%%") and [f.name for f in lesson.flags] == ["size", "rate", "on"]


@pytest.mark.parametrize("readme, says", [
    (b"# One\n\n\xff\xfe\n", "has a README.md that is not UTF-8 text"),
    (None, "has no file"),
], ids=["not UTF-8", "missing"])
def test_a_readme_that_cannot_be_read_is_one_sentence_naming_the_lesson(tmp_path, readme, says):
    folder = lesson_folder(tmp_path)
    if readme is None:
        (folder / "README.md").unlink()
    else:
        (folder / "README.md").write_bytes(readme)
    (tmp_path / "lessons.toml").write_text(GOOD)
    with pytest.raises(LessonFailed) as err:
        lessons.load_all(tmp_path / "lessons.toml")
    assert f"lesson 1 (one) {says}" in str(err.value) and str(folder / "README.md") in str(err.value)
    assert err.value.fix


def test_a_bcc_fallback_naming_a_module_bcc_lacks_is_said_when_it_is_looked_up(tmp_path):
    pytest.importorskip("bcc")
    lesson_folder(tmp_path)
    (tmp_path / "lessons.toml").write_text(GOOD + 'bcc_fallbacks = { "tabel.HashTable.items_lookup_batch" = "s" }\n')
    (lesson,) = lessons.load_all(tmp_path / "lessons.toml")
    with pytest.raises(LessonFailed, match=r"lesson1's bcc_fallbacks names 'tabel.HashTable.items_lookup_batch', but BCC "
                                           r"has no module bcc.tabel"):
        lesson.missing_bcc_calls()
