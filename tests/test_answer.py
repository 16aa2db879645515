"""Answers on the real seed: quotes, citations, abstention, follow-ups."""

from __future__ import annotations

import re

import pytest

from assistant.answer import Citation, verify
from assistant.evaluate import supports


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _assert_faithful(assistant, answer):
    for c in answer.citations:
        assert assistant.article(c.doc_id).text[c.start:c.end] == c.quote


def _known_miss(question, expected, why):
    return pytest.param(question, expected, marks=pytest.mark.xfail(strict=True, reason=f"known miss: {why}"))


ANSWERABLE = [
    # (question, a string the answer must hold) -- paraphrased the way readers ask
    ("How long did the defence chiefs talk in Singapore?", "75 -minute"),
    ("What did the spokesman say about Manila's conduct at the reef?", "external forces"),
    ("Who is China's defence minister?", "Dong Jun"),
    ("When did Taiwan's leader give the speech Beijing called pro-independence?", "May 20"),
    ("Which expert at Fudan University was interviewed?", "Wu Xinbo"),
    ("What did Austin say about navigation in the South China Sea?", "freedom of navigation"),
    ("Which Chinese minister had been sanctioned by Washington?", "Li Shangfu"),
    ("What did Beijing call the new Taiwanese president's speech?", "Taiwan independence"),
    ("How long did the meeting last?", "75 -minute"),
    ("What crisis mechanism are Washington and Beijing going to create?", "crisis communication working group"),
    # Known misses, kept visible: strict xfail turns red the day they start passing.
    _known_miss("How long did the Pentagon chief's meeting with his Chinese counterpart run?", "75 -minute",
                "no word of the question but 'meeting' is in the answer sentence"),
    _known_miss("Which city hosted the talks between the two defence ministers?", "Singapore",
                "right sentence, but its confidence 0.39 is under the 0.42 threshold"),
]


@pytest.mark.parametrize("question,expected", ANSWERABLE)
def test_ask_answers_paraphrased_questions_with_quotes(seeded, question, expected):
    answer = seeded.ask(question)
    assert answer.answered, answer.answer
    assert _norm(expected) in _norm(answer.answer)
    assert 1 <= len(answer.citations) <= 3
    assert re.search(r"\[1\]", answer.answer)
    _assert_faithful(seeded, answer)


def test_ask_seed_questions_cite_their_evidence(seeded, seed_questions):
    """Each answerable seed question: the evidence is inside a cited quote (>= 80% of its words)."""
    misses = []
    for item in seed_questions:
        if not item["answerable"]:
            continue
        answer = seeded.ask(item["question"], item.get("history") or [])
        _assert_faithful(seeded, answer)
        if not any(supports(e, c.quote) for e in item["evidence"] for c in answer.citations):
            misses.append(item["id"])
    answerable = sum(item["answerable"] for item in seed_questions)
    assert len(misses) <= 0.1 * answerable, misses


UNANSWERABLE = [
    "Who won the 2024 US presidential election?",
    "What did the ministers agree about North Korea's missile tests?",
    "What is the capital of Australia?",
    "How many goals did Messi score in the 2022 World Cup final?",
    "What was the price of oil at the end of 2023?",
    "Which company makes the iPhone?",
]


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_ask_abstains_when_the_articles_do_not_say(seeded, question):
    answer = seeded.ask(question)
    assert not answer.answered, answer.answer
    assert answer.citations == []
    assert answer.answer.startswith("The indexed articles don't say")


def test_ask_follow_up_carries_the_topic_of_earlier_turns(seeded):
    history = [
        {"role": "user", "content": "How did China describe the Austin–Dong Jun meeting?"},
        {"role": "assistant", "content": "\"positive, pragmatic, and constructive\" [1]"},
    ]
    answer = seeded.ask("And who spoke for the Chinese side afterwards?", history)
    assert answer.search_query != answer.question
    assert "Dong Jun" in answer.search_query
    assert "Wu Qian" in answer.answer


def test_ask_follow_up_with_pronoun(seeded):
    history = [{"role": "user", "content": "What did Luo Minghui say about the crisis communication working group?"}]
    answer = seeded.ask("Where does he teach?", history)
    assert "Luo Minghui" in answer.search_query
    assert "Nanyang" in answer.answer


def test_ask_standalone_question_is_not_rewritten(seeded):
    history = [{"role": "user", "content": "Where was the meeting held?"}]
    question = "What did Dong Jun say about the purpose of communication between the two militaries?"
    assert seeded.ask(question, history).search_query == question


def test_ask_restricted_to_an_article(seeded):
    doc_id = seeded.articles()[0].doc_id
    answer = seeded.ask("Where was the meeting held?", doc_ids=[doc_id])
    assert {hit.doc_id for hit in answer.passages} == {doc_id}


def test_verify_drops_citations_that_do_not_match_the_stored_text(seeded):
    record = seeded.articles()[0]
    text = seeded.article(record.doc_id).text
    good = Citation(1, record.doc_id, record.title, record.source, text[10:60], 10, 60)
    shifted = Citation(2, record.doc_id, record.title, record.source, text[10:60], 11, 61)
    unknown = Citation(3, "0000000000000000", "x", "x", "x", 0, 1)
    kept = verify(seeded.store, [good, shifted, unknown])
    assert kept == [good] and kept[0].n == 1


def test_ask_empty_question_is_a_user_error(seeded):
    from assistant import AssistantError

    with pytest.raises(AssistantError, match="empty"):
        seeded.ask("   ")
