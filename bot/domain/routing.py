"""Routing: which kind of helper should answer a question, and what it is about.

Two readings of a question meet here. The need model (bot.domain.needs) says which role the
question calls for — what the asker wants done — learned from labelled questions; it decides the
role. The words decide the topic: the router reads the knowledge base once, reduces every word of
a question to its basic form with simplemma (Finnish and Swedish inflect heavily) and matches it
against the topics' words: exactly, inside compounds (`tiimipalaverin` holds `tiimipalaveri`),
with an inflection ending (`HOKSin`), or, for longer words, despite a typo (rapidfuzz). The words'
role scores also count beside the model's probabilities, a little, and helpers' corrections of
questions in the same words count strongly. When no role is clearly the most probable, `ask` is
true and the asker chooses.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain

from rapidfuzz import fuzz, process

from bot import DEFAULT_LANGUAGE, LANGUAGES, ROLES
from bot.domain.knowledge import Answer, Knowledge
from bot.domain.lemmas import Lemmas
from bot.domain.needs import UNCLEAR, Cue, Example, NeedModel, TrainingError, load_or_train

log = logging.getLogger(__name__)

OTHER_TOPIC = "other"
FALLBACK_ROLE = "vertaisvalmentaja"  # the low-threshold advice service takes what fits nowhere
CONFIDENT = 0.42  # words alone: below this the asker chooses the kind of helper
ASK_BELOW = 0.55  # with the need model: below this probability the asker chooses
WORDS_WEIGHT = 1.5  # how far the words' role shares move the model's log-probabilities
SELF_SERVICE = 0.5  # a self-service answer is offered only above this

KEYWORD, WEAK, EXAMPLE, PHRASE = 1.0, 0.5, 0.3, 1.0
GRAM = 4  # letters per character n-gram of the second signal
SIMILARITY_WEIGHT = 5.0  # how much a topic's n-gram similarity (0..1) counts beside its words
SIMILARITY_FLOOR = 0.03  # weaker similarities are noise shared by every topic
CORRECTION_WEIGHT = 4.0  # a helper's correction of a question with the same words (similarity 1)
CORRECTION_FLOOR = 0.5  # corrections sharing fewer of the question's words are not counted
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


def _keyword_form(word: str, base: str) -> str:
    """A knowledge word's basic form, unless the lemmatizer cut a compound short.

    simplemma reduces some unknown compounds to their first part (`opiskelijavuosi` becomes
    `opiskelija`); an inflection ending is rarely longer than four letters, so a shorter
    prefix is not trusted.
    """
    if len(word) <= 4 or (word.startswith(base) and len(word) - len(base) > 4):
        return word  # acronyms (`puk` is not `puka`) and compounds cut short
    return base


def training_examples(knowledge: Knowledge) -> list[Example]:
    """What the need model learns from: the labelled questions of knowledge/training, and the
    topics' example questions, each labelled with its topic's role."""
    return [*knowledge.training, *(
        Example(topic.role, lang, sentence)
        for topic in knowledge.topics.values()
        for lang, sentences in topic.examples.items()
        for sentence in sentences)]


@dataclass(frozen=True, slots=True)
class Decision:
    """What the router decided for one question."""

    topic: str
    role: str
    confidence: float
    language: str
    ask: bool
    roles: tuple[str, ...]  # every role, best first: the order of the choice buttons
    answer: str | None = None  # id of a self-service answer worth showing first
    probabilities: dict[str, float] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, object]:
        """The decision as `peerdesk route` prints it (its shape is kept for scripts)."""
        data = asdict(self)
        data["roles"] = list(self.roles)
        del data["probabilities"]
        return data


@dataclass(frozen=True, slots=True)
class Correction:
    """A helper sent a question with these basic forms to this role and topic."""

    role: str
    topic: str
    forms: frozenset[str]


@dataclass(slots=True)
class _Term:
    """One basic-form word of the vocabulary and what it says about topics."""

    languages: set[str] = field(default_factory=set)
    weights: dict[str, float] = field(default_factory=dict)  # topic -> weight

    def add(self, topic: str, weight: float, language: str) -> None:
        self.languages.add(language)
        self.weights[topic] = max(weight, self.weights.get(topic, 0.0))


def _confidence(role_scores: dict[str, float], role: str) -> float:
    """The margin of `role` over the runner-up, times the strength of its evidence."""
    first = role_scores.get(role, 0.0)
    second = max((s for r, s in role_scores.items() if r != role), default=0.0)
    if first <= 0:
        return 0.0
    return round(first / (first + second) * (1 - math.exp(-first)), 3)


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


class Router:
    """Routes questions with the vocabulary built once from the knowledge base."""

    def __init__(
        self, knowledge: Knowledge, lemmas: Lemmas | None = None, *, similarity: bool = True,
        needs: NeedModel | None = None, learned: bool = True,
    ) -> None:
        self.knowledge = knowledge
        self.lemmas = lemmas or Lemmas()
        if needs is None and learned and knowledge.training:
            try:
                needs = load_or_train(training_examples(knowledge), self.lemmas.folder)
            except TrainingError as exc:  # route by the words, as before the model
                log.warning("routing by the words alone: %s", exc)
        self.needs = needs
        self._terms: dict[str, _Term] = defaultdict(_Term)
        self._phrases: list[tuple[frozenset[str], str, float]] = []  # (forms, topic, weight)
        self._role_of = {tid: t.role for tid, t in knowledge.topics.items()}
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
        self.answers: tuple[Answer, ...] = ()
        self._answers: list[tuple[Answer, str, tuple[str, ...]]] = []
        self._index_answers(knowledge.answers)
        self._share = {form: self._role_share(term) for form, term in self._terms.items()}
        self._long = [form for form in self._terms if len(form) >= 5]
        self._stems = self._stem_index()
        self._grams = self._gram_index(knowledge) if similarity else {}
        self._corrections: dict[str, list[Correction]] = {}  # form -> corrections holding it

    def _index_answers(self, answers: Sequence[Answer]) -> None:
        self.answers = tuple(answers)
        self._answers = [
            (answer, lang, self._forms(trigger, lang))
            for answer in self.answers
            for lang, triggers in answer.triggers.items()
            for trigger in triggers
        ]
        for _, lang, forms in self._answers:
            for form in forms:
                self._terms[form].languages.add(lang)

    def set_answers(self, answers: Sequence[Answer]) -> None:
        """The self-service answers in use from now on (the published ones, read from the
        database by bot.domain.answers): a coach's new answer works at once, without a
        restart. Their trigger words join the vocabulary, so the word cache starts afresh."""
        if tuple(answers) == self.answers:
            return
        self._index_answers(answers)
        self._share = {form: self._role_share(term) for form, term in self._terms.items()}
        self._long = [form for form in self._terms if len(form) >= 5]
        self._word_cache.clear()
        self._loose.clear()

    def set_corrections(self, corrections: Sequence[Correction]) -> None:
        """Helpers' corrections in use from now on (read from the database by
        bot.domain.corrections); those naming a topic this knowledge lacks are left out."""
        usable = [c for c in corrections if self._role_of.get(c.topic) == c.role and c.forms]
        index: dict[str, list[Correction]] = defaultdict(list)
        for correction in usable:
            for form in correction.forms:
                index[form].append(correction)
        self._corrections = dict(index)

    def _learned(self, content: list[str]) -> dict[str, float]:
        """Evidence from helpers' corrections: each correction whose words the question mostly
        shares (cosine of the two sets of forms, `content` being the question's) counts for the
        topic the helper chose."""
        if not self._corrections:
            return {}
        mine = set(content)
        shared: dict[int, int] = defaultdict(int)  # by identity: two alike corrections count twice
        by_id: dict[int, Correction] = {}
        for form in mine:
            for correction in self._corrections.get(form, ()):
                shared[id(correction)] += 1
                by_id[id(correction)] = correction
        scores: dict[str, float] = defaultdict(float)
        for key, n in shared.items():
            correction = by_id[key]
            similarity = n / math.sqrt(len(mine) * len(correction.forms))
            if n >= 2 and similarity >= CORRECTION_FLOOR:  # one shared word is not a likeness
                scores[correction.topic] += CORRECTION_WEIGHT * similarity
        return scores

    def answer(self, answer_id: str) -> Answer | None:
        return next((a for a in self.answers if a.id == answer_id), None)

    # --- building ---------------------------------------------------------------------------

    def detect_language(self, text: str, hint: str | None = None) -> str:
        """fi, sv or en: simplemma's detector, then letters, then the hint."""
        best, score = self.lemmas.languages(text)[0]
        if best in LANGUAGES and score > 0:
            return best
        lowered = text.lower()
        if "å" in lowered:
            return "sv"
        if "ä" in lowered or "ö" in lowered:
            return "fi"
        return hint if hint in LANGUAGES else DEFAULT_LANGUAGE

    def _forms(self, text: str, lang: str) -> tuple[str, ...]:
        return tuple(_keyword_form(w, self.lemmas.lemma(w, lang)) for w in words(text))

    def _entry_forms(self, entry: str, lang: str) -> tuple[str, ...]:
        """A knowledge entry's basic forms; a word written on its own in the knowledge that
        reduces to another written word keeps its own form, in a phrase too (`teams-möte` is
        `teams` + `möte`, not a team's meeting)."""
        return tuple(word if word in self._written and form != word and form in self._written
                     else form for word, form in zip(words(entry), self._forms(entry, lang),
                                                     strict=True))

    def _index_phrases(self) -> dict[str, tuple[int, ...]]:
        """Each phrase (by its place in the list) filed under the form of it that fewest
        phrases hold: a question's forms then find the few phrases that may be whole in it."""
        holding = Counter(form for forms, _, _ in self._phrases for form in forms)
        index: dict[str, list[int]] = defaultdict(list)
        for number, (forms, _, _) in enumerate(self._phrases):
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
                        self._phrases.append((frozenset(forms), topic, weight * PHRASE))
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

    def _similarity(self, words_: list[str], lang: str) -> dict[str, float]:
        """Cosine similarity of the question's n-grams to each topic's, above the floor. An
        n-gram no topic holds apart from the others (or none at all) weighs nothing: it is
        left out of the sums, which it would leave as they are."""
        if not self._grams:
            return {}
        index, idf = self._grams, self._idf
        bag = Counter(chain.from_iterable([grams(w) for w in self._topic_words(words_, lang)]))
        vector = {g: (1 + math.log(n)) * idf[g] for g, n in bag.items() if g in index}
        norm = math.sqrt(sum([x * x for x in vector.values()])) or 1.0
        sims = [0.0] * len(self._gram_topics)
        touched: list[int] = []  # in the order first met, as the topics' scores are added up
        for gram, x in vector.items():
            topics, weights = index[gram]
            for topic, y in zip(topics, weights, strict=True):
                if not sims[topic]:
                    touched.append(topic)
                sims[topic] += x * y / norm
        return {self._gram_topics[t]: sims[t] for t in touched if sims[t] >= SIMILARITY_FLOOR}

    def _role_share(self, term: _Term) -> dict[str, float]:
        """How much of a word belongs to each role, by its strongest weight in that role."""
        strongest: dict[str, float] = defaultdict(float)
        for topic, weight in term.weights.items():
            role = self._role_of[topic]
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

    def _matches(self, words_: list[str], lang: str) -> tuple[dict[str, float], set[str],
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

    # --- deciding ----------------------------------------------------------------------------

    def route(self, text: str, *, language_hint: str | None = None) -> Decision:
        """Decide topic, role and confidence for one question."""
        lang = self.detect_language(text, language_hint)
        words_ = words(text)  # each step below reads these, none reads the text again
        content = self._content_forms(words_, lang)
        matched, seen, phrased = self._matches(words_, lang)
        word_scores = self._topic_scores(matched, phrased)
        lexical = self._with_similarity(word_scores, words_, lang)
        learned = self._learned(content)
        topic_scores = defaultdict(float, lexical)
        for topic, weight in learned.items():
            topic_scores[topic] += weight
        role_scores = self._role_scores(topic_scores)
        # A greeting or a word of thanks is no question the model can place.
        needs = self.needs.probabilities_of(words_, lang, self.lemmas.lemma) \
            if self.needs is not None and content else {}
        if needs:
            probabilities = self._combined(needs, self._role_scores(lexical), learned)
            ranked = sorted(ROLES, key=lambda r: (-probabilities[r], r != FALLBACK_ROLE))
            best = ranked[0]
            confidence = round(probabilities[best], 3)
            ask = confidence < ASK_BELOW
        else:  # nothing the model can read (or no model): the words alone
            probabilities = {}
            ranked = sorted(ROLES, key=lambda r: (-role_scores.get(r, 0.0), r != FALLBACK_ROLE))
            best = ranked[0]
            confidence = _confidence(role_scores, best)
            ask = confidence < CONFIDENT
        if confidence <= 0:
            return Decision(OTHER_TOPIC, FALLBACK_ROLE, 0.0, lang, True, tuple(ranked))
        topic = max((t for t in topic_scores if self._role_of[t] == best),
                    key=topic_scores.__getitem__, default=OTHER_TOPIC)
        # A self-service answer needs the words themselves to be clear and to agree: the model
        # may find the right helper, but showing an answer in place of a person asks for more.
        clear = _confidence(self._role_scores(word_scores), best) >= SELF_SERVICE
        answer = self._answer(topic, seen) if clear and not ask else None
        return Decision(topic, best, confidence, lang, ask, tuple(ranked), answer, probabilities)


    def _combined(self, needs: dict[str, float], role_scores: dict[str, float],
                  learned: dict[str, float]) -> dict[str, float]:
        """The model's probabilities, moved a little by the words' role shares and strongly by
        helpers' corrections of questions in the same words. What the model gives to "unclear"
        (a request for help that says not what about) stays with no role: it lowers them all."""
        total = sum(role_scores.values())
        corrected: dict[str, float] = defaultdict(float)
        for topic, weight in learned.items():
            corrected[self._role_of[topic]] += weight
        logits = {
            role: math.log(max(needs.get(role, 0.0), 1e-6))
            + WORDS_WEIGHT * (role_scores.get(role, 0.0) / total if total > 0 else 0.0)
            + corrected[role]
            for role in ROLES
        }
        logits[UNCLEAR] = math.log(max(needs.get(UNCLEAR, 0.0), 1e-6))
        top = max(logits.values())
        exp = {role: math.exp(value - top) for role, value in logits.items()}
        norm = sum(exp.values())
        return {role: exp[role] / norm for role in ROLES}

    def explain(self, text: str, role: str, *, language_hint: str | None = None) -> list[str]:
        """The two or three words that pulled the question most towards `role`."""
        if self.needs is None:
            return []
        lang = self.detect_language(text, language_hint)
        cues: list[Cue] = self.needs.cues(text, lang, self.lemmas.lemma, role, limit=6)
        stop = self.knowledge.stopwords.get(lang, frozenset())
        return [c.word for c in cues
                if c.word not in stop and self.lemmas.lemma(c.word, lang) not in stop][:3]

    def _with_similarity(self, scores: dict[str, float], words_: list[str], lang: str,
                         learned: dict[str, float] | None = None) -> dict[str, float]:
        """The word evidence plus each topic's n-gram similarity to the question, plus what
        helpers' corrections of questions with the same words say, when given."""
        combined = defaultdict(float, scores)
        for topic, similarity in self._similarity(words_, lang).items():
            combined[topic] += SIMILARITY_WEIGHT * similarity
        for topic, weight in (learned or {}).items():
            combined[topic] += weight
        return combined

    def _topic_scores(self, matched: dict[str, float], phrased: set[str]) -> dict[str, float]:
        scores: dict[str, float] = defaultdict(float)
        for form, quality in matched.items():
            share = self._share[form]
            for topic, weight in self._terms[form].weights.items():
                scores[topic] += weight * quality * share[self._role_of[topic]]
        # Only the phrases filed under one of the question's forms can be whole in it; they are
        # added in the knowledge's order all the same.
        index = self._phrase_index
        for number in sorted({n for form in phrased for n in index.get(form, ())}):
            forms, topic, weight = self._phrases[number]
            if forms <= phrased:
                scores[topic] += weight
        return scores

    def best_topic(self, text: str, role: str) -> str:
        """The topic of `role` that fits the question best (after the asker chose the role)."""
        lang = self.detect_language(text)
        words_ = words(text)
        matched, _, phrased = self._matches(words_, lang)
        scores = self._with_similarity(self._topic_scores(matched, phrased), words_, lang,
                                       self._learned(self._content_forms(words_, lang)))
        of_role = [t for t in scores if self._role_of[t] == role]
        return max(of_role, key=scores.__getitem__) if of_role else OTHER_TOPIC

    def _role_scores(self, topic_scores: dict[str, float]) -> dict[str, float]:
        """A role's best topic counts fully, its other topics a quarter: breadth helps a little."""
        per_role: dict[str, list[float]] = defaultdict(list)
        for topic, score in topic_scores.items():
            per_role[self._role_of[topic]].append(score)
        return {r: max(s) + 0.25 * (sum(s) - max(s)) for r, s in per_role.items()}

    def _answer(self, topic: str, seen: set[str]) -> str | None:
        """The self-service answer of this topic whose trigger the question covers most fully."""
        best: tuple[int, str] | None = None
        for answer, _lang, forms in self._answers:
            if answer.topic == topic and forms and all(f in seen for f in forms):
                if best is None or len(forms) > best[0]:
                    best = (len(forms), answer.id)
        return best[1] if best else None

    # --- what the knowledge loop asks ----------------------------------------------------------

    def seen_forms(self, text: str, lang: str | None = None) -> set[str]:
        """Every basic form the router sees in the text (its own words and the vocabulary's)."""
        return self._matches(words(text), lang or self.detect_language(text))[1]

    def content_forms(self, text: str, lang: str) -> list[str]:
        """The question's own words in their basic forms, without stopwords, in order: what
        similar questions are compared by and what a drafted answer's trigger is made of."""
        return self._content_forms(words(text), lang)

    def _content_forms(self, words_: list[str], lang: str) -> list[str]:
        stop = self.knowledge.stopwords.get(lang, frozenset())
        found: list[str] = []
        for word in words_:
            if len(word) < 3 or word.isdigit() or word in stop:
                continue
            form = _keyword_form(word, self.lemmas.lemma(word, lang))
            if form not in stop and form not in found:
                found.append(form)
        return found

    def suggest(self, text: str, topic: str, limit: int = 3) -> list[str]:
        """Answers of the topic for the helpers' card, those whose triggers the question covers
        most fully first (the router's own match leads). One press sends an answer to the
        asker, so one is offered only when the question holds a trigger whole, or all of a
        longer trigger but one word and at least two of its words that are no stopwords: a
        shared `wilma` or `not` alone is no reason (a Wilma login is not about absences)."""
        seen = self.seen_forms(text)
        best: dict[str, float] = {}
        for answer, lang, forms in self._answers:
            if answer.topic != topic or not forms:
                continue
            stop = self.knowledge.stopwords.get(lang, frozenset())
            shared = [f for f in forms if f in seen]
            telling = sum(f not in stop for f in shared)
            if len(shared) >= (len(forms) if len(forms) <= 2 else len(forms) - 1) \
                    and telling >= min(2, len(forms)):
                best[answer.id] = max(len(shared) / len(forms), best.get(answer.id, 0.0))
        return sorted(best, key=lambda a: (-best[a], a))[:limit]

    def find_answers(self, word: str) -> list[Answer]:
        """/answers WORD: answers whose triggers or text hold the word, in any language."""
        query = words(word)
        if not query:
            return []
        wanted = {self.lemmas.lemma(w, lang) for w in query for lang in LANGUAGES} | set(query)
        found = []
        for answer in self.answers:
            forms = {f for lang, triggers in answer.triggers.items() for t in triggers
                     for f in self._forms(t, lang)}
            for lang, text in answer.text.items():
                forms |= {self.lemmas.lemma(w, lang) for w in words(text)} | set(words(text))
            if wanted & forms or any(len(w) >= 5 and any(w in f for f in forms) for w in query):
                found.append(answer)
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

    def trigger_for(self, text: str, lang: str, topic: str, size: int,
                    leave_out: frozenset[str] = frozenset()) -> list[str]:
        """A drafted answer's trigger: the question's words that say most about its topic (the
        vocabulary's weight there, then length), at most `size`, in the question's order."""
        forms = [f for f in self.content_forms(text, lang) if f not in leave_out]

        def weight(form: str) -> float:
            term = self._terms.get(form)
            return term.weights.get(topic, 0.0) if term else 0.0

        chosen = set(sorted(forms, key=lambda f: (-weight(f), -len(f)))[:size])
        return [f for f in forms if f in chosen]
