"""Words as the lexical index sees them: lower-cased, light-stemmed, stopwords dropped.

The same `terms()` feeds the BM25 index (store.py), the sentence overlap score (answer.py) and
follow-up rewriting (retrieve.py), so a word matches the same way everywhere.
"""

from __future__ import annotations

import functools
import re
import unicodedata

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them themselves
    then there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself yourselves s t d ll m re ve
    according said say says told tell did does done get got make made one ones thing things way
    whose whats how's what's said""".split()
)
# Question words that carry no topic; kept out of search terms but used to guess the answer type.
QUESTION_WORDS = frozenset("what when where who whom whose which why how".split())

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


# British spellings meet American ones ("defence chiefs" finds "defense ministers").
_BRITISH = {"defence": "defense", "offence": "offense", "licence": "license", "pretence": "pretense",
            "centre": "center", "theatre": "theater", "metre": "meter", "programme": "program",
            "judgement": "judgment", "catalogue": "catalog", "dialogue": "dialog", "ageing": "aging"}
_BRITISH_SUFFIXES = (("isation", "ization"), ("ised", "ized"), ("ising", "izing"), ("ise", "ize"),
                     ("our", "or"), ("ourable", "orable"), ("ourite", "orite"), ("elled", "eled"),
                     ("elling", "eling"), ("yse", "yze"), ("ysed", "yzed"))
_OUR_WORDS = {"colour", "favour", "honour", "labour", "neighbour", "behaviour", "harbour", "rumour",
              "vigour", "armour", "flavour", "humour", "savour", "valour", "endeavour", "splendour"}
_ISE_WORDS = {"organise", "recognise", "criticise", "realise", "apologise", "authorise", "mobilise",
              "stabilise", "normalise", "legalise", "prioritise", "emphasise", "modernise", "privatise",
              "characterise", "summarise", "minimise", "maximise", "utilise", "finalise", "analyse",
              "paralyse", "travel", "cancel", "model", "fuel", "label", "signal", "level", "channel"}


def americanise(word: str) -> str:
    if word in _BRITISH:
        return _BRITISH[word]
    for british, american in _BRITISH_SUFFIXES:
        if word.endswith(british):
            root = word[: -len(british)]
            if british in ("our", "ourable", "ourite") and root + "our" not in _OUR_WORDS:
                continue
            if british not in ("our", "ourable", "ourite"):
                base = {"isation": "ise", "ised": "ise", "ising": "ise", "ise": "ise", "yse": "yse",
                        "ysed": "yse", "elled": "el", "elling": "el"}[british]
                if root + base not in _ISE_WORDS:
                    continue
            return root + american
    return word


@functools.lru_cache(maxsize=1 << 16)  # a pure function on a small vocabulary, on every answer's hot path
def stem(word: str) -> str:
    """A deliberately light suffix stripper (plural, -ing, -ed) so inflections meet."""
    word = americanise(word)
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = americanise(word[:-1])
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # stopped -> stopp -> stop
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]  # "describe" / "described" -> "describ"
    return word


def tokens(text: str) -> list[str]:
    """Lower-cased words; runs of CJK characters become overlapping character pairs."""
    text = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    for word in _WORD.findall(text):
        if _CJK.search(word):
            chars = [ch for ch in word if not ch.isspace()]
            out.extend(a + b for a, b in zip(chars, chars[1:])) if len(chars) > 1 else out.extend(chars)
        else:
            out.append(word)
    return out


def terms(text: str) -> list[str]:
    """Content terms of a text, in order, stemmed, without stopwords or lone underscores."""
    return [stem(word) for word in tokens(text) if word not in STOPWORDS and word.strip("_")]


# "how long", "how many", ... ask for a kind of answer; the word after "how" is not a topic.
_HOW = re.compile(r"\bhow\s+(long|many|much|old|far|often|big|large|soon)\b", re.IGNORECASE)


_DURATION_VERBS = re.compile(r"\b(last|lasted|take|took|run|ran|go on|went on)\s*\?*\s*$", re.IGNORECASE)


def query_terms(question: str) -> list[str]:
    """The terms of a question worth searching for."""
    if re.search(r"\bhow\s+long\b", question, re.IGNORECASE):
        question = _DURATION_VERBS.sub(" ", question)  # "how long did it last?": a verb, not "last year"
    return terms(_HOW.sub(" ", question))
