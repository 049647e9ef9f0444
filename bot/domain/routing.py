"""Routing: which kind of helper should answer a question, and what it is about.

Two readings of a question meet here. The need model (bot.domain.needs) says which role the
question calls for — what the asker wants done — learned from labelled questions; it decides the
role. The words decide the topic: what the question's words match among the topics' words, and
how like each topic's text it is (bot.domain.vocabulary). The words' role scores also count
beside the model's probabilities, a little, and helpers' corrections of questions in the same
words count strongly. When no role is clearly the most probable, `ask` is true and the asker
chooses. The language comes first (bot.domain.lemmas), and a question's words are read once:
every step takes them from `route`.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from bot import LANGUAGES, ROLES
from bot.domain.asking import asking_words
from bot.domain.knowledge import Answer, Knowledge
from bot.domain.lemmas import Lemmas
from bot.domain.needs import (
    UNCLEAR,
    Cue,
    Example,
    NeedModel,
    TrainingError,
    load_or_train,
)
from bot.domain.vocabulary import Vocabulary, words
from bot.domain.wordtable import ensure, read_table, table_path

log = logging.getLogger(__name__)

OTHER_TOPIC = "other"
FALLBACK_ROLE = "vertaisvalmentaja"  # the low-threshold advice service takes what fits nowhere
CONFIDENT = 0.42  # words alone: below this the asker chooses the kind of helper
ASK_BELOW = 0.60  # with the need model: below this probability the asker chooses
WORDS_WEIGHT = 1.5  # how far the words' role shares move the model's log-probabilities
SELF_SERVICE = 0.5  # a self-service answer is offered only above this
SIMILARITY_WEIGHT = 5.0  # how much a topic's n-gram similarity (0..1) counts beside its words
CORRECTION_WEIGHT = 4.0  # a helper's correction of a question with the same words (similarity 1)
CORRECTION_FLOOR = 0.5  # corrections sharing fewer of the question's words are not counted
ASKED_KEPT = 256  # questions whose asking clause is kept for the card's why (`explain`)


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


def _confidence(role_scores: dict[str, float], role: str) -> float:
    """The margin of `role` over the runner-up, times the strength of its evidence."""
    first = role_scores.get(role, 0.0)
    second = max((s for r, s in role_scores.items() if r != role), default=0.0)
    if first <= 0:
        return 0.0
    return round(first / (first + second) * (1 - math.exp(-first)), 3)


class Router:
    """Routes questions with the vocabulary built once from the knowledge base."""

    def __init__(
        self, knowledge: Knowledge, lemmas: Lemmas | None = None, *, similarity: bool = True,
        needs: NeedModel | None = None, learned: bool = True, word_table: bool = True,
    ) -> None:
        self.knowledge = knowledge
        self.lemmas = lemmas or Lemmas()
        if needs is None and learned and knowledge.training:
            try:
                needs = load_or_train(training_examples(knowledge), self.lemmas.folder)
                if word_table:  # recorded beside the model when missing (some 15 s, once)
                    ensure(knowledge, self.lemmas.folder, needs.fingerprint)
            except TrainingError as exc:  # route by the words, as before the model
                log.warning("routing by the words alone: %s", exc)
        self.needs = needs
        if needs is not None and word_table:  # before the vocabulary, which reads its words
            self._use_table(needs.fingerprint)
        self.vocabulary = Vocabulary(knowledge, self.lemmas, similarity=similarity)
        self._role_of = self.vocabulary.role_of
        self.answers: tuple[Answer, ...] = tuple(knowledge.answers)
        self.answers_version = 0  # counts changes of `answers`: what is kept from them goes
        self._corrections: dict[str, list[Correction]] = {}  # form -> corrections holding it
        self._asked: dict[tuple[str, str], list[str]] = {}  # (text, language) -> asking words

    def _use_table(self, key: str) -> None:
        """The lemmatizer answers the corpus's words from the word table of the need model's
        fingerprint (bot.domain.wordtable); without one, from its dictionaries as before."""
        try:
            self.lemmas.table = read_table(table_path(self.lemmas.folder, key))
        except Exception as exc:  # missing, unreadable or damaged: the dictionaries answer
            log.warning("no word table %s (%s): the lemmatizer reads every word from its "
                        "dictionaries", key, type(exc).__name__)

    def set_answers(self, answers: Sequence[Answer]) -> None:
        """The self-service answers in use from now on (the published ones, read from the
        database by bot.domain.answers): a coach's new answer works at once, without a
        restart. Their trigger words join the vocabulary."""
        if tuple(answers) == self.answers:
            return
        self.answers = tuple(answers)
        self.answers_version += 1
        self.vocabulary.set_answers(self.answers)

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

    def detect_language(self, text: str, hint: str | None = None) -> str:
        """fi, sv or en (bot.domain.lemmas)."""
        return self.lemmas.language(text, hint)

    # --- deciding ----------------------------------------------------------------------------

    def route(self, text: str, *, language_hint: str | None = None) -> Decision:
        """Decide topic, role and confidence for one question."""
        lang = self.detect_language(text, language_hint)
        words_ = words(text)  # each step below reads these, none reads the text again
        content = self.vocabulary.content_forms(words_, lang)
        matched, seen, phrased = self.vocabulary.matches(words_, lang)
        word_scores = self.vocabulary.topic_scores(matched, phrased)
        lexical = self._with_similarity(word_scores, words_, lang)
        learned = self._learned(content)
        topic_scores = defaultdict(float, lexical)
        for topic, weight in learned.items():
            topic_scores[topic] += weight
        role_scores = self._role_scores(topic_scores)
        # A greeting or a word of thanks is no question the model can place.
        needs = self.needs.probabilities_of(
            words_, lang, self.lemmas.lemma, self._asking(text, lang)) \
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
        # …and it is the words' own topic's (with what their n-grams see, as before any
        # correction): a helper's correction moves the topic logged, not what the words plainly
        # ask (one re-topicked "I forgot my password" would otherwise take the password answer
        # from everyone who writes it).
        answer = self._answer(max((t for t in lexical if self._role_of[t] == best),
                                  key=lexical.__getitem__, default=topic), seen) \
            if clear and not ask else None
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

    def explain(self, text: str, role: str, *, language_hint: str | None = None,
                language: str | None = None) -> list[str]:
        """The two or three words that pulled the question most towards `role`; `language`:
        the question's, as routing found it (a ticket's), so not detected again."""
        if self.needs is None:
            return []
        lang = language or self.detect_language(text, language_hint)
        cues: list[Cue] = self.needs.cues(text, lang, self.lemmas.lemma, role, limit=6,
                                          asked=self._asking(text, lang))
        stop = self.knowledge.stopwords.get(lang, frozenset())
        return [c.word for c in cues
                if c.word not in stop and self.lemmas.lemma(c.word, lang) not in stop][:3]

    def _asking(self, text: str, lang: str) -> list[str]:
        """The words of the question's asking clause (bot.domain.asking), kept a while: the
        card's why line (`explain`) comes for the question just routed."""
        key = (text, lang)
        asked = self._asked.get(key)
        if asked is None:
            if len(self._asked) >= ASKED_KEPT:
                self._asked.clear()
            asked = self._asked[key] = asking_words(text, lang, self.lemmas.lemma)
        return asked

    def _with_similarity(self, scores: dict[str, float], words_: list[str], lang: str,
                         learned: dict[str, float] | None = None) -> dict[str, float]:
        """The word evidence plus each topic's n-gram similarity to the question, plus what
        helpers' corrections of questions with the same words say, when given."""
        combined = defaultdict(float, scores)
        for topic, similarity in self.vocabulary.similarity(words_, lang).items():
            combined[topic] += SIMILARITY_WEIGHT * similarity
        for topic, weight in (learned or {}).items():
            combined[topic] += weight
        return combined

    def best_topic(self, text: str, role: str) -> str:
        """The topic of `role` that fits the question best (after the asker chose the role)."""
        lang = self.detect_language(text)
        words_ = words(text)
        matched, _, phrased = self.vocabulary.matches(words_, lang)
        scores = self._with_similarity(
            self.vocabulary.topic_scores(matched, phrased), words_, lang,
            self._learned(self.vocabulary.content_forms(words_, lang)))
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
        for answer, _lang, forms in self.vocabulary.triggers:
            if answer.topic == topic and forms and all(f in seen for f in forms):
                if best is None or len(forms) > best[0]:
                    best = (len(forms), answer.id)
        return best[1] if best else None

    # --- what the knowledge loop asks ----------------------------------------------------------

    def seen_forms(self, text: str, lang: str | None = None) -> set[str]:
        """Every basic form the router sees in the text (its own words and the vocabulary's)."""
        return self.vocabulary.matches(words(text), lang or self.detect_language(text))[1]

    def content_forms(self, text: str, lang: str) -> list[str]:
        """The question's own words in their basic forms, without stopwords, in order: what
        similar questions are compared by and what a drafted answer's trigger is made of."""
        return self.vocabulary.content_forms(words(text), lang)

    def suggest(self, text: str, topic: str, limit: int = 3, *,
                language: str | None = None) -> list[str]:
        """Answers of the topic for the helpers' card, those whose triggers the question covers
        most fully first (the router's own match leads). One press sends an answer to the
        asker, so one is offered only when the question holds a trigger whole, or all of a
        longer trigger but one word and at least two of its words that are no stopwords: a
        shared `wilma` or `not` alone is no reason (a Wilma login is not about absences).
        `language`: the question's, as routing found it (a ticket's), so not detected again."""
        seen = self.seen_forms(text, language)
        best: dict[str, float] = {}
        for answer, lang, forms in self.vocabulary.triggers:
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
                     for f in self.vocabulary.forms(t, lang)}
            for lang, text in answer.text.items():
                forms |= {self.lemmas.lemma(w, lang) for w in words(text)} | set(words(text))
            if wanted & forms or any(len(w) >= 5 and any(w in f for f in forms) for w in query):
                found.append(answer)
        return found

    def languages_of(self, form: str) -> frozenset[str]:
        """The languages whose knowledge holds this basic form (bot.domain.vocabulary)."""
        return self.vocabulary.languages_of(form)

    def vocabulary_form(self, form: str) -> str:
        """The vocabulary's own word for an inflected one (bot.domain.vocabulary)."""
        return self.vocabulary.vocabulary_form(form)

    def topic_weight(self, form: str, topic: str) -> float:
        """How much the form says about the topic (0: nothing known)."""
        return self.vocabulary.topic_weight(form, topic)

    def trigger_for(self, text: str, lang: str, topic: str, size: int,
                    leave_out: frozenset[str] = frozenset()) -> list[str]:
        """A drafted answer's trigger: the question's words that say most about its topic (the
        vocabulary's weight there, then length), at most `size`, in the question's order."""
        forms = [f for f in self.content_forms(text, lang) if f not in leave_out]
        chosen = set(sorted(forms, key=lambda f: (-self.topic_weight(f, topic), -len(f)))[:size])
        return [f for f in forms if f in chosen]
