"""Flame graphs: folding stacks, the folded text format, and the SVG drawing read back as XML."""

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from runner import flamegraph, lessons

NS = "{http://www.w3.org/2000/svg}"
PROFILE = {"spin;main;hot": 3, "spin;main;cold": 1, "spin;idle": 2, "do_syscall_64_[k];ksys_read_[k]": 2}


def frames(document):
    """{frame name: (x, y, width)} for every frame drawn, read from its <title> and <rect>."""
    found = {}
    for group in ET.fromstring(document).iter(NS + "g"):
        name = group.find(NS + "title").text.rsplit(" (", 1)[0]
        rect = group.find(NS + "rect")
        found[name] = (float(rect.get("x")), float(rect.get("y")), float(rect.get("width")))
    return found


def test_fold_sums_equal_stacks_and_drops_counts_of_zero_or_less():
    rows = [{"stack": "a;b", "count": 2}, {"stack": "a;b", "count": 3}, {"stack": "a;c", "count": 0},
            {"stack": "a;b", "count": -4}, {"stack": "d", "count": 1}]
    assert flamegraph.fold(rows) == {"a;b": 5, "d": 1}


def test_folded_text_is_sorted_lines_and_read_folded_reads_it_back():
    text = flamegraph.folded_text(PROFILE)
    assert text.splitlines()[0] == "do_syscall_64_[k];ksys_read_[k] 2"
    assert text.endswith("\n") and text.splitlines() == sorted(text.splitlines())
    assert flamegraph.read_folded(text + "\n\n") == PROFILE


def test_read_folded_names_the_line_without_a_count():
    with pytest.raises(ValueError, match="line 3"):
        flamegraph.read_folded("a;b 1\n\na;c many\n")


def test_svg_parses_as_xml():
    root = ET.fromstring(flamegraph.svg(PROFILE, title="CPU profile"))
    assert root.tag == NS + "svg"
    texts = [t.text for t in root.iter(NS + "text")]
    assert "CPU profile" in texts and "8 samples" in texts


def test_sibling_frames_with_counts_3_and_1_are_3_to_1_wide():
    drawn = frames(flamegraph.svg({"main;hot": 3, "main;cold": 1}))
    assert drawn["hot"][2] == pytest.approx(3 * drawn["cold"][2], abs=0.5)
    assert drawn["hot"][2] + drawn["cold"][2] == pytest.approx(drawn["main"][2], abs=0.5)


def test_a_child_lies_within_its_parent_and_above_it():
    drawn = frames(flamegraph.svg(PROFILE))
    for child, parent in [("main", "spin"), ("hot", "main"), ("cold", "main"), ("ksys_read_[k]", "do_syscall_64_[k]")]:
        cx, cy, cw = drawn[child]
        px, py, pw = drawn[parent]
        assert px - 0.01 <= cx and cx + cw <= px + pw + 0.01
        assert cy < py


def test_names_with_angle_brackets_and_ampersands_are_escaped():
    name = 'std::vector<int>::push_back(int&&) "x"'
    document = flamegraph.svg({f"main;{name}": 5}, title="a < b & c")
    assert "<int>" not in document
    drawn = frames(document)
    assert name in drawn
    assert "a < b & c" in [t.text for t in ET.fromstring(document).iter(NS + "text")]


def test_the_same_profile_gives_the_same_svg_twice():
    reordered = dict(reversed(list(PROFILE.items())))
    assert flamegraph.svg(PROFILE) == flamegraph.svg(PROFILE) == flamegraph.svg(reordered)


def test_every_frame_name_appears_in_a_title():
    titles = [t.text for t in ET.fromstring(flamegraph.svg(PROFILE)).iter(NS + "title")]
    for stack in PROFILE:
        for name in stack.split(";"):
            assert any(title.startswith(name + " (") for title in titles), name


def test_frames_narrower_than_a_tenth_of_a_pixel_are_left_out():
    drawn = frames(flamegraph.svg({"main;busy": 100000, "main;rare": 1}, width=1200))
    assert "busy" in drawn and "rare" not in drawn


def test_long_names_are_cut_with_dots_and_narrow_frames_have_no_label():
    assert flamegraph.label("a_rather_long_function_name", 60) == "a_rat.."  # 7 characters fit in 60 px
    assert flamegraph.label("main", 60) == "main"
    assert flamegraph.label("short", 10) == ""


def test_kernel_frames_get_an_orange_distinct_from_user_frames_and_colours_are_stable():
    assert flamegraph.colour("hot") == flamegraph.colour("hot")
    red, green, blue = map(int, flamegraph.colour("ksys_read_[k]")[4:-1].split(","))
    assert red >= 190 and 90 <= green <= 155 and blue == 0


def test_an_empty_profile_gives_a_valid_svg_that_says_no_samples():
    root = ET.fromstring(flamegraph.svg({}))
    assert "no samples" in [t.text for t in root.iter(NS + "text")]
    assert list(root.iter(NS + "g")) == []


def test_the_command_line_draws_a_folded_file_and_says_what_it_drew(tmp_path):
    folded = tmp_path / "p.folded"
    folded.write_text("spin;main;hot 30\nspin;main;warm 10\n")
    out = subprocess.run([sys.executable, "-m", "runner", "flamegraph", str(folded)], capture_output=True, text=True,
                         cwd=str(lessons.ROOT))
    assert out.returncode == 0 and "40 samples in 2 stacks" in out.stdout
    assert "hot (30 samples, 75" in (tmp_path / "p.svg").read_text()
