"""Teaching texts as Markdown files a teacher can edit: lessons (experiments/lessons/*.md, each naming its
preset on a first line `preset: NAME`), an Info page per preset (experiments/lessons/info/NAME.md) and the
glossary (experiments/lessons/glossary.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LESSON_DIR = Path(__file__).resolve().parent.parent / "lessons"
INFO_DIR = LESSON_DIR / "info"
GLOSSARY = LESSON_DIR / "glossary.md"


@dataclass(frozen=True)
class Lesson:
    slug: str  # file name without .md
    title: str  # the first '# ' heading
    preset: str  # the preset the lesson runs
    text: str  # the Markdown after the preset line


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
    return Lesson(path.stem, titles[0], preset.strip(), body.strip())


def all_lessons() -> list[Lesson]:
    """Every lesson, in file-name order (number the files to set the order)."""
    return [read_lesson(p) for p in sorted(LESSON_DIR.glob("*.md")) if p != GLOSSARY]


def info_page(preset: str) -> str:
    """The NetLogo-style Info page of a preset (Markdown), or a line saying there is none."""
    path = INFO_DIR / f"{preset}.md"
    return path.read_text(encoding="utf-8") if path.exists() else f"_No info page for `{preset}` yet ({path})._"


def glossary() -> str:
    return GLOSSARY.read_text(encoding="utf-8")
