"""`help(query)`: search markdown docs and skills for the sections that answer a query.

Sources: the docs throwaway ships (``agent/docs/``, with ``{bundled_packages}`` filled in
from :data:`~throwaway.sandbox.assets.BUNDLED_PACKAGES`), folders the user adds
(``--help-dir``), and skill folders, each with a ``SKILL.md`` whose front matter
gives a ``name`` and ``description``. Every markdown file is cut at its headings
into sections; a query is matched against them with BM25 over plain words, the
section's title and file name counting extra.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from throwaway.sandbox.assets import bundled_list

BUILTIN_DOCS = Path(__file__).parent / "docs"
#: Placeholders in the docs throwaway ships, filled when they are read.
BUILTIN_FILLS = {"{bundled_packages}": bundled_list}
WORD = re.compile(r"[a-z0-9]+")
HEADING = re.compile(r"^(#{1,4})\s+(.+?)\s*#*\s*$")
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)
MAX_SECTION_CHARS = 4000


@dataclass(frozen=True)
class Section:
    source: str  # "charts.md", "skill pdf-forms: SKILL.md"
    title: str
    text: str
    words: Counter = field(compare=False, hash=False, repr=False)


def _words(text: str) -> list[str]:
    return WORD.findall(text.lower())


class HelpIndex:
    """The sections of every markdown file under the given folders."""

    def __init__(
        self,
        folders: Iterable[Path] = (),
        *,
        builtin: bool = True,
        texts: Mapping[str, str] | None = None,
    ):
        """Index markdown under ``folders`` (and ours), plus ``texts``: {source: markdown}."""
        self.folders = ([BUILTIN_DOCS] if builtin else []) + [Path(f).expanduser() for f in folders]
        self.sections = [s for folder in self.folders for s in _read_folder(folder)]
        for source, text in (texts or {}).items():
            self.sections += _split(text, source)
        self.skills = [s for s in self.sections if s.source.startswith("skill ")]
        counts = Counter(w for s in self.sections for w in set(s.words))
        n = max(len(self.sections), 1)
        self.idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in counts.items()}
        self.avg_len = sum(sum(s.words.values()) for s in self.sections) / n or 1

    def search(self, query: str, limit: int = 3) -> list[Section]:
        terms = set(_words(query))
        scored = [(self._score(s, terms), s) for s in self.sections]
        return [s for score, s in sorted(scored, key=lambda x: -x[0])[:limit] if score > 0]

    def _score(self, section: Section, terms: set[str], k1: float = 1.2, b: float = 0.75) -> float:
        length = sum(section.words.values())
        score = 0.0
        for term in terms & section.words.keys():
            tf = section.words[term]
            norm = k1 * (1 - b + b * length / self.avg_len)
            score += self.idf[term] * tf * (k1 + 1) / (tf + norm)
        return score

    def answer(self, query: str, limit: int = 3) -> str:
        """The best sections as markdown, or a list of what exists when nothing matches."""
        found = self.search(query, limit)
        if not found:
            titles = sorted({s.source for s in self.sections})
            return f"Nothing matches {query!r}. Docs available: {', '.join(titles)}."
        return "\n\n".join(f"[{s.source}]\n{s.text}" for s in found)

    def summary(self) -> str:
        """One line per skill, for the system prompt."""
        seen = {}
        for s in self.skills:
            seen.setdefault(s.source, s.title)
        return "\n".join(f"- {title}" for title in seen.values())


def _read_folder(folder: Path) -> list[Section]:
    if not folder.is_dir():
        return []
    sections = []
    for path in sorted(folder.rglob("*.md")):
        text = path.read_text(errors="replace")
        if folder == BUILTIN_DOCS:
            for placeholder, fill in BUILTIN_FILLS.items():
                text = text.replace(placeholder, fill())
        source = path.relative_to(folder).as_posix()
        if path.name == "SKILL.md":
            text, source = _skill(text, path)
        sections.extend(_split(text, source))
    return sections


def _skill(text: str, path: Path) -> tuple[str, str]:
    """Front matter -> a leading line the search can find; the source names the skill."""
    meta = {}
    match = FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            key, _, value = line.partition(":")
            meta[key.strip()] = value.strip().strip("\"'")
        text = text[match.end() :]
    name = meta.get("name") or path.parent.name
    intro = f"# Skill {name}: {meta.get('description', '')}\n"
    return intro + text, f"skill {name}: {path.parent.as_posix()}/SKILL.md"


def _split(text: str, source: str) -> list[Section]:
    sections, title, lines = [], source, []
    for line in text.splitlines():
        heading = HEADING.match(line)
        if heading and lines:
            sections.append(_section(source, title, lines))
            lines = []
        if heading:
            title = heading.group(2)
        lines.append(line)
    if lines:
        sections.append(_section(source, title, lines))
    return [s for s in sections if s.text.strip()]


def _section(source: str, title: str, lines: list[str]) -> Section:
    text = "\n".join(lines).strip()[:MAX_SECTION_CHARS]
    weighted = _words(text) + _words(title) * 3 + _words(Path(source).stem) * 2
    return Section(source, title, text, Counter(weighted))
