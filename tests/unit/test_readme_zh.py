"""Every English README (top level, each lesson, each exercise) has a Chinese README.zh.md beside it with the
same sections and the same code blocks, byte for byte: the code is the same code in both editions."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = [ROOT / "README.md"] + sorted(ROOT.glob("lessons/*/README.md")) + sorted(
    ROOT.glob("lessons/*/exercise/README.md"))
GLOSSARY = ROOT / "lessons" / "glossary.zh.md"
FENCE = re.compile(r"^(\s*)(```+|~~~+)")


def structure(text):
    """([(level, heading)], [code block]) outside fenced code; a code block keeps its fence and indentation."""
    headings, blocks, block, fence = [], [], None, None
    for line in text.splitlines():
        opened = FENCE.match(line)
        if block is not None:
            block.append(line)
            if opened and opened.group(2).startswith(fence) and line.strip() == opened.group(2):
                blocks.append("\n".join(block))
                block = None
            continue
        if opened:
            block, fence = [line], opened.group(2)
            continue
        heading = re.match(r"^(#{1,6}) (.*)", line)
        if heading:
            headings.append((len(heading.group(1)), heading.group(2).strip()))
    assert block is None, "a code block is not closed"
    return headings, blocks


def chinese(path):
    return path.with_name("README.zh.md")


def test_structure_reads_headings_and_code_but_not_headings_inside_code():
    headings, blocks = structure("# T\n\ntext\n\n```\n# not a heading\n```\n\n## S\n\n  ```c\n  int x;\n  ```\n")
    assert headings == [(1, "T"), (2, "S")]
    assert blocks == ["```\n# not a heading\n```", "  ```c\n  int x;\n  ```"]


def test_every_english_readme_is_found():
    assert len(ENGLISH) >= 1 + 2 * 6, [str(p) for p in ENGLISH]


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_chinese_readme_has_the_same_sections_and_identical_code(english):
    zh = chinese(english)
    assert zh.exists(), f"{zh.relative_to(ROOT)} is missing: every README has its Chinese edition beside it"
    en_headings, en_blocks = structure(english.read_text(encoding="utf-8"))
    zh_text = zh.read_text(encoding="utf-8")
    zh_headings, zh_blocks = structure(zh_text)
    assert [level for level, _ in zh_headings] == [level for level, _ in en_headings], (
        "the sections differ:\n" + "\n".join(f"{a!r:60} {b!r}" for a, b in zip(en_headings, zh_headings)))
    for i, (a, b) in enumerate(zip(en_blocks, zh_blocks)):
        assert a == b, f"code block {i + 1} differs:\n--- English\n{a}\n--- Chinese\n{b}"
    assert len(zh_blocks) == len(en_blocks), f"{len(en_blocks)} code blocks in English, {len(zh_blocks)} in Chinese"
    assert re.search(r"[\u4e00-\u9fff]", zh_text), "the Chinese README has no Chinese in it"
    assert "README.zh.md" in english.read_text(encoding="utf-8"), "the English README links to its Chinese edition"
    assert "(README.md)" in zh_text, "the Chinese README links back to the English one"
    assert "glossary.zh.md" in zh_text, "the Chinese README links to the glossary"


def test_the_glossary_has_the_terms_the_issue_names():
    text = GLOSSARY.read_text(encoding="utf-8")
    for term in ("探针", "追踪点", "映射", "辅助函数", "验证器", "环形缓冲区"):
        assert term in text
