"""Sentence and passage splitting: the seed's quirks, and offsets that always locate the text."""

from __future__ import annotations

import sqlite3

import pytest

from assistant.articles import load
from assistant.passages import OVERLAP_SENTENCES, PASSAGE_WORDS, make_passages, split_sentences
from conftest import SEEDS


@pytest.fixture(scope="module")
def seed_text() -> str:
    (path,) = sorted(SEEDS.glob("*.md"))
    return load(str(path)).text


def sentence_texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def assert_offsets_hold(text: str, sentences, passages) -> None:
    for s in sentences:
        assert text[s.start:s.end] == s.text
    for p in passages:
        assert text[p.start:p.end] == p.text
        assert p.start == sentences[p.sentences[0]].start and p.end == sentences[p.sentences[-1]].end


def test_split_sentences_seed_glued_sentence_splits(seed_text):
    texts = sentence_texts(seed_text)
    ending = [t for t in texts if t.endswith("the Harbin conflict and other regions and the global topics.")]
    assert len(ending) == 1
    assert texts[texts.index(ending[0]) + 1].startswith("Wu Qian, a spokesman for the Chinese Ministry")


def test_split_sentences_seed_abbreviation_stays_whole(seed_text):
    (austin,) = [t for t in sentence_texts(seed_text) if "Secretary of Defense Austin" in t]
    assert austin.startswith("U.S. Secretary of Defense Austin and China National Defense Minister Dong Jun")
    assert not any(t in {"U.S.", "U."} for t in sentence_texts(seed_text))


def test_split_sentences_seed_stray_spaces_kept_intact(seed_text):
    texts = sentence_texts(seed_text)
    (minute,) = [t for t in texts if "75 -minute" in t]
    assert minute.endswith("held a 75 -minute meeting on Friday (May 31), which is slightly longer than the original hour.")
    assert "The Sino -US defense ministers held a meeting after a lapse of 18 months." in texts
    (removed,) = [t for t in texts if t.startswith("Li Shangfu was removed")]
    assert removed.endswith("in October last year .")  # a space before the full stop ends nothing early


def test_split_sentences_seed_double_full_stop_splits(seed_text):
    texts = sentence_texts(seed_text)
    (before,) = [t for t in texts if t.startswith("Austin's last time in November 2022")]
    assert before.endswith("China. .")
    assert texts[texts.index(before) + 1].startswith("After taking office in March last year")


def test_split_sentences_seed_curly_apostrophes_do_not_split(seed_text):
    (sentence,) = [t for t in sentence_texts(seed_text) if "China ’s former Defense Minister" in t]
    assert "Washington’ s requirements for the China -US Defense Minister ’s meeting." in sentence


def test_split_sentences_seed_every_character_is_covered(seed_text):
    sentences = split_sentences(seed_text)
    assert len(sentences) == 34
    covered = set()
    for previous, s in zip([None, *sentences], sentences):
        assert previous is None or previous.end <= s.start
        covered.update(range(s.start, s.end))
    assert all(ch.isspace() for i, ch in enumerate(seed_text) if i not in covered)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("He said “we will win.” Then he left.", ["He said “we will win.”", "Then he left."]),
        ("“Will it hold?” she asked. Nobody knew.", ["“Will it hold?” she asked.", "Nobody knew."]),
        ("It was “positive, pragmatic.”The talks ended.", ["It was “positive, pragmatic.”", "The talks ended."]),
        ('The minister said: "No."  "Never," he added.', ['The minister said: "No."', '"Never," he added.']),
        ("Growth was 3.5 percent. Prices rose.", ["Growth was 3.5 percent.", "Prices rose."]),
        ("Dr. Wu met Gen. Lee at 9 a.m. on Friday. They talked.", ["Dr. Wu met Gen. Lee at 9 a.m. on Friday.", "They talked."]),
        ("J. Smith wrote it. It sold well.", ["J. Smith wrote it.", "It sold well."]),
        ("The answer was no. Then he left.", ["The answer was no.", "Then he left."]),
        ("See No. 5 and Fig. 2 for details.", ["See No. 5 and Fig. 2 for details."]),
        ("Is it over?Yes, said the mayor.", ["Is it over?", "Yes, said the mayor."]),
        ("会议很成功。双方同意继续对话。", ["会议很成功。", "双方同意继续对话。"]),
        ("No full stop at the end", ["No full stop at the end"]),
        ("Ends with an ellipsis ... and goes on.", ["Ends with an ellipsis ... and goes on."]),
    ],
    ids=["curly close quote", "question inside quote", "glued after quote", "straight quotes", "decimal",
         "abbreviations", "initial", "the word no", "number abbreviations", "glued question", "chinese", "no stop", "ellipsis"],
)
def test_split_sentences_cases(text, expected):
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == expected
    assert_offsets_hold(text, sentences, [])


@pytest.mark.parametrize("bullet", ["*", "-", "•", "1."])
def test_split_sentences_bullet_lines_are_sentences(bullet):
    text = f"Key figures:\n{bullet} Reservoir levels: 22 percent\n{bullet} Irrigation cut: 50 percent\nMore next week."
    assert sentence_texts(text) == [
        "Key figures:", f"{bullet} Reservoir levels: 22 percent", f"{bullet} Irrigation cut: 50 percent", "More next week.",
    ]


@pytest.mark.parametrize("text", ["", "   \n\n  ", "...", "\n- \n"])
def test_split_sentences_nothing_to_split(text):
    assert split_sentences(text) == []
    assert make_passages(text) == []


def test_split_sentences_stray_punctuation_joins_the_sentence_before():
    text = 'He said: "Control these differences."" ".\nNext line.'
    assert sentence_texts(text) == ['He said: "Control these differences."" ".', "Next line."]


def test_make_passages_seed_offsets_size_and_overlap(seed_text):
    sentences = split_sentences(seed_text)
    passages = make_passages(seed_text, sentences)
    assert_offsets_hold(seed_text, sentences, passages)
    assert passages[0].sentences[0] == 0 and passages[-1].sentences[-1] == len(sentences) - 1
    for p in passages:
        words = sum(len(sentences[i].text.split()) for i in p.sentences)
        assert words <= PASSAGE_WORDS or len(p.sentences) == 1
        assert list(p.sentences) == list(range(p.sentences[0], p.sentences[-1] + 1))
    for first, second in zip(passages, passages[1:]):
        assert second.sentences[0] == first.sentences[-1] + 1 - OVERLAP_SENTENCES
    assert [p.n for p in passages] == list(range(len(passages)))


def test_make_passages_long_sentence_is_one_passage():
    long_sentence = "Officials " + " ".join(["said"] * (PASSAGE_WORDS * 2)) + "."
    text = f"Short one. {long_sentence} Short two."
    passages = make_passages(text)
    assert [p.sentences for p in passages] == [(0,), (1,), (2,)]
    assert passages[1].text == long_sentence
    assert_offsets_hold(text, split_sentences(text), passages)


def test_stored_seed_offsets_locate_every_passage_and_sentence(seeded_dir):
    """Read the seeded index's catalog tables directly (read-only)."""
    db = sqlite3.connect(f"file:{seeded_dir / 'catalog.sqlite'}?mode=ro", uri=True)
    (doc_id, text), = db.execute("SELECT doc_id, text FROM articles").fetchall()
    sentences = split_sentences(text)
    passages = make_passages(text, sentences)
    stored_sentences = db.execute('SELECT n, start, "end" FROM sentences WHERE doc_id = ? ORDER BY n', (doc_id,)).fetchall()
    stored_passages = db.execute('SELECT n, start, "end" FROM passages WHERE doc_id = ? ORDER BY n', (doc_id,)).fetchall()
    assert stored_sentences == [(s.n, s.start, s.end) for s in sentences]
    assert stored_passages == [(p.n, p.start, p.end) for p in passages]
    for n, start, end in stored_sentences:
        assert text[start:end] == sentences[n].text
    db.close()
