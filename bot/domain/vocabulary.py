"""The topics' words, and what a question's words match among them.

The vocabulary is read from the knowledge base once: every topic's keywords, weak words and
example questions, reduced to their basic forms with simplemma (Finnish and Swedish inflect
heavily), and the self-service answers' trigger words. A question's word matches a form exactly,
inside a compound (`tiimipalaverin` holds `tiimipalaveri`), with an inflection ending
(`HOKSin`), through a Finnish inflection stem (`sopimuksen`), or, for longer words, despite a
typo (rapidfuzz); what a word matches is kept, for staff use the same words again and again.
From the matches come each topic's word score, and beside it each topic's similarity to the
question in character n-grams (what lemmas miss: consonant gradation, colloquial forms).
bot.domain.routing weighs these with the need model's say.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain

from rapidfuzz import fuzz, process

from bot import LANGUAGES
from bot.domain.knowledge import Answer, Knowledge
from bot.domain.lemmas import Lemmas

KEYWORD, WEAK, EXAMPLE, PHRASE = 1.0, 0.5, 0.3, 1.0
GRAM = 4  # letters per character n-gram of the second signal
SIMILARITY_FLOOR = 0.03  # weaker similarities are noise shared by every topic
FUZZY_CUTOFF = 86.0
WORD_CACHE_SIZE = 20_000  # words whose matches are kept (some 8 MB when full)
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def grams(word: str) -> list[str]:
    """The word's character n-grams, its edges marked: `kohtaan` and `kohtaaminen` share most."""
    padded = f" {word} "
    return [padded[i : i + GRAM] for i in range(len(padded) - GRAM + 1)]


# Finnish stems change when a word inflects (`näyttö` → `näytön`, `sopimus` → `sopimuksen`,
# `tiimiläinen` → `tiimiläisen`); simplemma knows common words' forms but not the school's
# compounds. A knowledge word's inflection stem, when it differs, is matched inside question words.
_FI_STEMS = (
    (re.compile(r"(.*[aeiouyäö])(k|p|t)\2([aeiouyäö])$"), r"\1\2\3"),  # näyttö → näytö
    (re.compile(r"(.*)nt([aeiouyäö])$"), r"\1nn\2"),  # arviointi → arvioinni
    (re.compile(r"(.*)nk([aeiouyäö])$"), r"\1ng\2"),  # kenkä → kengä
    (re.compile(r"(.*)lt([aeiouyäö])$"), r"\1ll\2"),
    (re.compile(r"(.*)rt([aeiouyäö])$"), r"\1rr\2"),
    (re.compile(r"(.*)mp([aeiouyäö])$"), r"\1mm\2"),
    (re.compile(r"(.*[^aeiouyäö][aeiouyäö]*)(u|y)s$"), r"\1\2ks"),  # sopimus → sopimuks
    (re.compile(r"(.*)nen$"), r"\1s"),  # tiimiläinen → tiimiläis
    (re.compile(r"(.*)in$"), r"\1ime"),  # puhelin → puhelime
)


def inflection_stem(form: str) -> str | None:
    """The stem a Finnish knowledge word takes in its inflected forms, when it differs."""
    for pattern, replacement in _FI_STEMS:
        stem, n = pattern.subn(replacement, form)
        if n and stem != form and len(stem) >= 5:
            return stem
    return None


def keyword_form(word: str, base: str) -> str:
    """A knowledge word's basic form, unless the lemmatizer cut a compound short.

    simplemma reduces some unknown compounds to their first part (`opiskelijavuosi` becomes
    `opiskelija`); an inflection ending is rarely longer than four letters, so a shorter
    prefix is not trusted.
    """
    if len(word) <= 4 or (word.startswith(base) and len(word) - len(base) > 4):
        return word  # acronyms (`puk` is not `puka`) and compounds cut short
    return base


@dataclass(slots=True)
class _Term:
    """One basic-form word of the vocabulary and what it says about topics."""

    languages: set[str] = field(default_factory=set)
    weights: dict[str, float] = field(default_factory=dict)  # topic -> weight

    def add(self, topic: str, weight: float, language: str) -> None:
        self.languages.add(language)
        self.weights[topic] = max(weight, self.weights.get(topic, 0.0))


@dataclass(frozen=True, slots=True)
class _WordMatch:
    """What one word of a question matches: every form (for answers' triggers), the longest
    (for the knowledge's phrases), and those that count for the topics, with their quality."""

    seen: tuple[str, ...]
    phrased: tuple[str, ...]
    scored: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class _LooseIndex:
    """Forms of five or more letters (and stems) by their first five letters, so that the forms
    inside a word are found from the word's own letters; forms of three or four letters as a set;
    and every form's place in the vocabulary, so that matches keep the vocabulary's order."""

    long: dict[str, tuple[str, ...]]
    short: frozenset[str]
    stems: dict[str, tuple[str, ...]]
    order: dict[str, int]
    stem_order: dict[str, int]

    @classmethod
    def build(cls, *, usable: list[str], stems: list[str]) -> _LooseIndex:
        def by_head(forms: list[str]) -> dict[str, tuple[str, ...]]:
            heads: dict[str, list[str]] = defaultdict(list)
            for form in forms:
                heads[form[:5]].append(form)
            return {head: tuple(group) for head, group in heads.items()}

        return cls(long=by_head([f for f in usable if len(f) >= 5]),
                   short=frozenset(f for f in usable if 3 <= len(f) <= 4),
                   stems=by_head(stems), order={form: n for n, form in enumerate(usable)},
                   stem_order={stem: n for n, stem in enumerate(stems)})

    @staticmethod
    def within(text: str, heads: dict[str, tuple[str, ...]]) -> set[str]:
        """The indexed strings (five letters or more) that occur in `text`."""
        return {form for i in range(len(text) - 4) for form in heads.get(text[i:i + 5], ())
                if text.startswith(form, i)}


class Vocabulary:
    """The knowledge's words by basic form, and what a question's words match among them."""

    def __init__(self, knowledge: Knowledge, lemmas: Lemmas, *, similarity: bool = True) -> None:
        self.knowledge = knowledge
        self.lemmas = lemmas
        self._terms: dict[str, _Term] = defaultdict(_Term)
        self.phrases: list[tuple[frozenset[str], str, float]] = []  # (forms, topic, weight)
        self.role_of = {tid: t.role for tid, t in knowledge.topics.items()}
        self._word_cache: dict[tuple[str, str], _WordMatch] = {}
        self._loose: dict[str, _LooseIndex] = {}  # per language
        # A word written in the knowledge is a basic form already: `teams` (the program) is
        # not reduced to `team` when `team` is a word of its own.
        self._written = {
            entry.lower()
            for topic in knowledge.topics.values()
            for per_language in (topic.keywords, topic.weak)
            for entries in per_language.values()
            for entry in entries
            if len(words(entry)) == 1
        }
        for topic in knowledge.topics.values():
            self._add_topic(topic.id, topic.keywords, topic.weak, topic.examples)
        self._phrase_index = self._index_phrases()
        # The self-service answers' triggers: (answer, language, basic forms).
        self.triggers: list[tuple[Answer, str, tuple[str, ...]]] = []
        self._add_triggers(knowledge.answers)
        self._share = {form: self._role_share(term) for form, term in self._terms.items()}
        self._long = [form for form in self._terms if len(form) >= 5]
        self._stems = self._stem_index()
        self._idf: dict[str, float] = {}  # by n-gram, over the topics
        self._gram_topics: list[str] = []  # the topics in the order the n-gram index numbers them
        self._grams = self._gram_index(knowledge) if similarity else {}

    def _add_triggers(self, answers: Sequence[Answer]) -> None:
        self.triggers = [
            (answer, lang, self.forms(trigger, lang))
            for answer in answers
            for lang, triggers in answer.triggers.items()
            for trigger in triggers
        ]
        for _, lang, forms in self.triggers:
            for form in forms:
                self._terms[form].languages.add(lang)

    def set_answers(self, answers: Sequence[Answer]) -> None:
        """The self-service answers in use from now on: their trigger words join the
        vocabulary, so the words' matches are worked out afresh."""
        self._add_triggers(answers)
        self._share = {form: self._role_share(term) for form, term in self._terms.items()}
        self._long = [form for form in self._terms if len(form) >= 5]
        self._word_cache.clear()
        self._loose.clear()

    # --- building ---------------------------------------------------------------------------

    def forms(self, text: str, lang: str) -> tuple[str, ...]:
        return tuple(keyword_form(w, self.lemmas.lemma(w, lang)) for w in words(text))

    def _entry_forms(self, entry: str, lang: str) -> tuple[str, ...]:
        """A knowledge entry's basic forms; a word written on its own in the knowledge that
        reduces to another written word keeps its own form, in a phrase too (`teams-möte` is
        `teams` + `möte`, not a team's meeting)."""
        return tuple(word if word in self._written and form != word and form in self._written
                     else form for word, form in zip(words(entry), self.forms(entry, lang),
                                                     strict=True))

    def _index_phrases(self) -> dict[str, tuple[int, ...]]:
        """Each phrase (by its place in the list) filed under the form of it that fewest
        phrases hold: a question's forms then find the few phrases that may be whole in it."""
        holding = Counter(form for forms, _, _ in self.phrases for form in forms)
        index: dict[str, list[int]] = defaultdict(list)
        for number, (forms, _, _) in enumerate(self.phrases):
            index[min(forms, key=lambda f: (holding[f], f))].append(number)
        return {form: tuple(numbers) for form, numbers in index.items()}

    def _stem_index(self) -> dict[str, str]:
        """Finnish inflection stems of the vocabulary's words (`sopimuks` → `sopimus`)."""
        stems: dict[str, str] = {}
        for form, term in self._terms.items():
            stem = inflection_stem(form) if "fi" in term.languages else None
            if stem and stem not in self._terms and len(form) > len(stems.get(stem, "")):
                stems[stem] = form
        return stems

    def _add_topic(self, topic: str, keywords: dict, weak: dict, examples: dict) -> None:
        for weight, per_language in ((KEYWORD, keywords), (WEAK, weak)):
            for lang, entries in per_language.items():
                for entry in entries:
                    forms = self._entry_forms(entry, lang)
                    if len(forms) == 1:
                        self._terms[forms[0]].add(topic, weight, lang)
                    elif forms:
                        self.phrases.append((frozenset(forms), topic, weight * PHRASE))
                        for form in forms:
                            self._terms[form].languages.add(lang)
        mined: set[tuple[str, str]] = set()
        for lang, sentences in examples.items():
            stop = self.knowledge.stopwords.get(lang, frozenset())
            for sentence in sentences:
                for word in words(sentence):
                    form = self.lemmas.lemma(word, lang)
                    if len(form) >= 3 and not form.isdigit() and not {word, form} & stop:
                        mined.add((form, lang))
        for form, lang in mined:
            self._terms[form].add(topic, EXAMPLE, lang)

    def _topic_words(self, words_: list[str], lang: str) -> list[str]:
        stop = self.knowledge.stopwords.get(lang, frozenset())
        return [w for w in words_ if len(w) >= 3 and w not in stop]

    def _gram_index(self, knowledge: Knowledge) -> dict[str, tuple[tuple[int, ...],
                                                                   tuple[float, ...]]]:
        """The second signal: each topic's text (keywords, weak words, examples) as a TF-IDF
        vector of character n-grams, indexed by n-gram. It sees what lemmas miss: consonant
        gradation (`kohtaan`, `kohdata`), colloquial and misspelt forms, unlisted compounds."""
        counts: dict[str, Counter[str]] = {}
        for topic in knowledge.topics.values():
            bag: Counter[str] = Counter()
            for per_language in (topic.keywords, topic.weak, topic.examples):
                for lang, entries in per_language.items():
                    for entry in entries:
                        for word in self._topic_words(words(entry), lang):
                            bag.update(grams(word))
            counts[topic.id] = bag
        spread = Counter(gram for bag in counts.values() for gram in bag)
        self._idf = {gram: math.log(len(counts) / n) for gram, n in spread.items()}
        index: dict[str, dict[str, float]] = defaultdict(dict)
        for topic_id, grams_of in counts.items():
            vector = {g: (1 + math.log(n)) * self._idf[g] for g, n in grams_of.items()}
            norm = math.sqrt(sum(x * x for x in vector.values())) or 1.0
            for gram, x in vector.items():
                if x:
                    index[gram][topic_id] = x / norm
        self._gram_topics = list(counts)
        # By gram: the numbers of its topics and its weights there (the inner loop of a
        # question's similarity, over lists rather than dicts).
        return {gram: (tuple(self._gram_topics.index(t) for t in weights),
                       tuple(weights.values())) for gram, weights in index.items()}

    def similarity(self, words_: list[str], lang: str) -> dict[str, float]:
        """Cosine similarity of the question's n-grams to each topic's, above the floor. An
        n-gram no topic holds apart from the others (or none at all) weighs nothing: it is
        left out of the sums, which it would leave as they are."""
        if not self._grams:
            return {}
        index, idf = self._grams, self._idf
        bag = Counter(chain.from_iterable([grams(w) for w in self._topic_words(words_, lang)]))
        # (1 + log 1) × idf is idf exactly: the logarithm only for the n-grams that repeat.
        vector = [(index[g], idf[g] if n == 1 else (1 + math.log(n)) * idf[g])
                  for g, n in bag.items() if g in index]
        norm = math.sqrt(sum([x * x for _, x in vector])) or 1.0
        sims: dict[int, float] = {}  # in the order first met, as the topics' scores are added up
        get = sims.get
        for (topics, weights), x in vector:
            for topic, y in zip(topics, weights, strict=True):
                sims[topic] = get(topic, 0.0) + x * y / norm
        names = self._gram_topics
        return {names[t]: sim for t, sim in sims.items() if sim >= SIMILARITY_FLOOR}

    def _role_share(self, term: _Term) -> dict[str, float]:
        """How much of a word belongs to each role, by its strongest weight in that role."""
        strongest: dict[str, float] = defaultdict(float)
        for topic, weight in term.weights.items():
            role = self.role_of[topic]
            strongest[role] = max(strongest[role], weight)
        total = sum(strongest.values())
        return {role: weight / total for role, weight in strongest.items()}

    # --- matching -----------------------------------------------------------------------------

    def _usable(self, form: str, lang: str) -> bool:
        """Loose matching (compounds, endings, typos) only with words of the question's language."""
        languages = self._terms[form].languages
        return lang in languages or len(languages) > 1

    def _loose_index(self, lang: str) -> _LooseIndex:
        """The vocabulary a word of `lang` may match loosely, built once per language (again when
        the answers' words change the vocabulary)."""
        index = self._loose.get(lang)
        if index is None:
            index = self._loose[lang] = _LooseIndex.build(
                usable=[form for form in self._terms if self._usable(form, lang)],
                stems=list(self._stems))
        return index

    def _scan_word(self, word: str, lang: str) -> dict[str, float]:
        """Every vocabulary form this word matches, with the quality of the match."""
        base = self.lemmas.lemma(word, lang)
        found: dict[str, float] = {}
        for candidate in {word, base}:
            if candidate in self._terms:
                found[candidate] = 1.0
        # Loose matches, looked up by the word's own letters rather than by scanning the whole
        # vocabulary: a form of five or more letters anywhere in the word (compounds, endings),
        # a form of three or four letters that begins it (with at most four letters more).
        index = self._loose_index(lang)
        loose: set[str] = set()
        for text in (word, base):
            loose.update(index.within(text, index.long))
            for size in (3, 4):
                if len(text) >= size and len(text) - size <= 4 and text[:size] in index.short:
                    loose.add(text[:size])
        for form in sorted(loose - found.keys(), key=index.order.__getitem__):
            found[form] = 1.0
        if lang == "fi":
            stems = {stem for text in (word, base) for stem in index.within(text, index.stems)}
            for stem in sorted(stems, key=index.stem_order.__getitem__):
                if self._stems[stem] not in found:
                    found[self._stems[stem]] = 1.0
        # A typo: nothing found, or only a short part of a long word (`koulutus` in a misspelt
        # `koulutusspoimuksen`).
        covered = max((len(f) for f in found), default=0)
        if covered < 0.7 * len(base) and len(base) >= 6:
            hit = process.extractOne(base, self._long, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
            if hit and self._usable(hit[0], lang):
                found[hit[0]] = 0.8
        return found

    def _longest(self, found: dict[str, float]) -> dict[str, float]:
        """For scoring the longest word wins: `chatgpt` is not also `chat`, `tiimipalaveri` not
        also `tiimi`; but a word only mined from examples hides no keyword."""
        strong = [f for f in found if max(self._terms[f].weights.values(), default=0) >= WEAK]
        return {
            form: q
            for form, q in found.items()
            if not any(form != other and form in other for other in strong)
        }

    def matches(self, words_: list[str], lang: str) -> tuple[dict[str, float], set[str],
                                                               set[str]]:
        """Forms to score (the longest per word), every form seen (for answers' triggers), and
        the forms the knowledge's phrases may use."""
        scored: dict[str, float] = {}
        seen: set[str] = set()
        phrased: set[str] = set()
        for word in words_:
            match = self._word_match(word, lang)
            seen.update(match.seen)
            phrased.update(match.phrased)
            for form, quality in match.scored:
                scored[form] = max(quality, scored.get(form, 0.0))
        return scored, seen, phrased

    def _word_match(self, word: str, lang: str) -> _WordMatch:
        """What one word of a question matches. The scan over the vocabulary is the router's
        main cost and depends only on the word and its language, so each word's answer is kept
        (staff use the same words again and again)."""
        key = (word, lang)
        cached = self._word_cache.get(key)
        if cached is not None:
            return cached
        found = self._scan_word(word, lang) or self._other_language(word, lang)
        seen = tuple(found)
        # Phrases may hold stopwords (`ei vastaa`), but not a word the longer one hides:
        # `Teams` and a meeting are no team meeting.
        phrased = tuple(self._longest(found))
        base = self.lemmas.lemma(word, lang)
        stop = self.knowledge.stopwords.get(lang, frozenset())
        if word in stop or base in stop:
            # A stopword counts only as a word of the knowledge itself (`uusia`, to retake,
            # is `uusi`): `lärare` says nothing, and neither does the `lära` inside it.
            found = {f: q for f, q in found.items() if f in (word, base)}
        match = _WordMatch(seen, phrased, tuple(self._longest(found).items()))
        if len(self._word_cache) >= WORD_CACHE_SIZE:
            self._word_cache.clear()
        self._word_cache[key] = match
        return match

    def _other_language(self, word: str, lang: str) -> dict[str, float]:
        """A word that says nothing in the question's language may be of another (`Teams:
        mötet startar inte and the recordings fail`): its basic form there counts when it is a
        knowledge word of that language. Exact only: loose matching stays with the question's
        language, and a stopword there says nothing."""
        for other in LANGUAGES:
            if other == lang:
                continue
            base = self.lemmas.lemma(word, other)
            term = self._terms.get(base)
            if base != word and term is not None and other in term.languages \
                    and not {word, base} & self.knowledge.stopwords.get(other, frozenset()):
                return {base: 1.0}
        return {}

    def topic_scores(self, matched: dict[str, float], phrased: set[str]) -> dict[str, float]:
        scores: dict[str, float] = defaultdict(float)
        for form, quality in matched.items():
            share = self._share[form]
            for topic, weight in self._terms[form].weights.items():
                scores[topic] += weight * quality * share[self.role_of[topic]]
        for topic, weight in self.phrases_in(phrased):
            scores[topic] += weight
        return scores

    def phrases_in(self, phrased: set[str]) -> list[tuple[str, float]]:
        """The knowledge's phrases all of whose forms the question holds, as (topic, weight),
        in the knowledge's order. Only those filed under one of the question's forms can be
        whole in it: a few of the thousand are tried."""
        index = self._phrase_index
        return [(topic, weight)
                for number in sorted({n for form in phrased for n in index.get(form, ())})
                for forms, topic, weight in (self.phrases[number],) if forms <= phrased]

    # --- what the knowledge loop asks ----------------------------------------------------------

    def content_forms(self, words_: list[str], lang: str) -> list[str]:
        stop = self.knowledge.stopwords.get(lang, frozenset())
        found: list[str] = []
        for word in words_:
            if len(word) < 3 or word.isdigit() or word in stop:
                continue
            form = keyword_form(word, self.lemmas.lemma(word, lang))
            if form not in stop and form not in found:
                found.append(form)
        return found

    def languages_of(self, form: str) -> frozenset[str]:
        """The languages whose knowledge holds this basic form: `moodle` and `hoks` are in all
        three (language-neutral words for a trigger), `palauttaa` in Finnish only."""
        term = self._terms.get(form)
        return frozenset(term.languages) if term else frozenset()

    def vocabulary_form(self, form: str) -> str:
        """The vocabulary's own word for an inflected one the lemmatizer left as it was
        (`moodlee` → `moodle`), or for a Finnish form of a word all languages share (`hoksin`
        → `hoks`): at most three letters of ending."""
        known = self.languages_of(form)
        for size in range(len(form) - 1, max(len(form) - 4, 2), -1):
            shorter = self.languages_of(form[:size])
            if shorter and (not known or shorter > known):
                return form[:size]
        return form

    def topic_weight(self, form: str, topic: str) -> float:
        """How much the form says about the topic (0: nothing known)."""
        term = self._terms.get(form)
        return term.weights.get(topic, 0.0) if term else 0.0

