"""How sampled stacks are drawn: stacks folded into "a;b;c 12" lines, and those drawn as a flame graph SVG.

The folded text is what Brendan Gregg's flamegraph.pl and inferno read; svg() draws the same picture
they do (root at the bottom, width as share of samples, hot colours) with the standard library only.
"""

import hashlib
import html

from .language import _

FRAME = 16  # height of one frame row, in px
PAD = 10  # margin around the drawing, in px
FONT = 12  # label font size, in px; one character is about 0.59 of it wide, as flamegraph.pl assumes


def fold(rows):
    """Sum the counts of equal stacks; rows with a count of zero or less are dropped, not subtracted."""
    stacks = {}
    for row in rows:
        if row["count"] > 0:
            stacks[row["stack"]] = stacks.get(row["stack"], 0) + row["count"]
    return stacks


def folded_text(stacks):
    """One "a;b;c 12" line per stack, sorted by stack, each ending with a newline."""
    return "".join(f"{stack} {count}\n" for stack, count in sorted(stacks.items()))


def read_folded(text):
    """Parse folded text back into {stack: count}; a line without a trailing integer count raises ValueError."""
    stacks = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        stack, _space, count = line.rstrip().rpartition(" ")
        try:
            stacks[stack] = stacks.get(stack, 0) + int(count)
        except ValueError:
            raise ValueError(_("line {number}: expected 'frame;frame;... count', got {line}").format(
                number=number, line=repr(line))) from None
        if not stack:
            raise ValueError(_("line {number}: no stack before the count in {line}").format(number=number,
                                                                                          line=repr(line)))
    return stacks


def colour(name):
    """A warm colour from a hash of the name (the same name, the same colour); kernel frames ("_[k]") in orange."""
    digest = hashlib.md5(name.encode()).digest()
    v1, v2, v3 = (b / 255 for b in digest[:3])
    if name.endswith("_[k]"):
        return f"rgb({190 + int(65 * v1)},{90 + int(65 * v1)},0)"
    return f"rgb({205 + int(50 * v3)},{int(230 * v1)},{int(55 * v2)})"


def label(name, width):
    """The frame name cut to fit the width with "..", or "" when fewer than 3 characters fit."""
    fits = int((width - 6) / (FONT * 0.59))
    if fits < 3:
        return ""
    return name if len(name) <= fits else name[: fits - 2] + ".."


def tree(stacks):
    """The stacks as nested {name: [count, children]}, and the deepest stack's depth."""
    root, depth = {}, 0
    for stack, count in stacks.items():
        frames = stack.split(";")
        depth = max(depth, len(frames))
        children = root
        for name in frames:
            node = children.setdefault(name, [0, {}])
            node[0] += count
            children = node[1]
    return root, depth


def svg(stacks, title=None, width=1200):
    """An SVG document drawing the stacks as flamegraph.pl does: root at the bottom, each frame as wide as its share
    of all samples, children above their parent, siblings sorted by name; the title is "Flame graph" if none is
    given."""
    title = _("Flame graph") if title is None else title
    root, depth = tree(stacks)
    total = sum(stacks.values())
    height = (depth + 2) * FRAME + 2 * PAD
    scale = (width - 2 * PAD) / total if total else 0
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Verdana, sans-serif" font-size="{FONT}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f8f8f8"/>',
        f'<text x="{width / 2:.1f}" y="{PAD + FRAME - 4}" text-anchor="middle" font-size="{FONT + 4}">'
        f"{html.escape(title)}</text>",
    ]

    def draw(children, x, level):
        """Draw the frames at this level from x (in samples), then their children one row higher."""
        for name in sorted(children):
            count, grandchildren = children[name]
            w = count * scale
            if w >= 0.1:
                y = PAD + FRAME * (depth - level)
                left, text = PAD + x * scale, label(name, w)
                out.append(
                    # TRANSLATORS: a frame's tooltip in the flame graph: its function, its samples, its share of all
                    "<g><title>" + html.escape(_("{name} ({count} samples, {share:.2f}%)").format(
                        name=name, count=f"{count:,}", share=100 * count / total)) + "</title>"
                    + f'<rect x="{left:.2f}" y="{y}" width="{w:.2f}" height="{FRAME - 1}" '
                    f'fill="{colour(name)}" rx="2" ry="2"/>'
                    + (f'<text x="{left + 3:.2f}" y="{y + FRAME - 4}">{html.escape(text)}</text>' if text else "")
                    + "</g>"
                )
                draw(grandchildren, x, level + 1)
            x += count

    draw(root, 0, 0)
    summary = _("{count} samples").format(count=f"{total:,}") if total else _("no samples")
    out.append(f'<text x="{PAD}" y="{height - PAD - 4}">{html.escape(summary)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
