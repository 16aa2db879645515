"""Choose the sentences that answer a question, compose the answer, verify every citation.

Extractive and offline: the answer is one to three verbatim sentences (or, for long sentences,
the clause window that holds the answer) from the retrieved passages, each followed by `[n]`.
A sentence is scored by its MiniLM similarity to the question (sentence vectors are computed at
ingest time), by how much of the question's weighted vocabulary it and its preceding sentence
hold, by whether it has the kind of thing the question asks for (a date for "when", a number
for "how long", a name for "who"), and by its passage's rank. Below ANSWER_THRESHOLD the answer
abstains. Every citation is checked against the stored article text before it is returned.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np

from .lexical import query_terms, terms, tokens
from .retrieve import Hit, Retrieval
from .store import Store, sentence_id

# Abstain when the best sentence's confidence, CONFIDENCE_DENSE * its MiniLM similarity to the
# question + CONFIDENCE_LEXICAL * the share of the question's IDF weight it holds, is below
# ANSWER_THRESHOLD. Weights from a logistic fit and threshold chosen on 464 questions: the seed
# questions (seed alone, and among 180 distractor articles), paraphrases of them, and 250 XQuAD
# questions asked over their paragraphs (answerable) or over news without them (unanswerable).
# At 0.42: seed answerable 29/31 right, 0 wrongly abstained, unanswerable 0/2 answered; XQuAD
# answerable 122/150 right, 4 wrongly abstained; XQuAD unanswerable 6/150 answered.
# `python -m bench.calibrate` reprints the trade-off.
CONFIDENCE_DENSE, CONFIDENCE_LEXICAL = 0.71, 0.29
ANSWER_THRESHOLD = 0.42
MAX_QUOTE_CHARS = 300
# A further sentence joins the answer only when it scores almost as well as the best one. On
# XQuAD en (612 questions) 0.06 -> 0.10 took gold-in-answer from 0.832 to 0.855 (1.37 -> 1.48
# quotes an answer); 0.15 gave 0.873 at 1.65 quotes.
SECOND_QUOTE_MARGIN = 0.10
ABSTAIN = "The indexed articles don't say."

WEIGHT_DENSE, WEIGHT_LEXICAL, WEIGHT_TYPE, WEIGHT_RANK = 0.5, 0.5, 0.08, 0.04
CONTEXT_WEIGHT = 0.5  # a question word found only in the sentence before counts this much
PREFIX_WEIGHT = 0.7

_MONTHS = "january february march april may june july august september october november december"
_DATE = re.compile(
    r"\b(" + "|".join(_MONTHS.split()) + r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|(?:19|20)\d\d|yesterday|today|tomorrow|last (?:year|month|week)|this (?:year|month|week)"
    r"|next (?:year|month|week)|end of|since|until|ago|century|decade)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    r"|hundred|thousand|million|billion|dozen|half|hour|hours|minute|minutes|percent)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")
_PLACE = re.compile(r"\b(?:in|at|from|to|near)\s+(?:the\s+)?[A-Z][\w-]+")


def expected_type(question: str) -> re.Pattern | None:
    """What kind of answer the question asks for, as a pattern the answer sentence should hold."""
    q = question.lower()
    if re.search(r"\bhow (long|many|much|old|far|often)\b|\bwhat (percentage|number|share)\b", q):
        return _NUMBER
    if re.search(r"\bwhen\b|\bwhat (date|day|year|month|time)\b|\bby when\b|\bsince when\b", q):
        return _DATE
    if re.search(r"\b(who|whom|whose)\b", q):
        return _NAME
    if re.search(r"\bwhere\b|\bwhich (country|city|place|university|region)\b", q):
        return _PLACE
    return None


@dataclass
class Citation:
    n: int
    doc_id: str
    title: str
    source: str
    quote: str
    start: int
    end: int


@dataclass
class Answer:
    question: str
    search_query: str
    answer: str
    answered: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)
    # For the UI and debugging; not part of the JSON contract.
    confidence: float = 0.0

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "search_query": self.search_query,
            "answer": self.answer,
            "answered": self.answered,
            "citations": [asdict(c) for c in self.citations],
            "passages": [hit.to_json() for hit in self.passages],
        }


@dataclass
class Candidate:
    doc_id: str
    n: int
    start: int
    end: int
    score: float
    vector: np.ndarray
    rank: int
    dense: float = 0.0
    lexical: float = 0.0  # share of the query's IDF weight the sentence (and the one before) holds
    typed: bool = False  # holds the kind of thing asked for


def answer(store: Store, retrieval: Retrieval, question: str, *, max_quotes: int = 3,
           threshold: float = ANSWER_THRESHOLD) -> Answer:
    """Answer `question` from the retrieved passages, or abstain."""
    weights = _query_weights(store, retrieval.query, question)
    candidates = score_sentences(store, retrieval, question, weights)
    result = Answer(question, retrieval.query, "", False, [], retrieval.hits,
                    confidence(candidates[0]) if candidates else 0.0)
    if not candidates or result.confidence < threshold:
        return _abstain(result)
    chosen = [candidates[0]]
    for candidate in candidates[1:]:
        if len(chosen) >= max_quotes or candidate.score < chosen[0].score - SECOND_QUOTE_MARGIN:
            break
        if confidence(candidate) < threshold:
            continue
        if all(float(candidate.vector @ c.vector) < 0.8 for c in chosen):
            chosen.append(candidate)
    texts = store.catalog.texts({c.doc_id for c in chosen})
    own = set(query_terms(question))
    key_term = max((t for t in weights if t in own), key=weights.get, default=None)
    follow = _continuation(store, texts[chosen[0].doc_id], chosen[0], key_term)
    if follow is not None and all((c.doc_id, c.n) != (follow.doc_id, follow.n) for c in chosen):
        chosen = chosen[: max_quotes - 1] + [follow]
    titles = store.catalog.titles(set(texts))
    # Read naturally: articles in order of their best sentence, sentences in article order.
    article_order = {doc_id: i for i, doc_id in enumerate(dict.fromkeys(c.doc_id for c in chosen))}
    chosen.sort(key=lambda c: (article_order[c.doc_id], c.start))
    citations = []
    for c in chosen:
        start, end = trim(texts[c.doc_id], c.start, c.end, weights)
        title, source = titles[c.doc_id]
        citations.append(Citation(len(citations) + 1, c.doc_id, title, source, texts[c.doc_id][start:end], start, end))
    citations = verify(store, citations)
    if not citations:
        return _abstain(result)
    result.citations = citations
    result.answer = " ".join(f"{c.quote} [{c.n}]" for c in citations)
    result.answered = True
    return result


_OPENS_QUOTE = tuple("\"“‘'«")
_LEADS_ON = (":", "...", "…", ",")


_ANAPHOR = re.compile(
    r"^(?:this|these|that|those|it|its|he|his|she|her|they|their|such|both|the latter|the former"
    r"|in this way|in that case|as a result|therefore|thus|however)\b",
    re.IGNORECASE,
)


def _continuation(store: Store, text: str, best: Candidate, key_term: str | None) -> Candidate | None:
    """The next sentence when it completes the best one. News and encyclopaedic prose often state
    the topic in one sentence and the answer in the next, so the next sentence joins when:
    the best one leads into it (ends on a colon or an ellipsis, or introduces a quotation), or,
    in the same paragraph, it refers back ("These include ...", "In this way ...") or names the
    question's rarest term again ("Ratzel believed ...")."""
    rows = store.catalog.sentences_of(best.doc_id, [best.n + 1])
    if not rows:
        return None
    n, start, end = rows[0]
    sentence, following = text[best.start:best.end].rstrip(" \"”’'"), text[start:end]
    leads_in = sentence.endswith(_LEADS_ON) or following.startswith(_OPENS_QUOTE)
    same_paragraph = "\n" not in text[best.end:start]
    refers_back = bool(_ANAPHOR.match(following)) or (key_term is not None and key_term in terms(following))
    if leads_in or (same_paragraph and refers_back and is_statement(following)):
        return Candidate(best.doc_id, n, start, end, best.score, best.vector, best.rank)
    return None


def confidence(candidate: Candidate) -> float:
    """How sure we are that this sentence answers the question (compared with ANSWER_THRESHOLD)."""
    return CONFIDENCE_DENSE * candidate.dense + CONFIDENCE_LEXICAL * candidate.lexical


def _abstain(result: Answer) -> Answer:
    titles = list(dict.fromkeys(hit.title for hit in result.passages))[:3]
    closest = f" The closest passages are in: {'; '.join(titles)}." if titles else ""
    result.answer = ABSTAIN + closest
    result.answered = False
    result.citations = []
    return result


def verify(store: Store, citations: list[Citation]) -> list[Citation]:
    """Keep only citations whose quote is exactly the stored article text at [start:end]; renumber."""
    texts = store.catalog.texts({c.doc_id for c in citations})
    good = [c for c in citations if c.doc_id in texts and c.quote and texts[c.doc_id][c.start:c.end] == c.quote]
    for n, c in enumerate(good, 1):
        c.n = n
    return good


def _query_weights(store: Store, query: str, question: str) -> dict[str, float]:
    """IDF weight of each query term; words carried over from earlier turns count half, except
    names, which stand for the question's pronouns."""
    searched = list(dict.fromkeys(query_terms(query)))
    carried = query[len(question):] if query.startswith(question) else ""
    own = set(query_terms(question)) | set(terms(" ".join(w for w in carried.split() if w[:1].isupper())))
    df, total = store.catalog.document_frequencies(searched)
    weights = {}
    for term in searched:
        idf = math.log(1 + (total - df.get(term, 0) + 0.5) / (df.get(term, 0) + 0.5))
        weights[term] = idf * (1.0 if term in own else 0.5)
    return weights


def score_sentences(store: Store, retrieval: Retrieval, question: str,
                    weights: dict[str, float] | None = None) -> list[Candidate]:
    """Every sentence of the retrieved passages, scored, best first."""
    if not retrieval.hits:
        return []
    if weights is None:
        weights = _query_weights(store, retrieval.query, question)
    total_weight = sum(weights.values()) or 1.0
    wanted = expected_type(question)
    question_words = set(tokens(question))
    texts = store.catalog.texts({hit.doc_id for hit in retrieval.hits})

    seen: dict[tuple[str, int], int] = {}
    for rank, hit in enumerate(retrieval.hits):
        for n in hit.sentences:
            seen.setdefault((hit.doc_id, n), rank)
    by_doc: dict[str, list[int]] = {}
    for doc_id, n in seen:
        by_doc.setdefault(doc_id, []).extend([n, n - 1])
    spans = {}
    for doc_id, numbers in by_doc.items():
        for n, start, end in store.catalog.sentences_of(doc_id, sorted(set(numbers))):
            spans[(doc_id, n)] = (start, end)
    vectors = store.sentence_vectors([sentence_id(doc_id, n) for doc_id, n in seen])

    k = len(retrieval.hits)
    candidates = []
    for (doc_id, n), rank in seen.items():
        vector = vectors.get(sentence_id(doc_id, n))
        if vector is None or (doc_id, n) not in spans:
            continue
        start, end = spans[(doc_id, n)]
        text = texts[doc_id][start:end]
        if not is_statement(text):
            continue
        own = set(terms(text))
        before = set(terms(texts[doc_id][slice(*spans[(doc_id, n - 1)])])) if (doc_id, n - 1) in spans else set()
        lexical = sum(_match(t, own, before) * w for t, w in weights.items())
        dense = float(retrieval.vector @ vector)
        typed = wanted is not None and _has_new(wanted, text, question_words)
        score = (
            WEIGHT_DENSE * dense
            + WEIGHT_LEXICAL * lexical / total_weight
            + WEIGHT_RANK * (1 - rank / k)
            + WEIGHT_TYPE * typed
        )
        candidates.append(Candidate(doc_id, n, start, end, score, vector, rank, dense, lexical / total_weight, typed))
    candidates.sort(key=lambda c: -c.score)
    return candidates


def _match(term: str, own: set[str], before: set[str]) -> float:
    """How well a sentence holds a query term: 1 itself, PREFIX_WEIGHT for a shared stem
    ("spoke" / "spokesman"), CONTEXT_WEIGHT when only the sentence before has it."""
    if term in own:
        return 1.0
    if len(term) >= 5 and any(len(word) >= 5 and (word.startswith(term) or term.startswith(word)) for word in own):
        return PREFIX_WEIGHT
    return CONTEXT_WEIGHT if term in before else 0.0


def is_statement(sentence: str) -> bool:
    """A sentence that can answer: not a heading or a topic label such as "- 2026 Kosovan election"."""
    words = sentence.lstrip("-*•# ").split()
    return len(words) >= 8 or (len(words) >= 4 and sentence.rstrip("\"”’') ").endswith((".", "!", "?", "。")))


def _has_new(pattern: re.Pattern, text: str, question_words: set[str]) -> bool:
    """Does the sentence hold a match of `pattern` that is not just words of the question?"""
    for match in pattern.finditer(text):
        if not set(tokens(match.group())) <= question_words:
            return True
    return False


_CLAUSE_END = re.compile(r"[,;:]\s+|\s+(?=(?:and|but|while|which|who|that|because|although)\b)|[\"”]\s*")


def trim(text: str, start: int, end: int, weights: dict[str, float], limit: int = MAX_QUOTE_CHARS) -> tuple[int, int]:
    """For a sentence over `limit` characters, the window of whole clauses that best matches."""
    if end - start <= limit:
        return start, end
    cuts = [start] + [m.end() for m in _CLAUSE_END.finditer(text, start, end)] + [end]
    cuts = sorted(set(cuts))
    best, best_span = -1.0, (start, end)
    for i in range(len(cuts) - 1):
        for j in range(i + 1, len(cuts)):
            if cuts[j] - cuts[i] > limit:
                break
            window = set(terms(text[cuts[i]:cuts[j]]))
            value = sum(w for t, w in weights.items() if t in window) + (cuts[j] - cuts[i]) / (100 * limit)
            if value > best:
                best, best_span = value, (cuts[i], cuts[j])
    if best < 0:  # no clause boundary close enough: fall back to a word-boundary window at the start
        cut = text.rfind(" ", start, start + limit)
        best_span = (start, cut if cut > start else start + limit)
    s, e = best_span
    while s < e and text[s] in " ,;:":
        s += 1
    while e > s and text[e - 1] in " ,;:":
        e -= 1
    return s, e
