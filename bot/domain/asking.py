"""The clause of a message that asks: where the need is said.

Staff often tell a situation first and ask last ("a student at risk of dropping out has only an
old phone at home. Can the school lend a laptop?"): the situation names one role's things, the
question another's. The need model (bot.domain.needs) reads the asking clause again as a view of
its own, so that it can learn that what is asked weighs more than what is told before it.

The asking clause is the last sentence that ends in a question mark or holds a question or
request word (miten, saako, onks; hur, får jag; how, can I…), from the first comma-separated part
of it that asks to the sentence's end ("autopuolen opiskelijat kuvaa näyttöjä, miten ne saa
jaettua" → "miten ne saa jaettua"). A message that asks nothing in words has no asking clause:
all of it is what it needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Question and request words, asking wherever they stand in a clause.
ASKING = frozenset({
    # fi (and colloquial forms)
    "miten", "miksi", "miks", "kuka", "ketkä", "kenen", "kenelle", "keneltä", "kenet", "keneen",
    "mikä", "mitä", "mitkä", "missä", "mihin", "mistä", "millä", "mille", "miltä", "milloin",
    "kumpi", "kumman", "paljonko", "montako", "millainen", "millaisen", "millaista", "minkä",
    "mite", "mikäs", "mitäs", "kuinka", "voisiko", "voisko", "apua", "auttakaa", "autatteko",
    "neuvoja", "vinkkejä", "vinkki", "ideoita", "tarvitsen", "tarttisin", "haluaisin",
    "halusin", "kaipaan", "kaipaisin",
    # sv
    "hur", "vem", "vad", "varför", "när", "vilken", "vilka", "vilket", "vart", "hjälp",
    "behöver", "undrar", "tips", "råd",
    # en
    "how", "who", "what", "why", "which", "where", "when", "whom", "whose", "help", "need",
    "advice", "wondering",
})
# Verbs that ask when they open a clause ("kan jag…", "can I…"), and only then.
LEADING = frozenset({
    "can", "could", "should", "shall", "would", "will", "is", "are", "do", "does", "did", "may",
    "must", "am", "have", "has", "får", "kan", "ska", "skall", "bör", "måste", "finns", "går",
    "är", "har", "borde", "kunde", "skulle", "vill", "blir",
})
_WORD = re.compile(r"[^\W_]+")  # as bot.domain.needs splits words
_SENTENCE = re.compile(r"[^.!?;\n]+[.!?;\n]*")
_CLITIC = re.compile(r"[^\W\d_]{2,}(?:ko|kö|ks|kohan|köhän)")  # onko, saako, voiks, pitäiskö


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _asks(word: str, opens: bool, lang: str, lemma: Callable[[str, str], str]) -> bool:
    """Whether a lower-case word asks; `opens`: it is the first word of its clause. In Finnish,
    a word ending in the question clitic asks when it is an inflected form (onko → olla), or a
    colloquial one (onks, saisko); `verkko` or `taulukko` do not (nor English `thanks`)."""
    if word in ASKING or (opens and word in LEADING):
        return True
    if lang == "fi" and _CLITIC.fullmatch(word):
        return lemma(word, "fi") != word or word.endswith(("ks", "sko", "skö"))
    return False


def _clause_asks(clause: str, lang: str, lemma: Callable[[str, str], str]) -> bool:
    return any(_asks(word, n == 0, lang, lemma) for n, word in enumerate(words(clause)))


def asking_words(text: str, lang: str, lemma: Callable[[str, str], str]) -> list[str]:
    """The lower-case words of the clause that asks (empty when none does)."""
    chosen = None
    for sentence in _SENTENCE.findall(text):
        if not words(sentence):
            continue
        if "?" in sentence or any(_clause_asks(part, lang, lemma) for part in sentence.split(",")):
            chosen = sentence
    if chosen is None:
        return []
    parts = chosen.split(",")
    for n, part in enumerate(parts):
        if _clause_asks(part, lang, lemma):
            return words(",".join(parts[n:]))
    return words(chosen)  # only its question mark asks
