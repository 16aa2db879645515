"""Split an article into sentences and passages that keep their character offsets.

Every `Sentence` and `Passage` satisfies `article.text[start:end] == .text`, so a quote taken
from either can always be located exactly. The splitter copes with machine-translated news:
sentences glued without a space (`topics.Wu Qian`), curly quotes, stray spaces (`75 -minute`,
`China ’s`), abbreviations (`U.S.`), and one-line bullet items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Passages are groups of consecutive sentences: about this many words (all-MiniLM-L6-v2 reads
# 256 word pieces at most; ~120 words stays clear of truncation), overlapping by one sentence.
PASSAGE_WORDS = 110
OVERLAP_SENTENCES = 1

ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "gen", "col", "lt", "sgt", "capt", "cmdr", "adm", "gov",
    "sen", "rep", "st", "jr", "sr", "inc", "ltd", "co", "corp", "vs", "etc", "fig",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt",
    "ft", "approx", "dept", "est", "e.g", "i.e", "u.s", "u.k", "u.n", "a.m", "p.m", "d.c",
}
NUMBER_ABBREVIATIONS = {"no", "nos"}  # "No. 5", but "He said no. Then ..." ends a sentence
CLOSERS = "\"'”’)]»"
OPENERS = "\"'“‘([«"
_END = re.compile(r"[.!?。！？]+[" + re.escape(CLOSERS) + r"]*")
_WORD_BEFORE = re.compile(r"([\w.]+)$")


@dataclass(frozen=True)
class Sentence:
    n: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Passage:
    n: int
    start: int
    end: int
    text: str
    sentences: tuple[int, ...]  # indices into the article's sentence list


def _is_boundary(text: str, mark_start: int, mark_end: int) -> bool:
    """Does the sentence end at mark_end (just after `.` / `?` / `!` and any closing quotes)?"""
    rest = text[mark_end:mark_end + 3]
    if not rest:
        return True
    following = rest.lstrip(" \t")
    spaced = len(following) < len(rest)
    nxt = following[:1]
    if not nxt or nxt == "\n":
        return True
    mark = text[mark_start:mark_end]
    if mark[0] in "。！？":
        return True
    word = _WORD_BEFORE.search(text[:mark_start])
    word = word.group(1).lower() if word else ""
    if mark.startswith(".") and mark.rstrip(CLOSERS) == ".":
        if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            return False  # "U.S. Secretary", "Dr. Wu", "J. Smith"
        if "." in word and len(word) <= 6:
            return False  # other dotted abbreviations
        if nxt.isdigit() and (not spaced or word in NUMBER_ABBREVIATIONS):
            return False  # "3.5", "No. 5"
        if text[:mark_start].strip().isdigit():
            return False  # a numbered list item: "1. Reservoir levels"
    if nxt.isupper() or nxt.isdigit() or nxt in OPENERS or nxt in "-–—•*":
        return True
    # A lone or repeated mark after a space, as in "China. .After": end the sentence on any letter.
    return spaced and nxt.isalpha() and nxt.isupper()


def split_sentences(text: str) -> list[Sentence]:
    """Sentences with offsets; newlines always end a sentence (paragraphs, bullet items)."""
    spans: list[tuple[int, int]] = []
    for match in re.finditer(r"[^\n]+", text):
        line_start, line = match.start(), match.group()
        cursor = 0
        for end in _END.finditer(line):
            if _is_boundary(line, end.start(), end.end()):
                spans.append((line_start + cursor, line_start + end.end()))
                cursor = end.end()
        spans.append((line_start + cursor, line_start + len(line)))
    sentences: list[Sentence] = []
    for start, end in spans:
        piece = text[start:end]
        start += len(piece) - len(piece.lstrip())
        end -= len(piece) - len(piece.rstrip())
        if end <= start:
            continue
        if not any(ch.isalnum() for ch in text[start:end]):
            if sentences:  # stray punctuation such as `" ".` joins the sentence before it
                last = sentences[-1]
                sentences[-1] = Sentence(last.n, last.start, end, text[last.start:end])
            continue
        sentences.append(Sentence(len(sentences), start, end, text[start:end]))
    return sentences


def _words(sentence: Sentence) -> int:
    return len(sentence.text.split())


def make_passages(text: str, sentences: list[Sentence] | None = None) -> list[Passage]:
    """Group consecutive sentences into passages of about PASSAGE_WORDS words, overlapping."""
    sentences = split_sentences(text) if sentences is None else sentences
    passages: list[Passage] = []
    first = 0
    while first < len(sentences):
        last, words = first, _words(sentences[first])
        while last + 1 < len(sentences) and words + _words(sentences[last + 1]) <= PASSAGE_WORDS:
            last += 1
            words += _words(sentences[last])
        start, end = sentences[first].start, sentences[last].end
        passages.append(Passage(len(passages), start, end, text[start:end], tuple(range(first, last + 1))))
        if last + 1 >= len(sentences):
            break
        first = max(first + 1, last + 1 - OVERLAP_SENTENCES)
    return passages
