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
                                   " lesson1 ", "lessons/lesson1_hello/", "lesson-1", "01"])
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
