"""Teaching texts as Markdown files a teacher can edit: lessons (experiments/lessons/*.md, each naming its
preset on a first line `preset: NAME`; the numbers it quotes are placeholders such as `{l3_revenue_2024}`,
filled from experiments/lessons/figures.toml, which `experiments.dashboard.lesson_figures` recomputes from the
model), an Info page per preset (experiments/lessons/info/NAME.md) and the
glossary (experiments/lessons/glossary.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import markdown

from experiments.dashboard import lesson_figures

LESSON_DIR = Path(__file__).resolve().parent.parent / "lessons"
INFO_DIR = LESSON_DIR / "info"
GLOSSARY = LESSON_DIR / "glossary.md"


@dataclass(frozen=True)
class Lesson:
    slug: str  # file name without .md
    title: str  # the first '# ' heading
    preset: str  # the preset the lesson runs
    text: str  # the Markdown after the preset line, with its figures filled in
    source: str  # the same with the placeholders as written

    @property
    def steps(self) -> list[str]:
        """The numbered items of its "Run and watch" section (plain text), for the teacher to tick off."""
        if "## Run and watch" not in self.text:
            return []
        part = self.text.split("## Run and watch", 1)[1].split("\n## ", 1)[0]
        items = re.split(r"^\d+\.\s+", part, flags=re.MULTILINE)[1:]
        return [re.sub(r"\*\*|`", "", " ".join(item.split())) for item in items]

    def without_steps(self) -> str:
        """The Markdown without its "Run and watch" section (the page shows the steps as tick boxes)."""
        return re.sub(r"^## Run and watch\n.*?(?=^## )", "", self.text, flags=re.MULTILINE | re.DOTALL)


def read_lesson(path: Path) -> Lesson:
    """Parse one lesson file; its first line must be `preset: NAME` and it must have a '# ' title."""
    raw = path.read_text(encoding="utf-8")
    first, _, body = raw.partition("\n")
    key, _, preset = first.partition(":")
    if key.strip() != "preset" or not preset.strip():
        raise ValueError(f"{path}: the first line must be 'preset: NAME'")
    titles = [line[2:].strip() for line in body.splitlines() if line.startswith("# ")]
    if not titles:
        raise ValueError(f"{path}: no '# ' title")
    return Lesson(path.stem, titles[0], preset.strip(), lesson_figures.fill(body.strip()), body.strip())


def all_lessons() -> list[Lesson]:
    """Every lesson, in file-name order (number the files to set the order)."""
    return [read_lesson(p) for p in sorted(LESSON_DIR.glob("*.md")) if p != GLOSSARY]


def info_page(preset: str) -> str:
    """The NetLogo-style Info page of a preset (Markdown), or a line saying there is none."""
    path = INFO_DIR / f"{preset}.md"
    return path.read_text(encoding="utf-8") if path.exists() else f"_No info page for `{preset}` yet ({path})._"


def glossary() -> str:
    return GLOSSARY.read_text(encoding="utf-8")


def html(text: str) -> str:
    """Markdown as HTML, rendered here rather than by the page's Markdown widget, which typesets text between two
    dollar signs as LaTeX ("$121B instead of $139B" would lose its dollars and spaces)."""
    return markdown.markdown(text, extensions=["tables"])
