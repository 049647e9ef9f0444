"""Small talk: a greeting, a thank-you, "is anyone there?", a lone "?" or emoji — words with no
question in them. Nothing is stored for it; the asker is invited to write the question.

Conservative by design: a message is small talk only when every word in it is one of the
words below (or it has no letters or digits at all). One content word ("hei, wilma ei toimi",
"hi, is anyone there who knows Excel?") makes it a question."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Words that greet, thank or check whether someone is there, by language. Words shared by
# the languages (ok, ja, no…) are neutral: they neither add to nor say the language.
_GREETINGS = {
    "fi": {"hei", "heippa", "heips", "moi", "moikka", "moikku", "moro", "morjens", "morjes",
           "terve", "terse", "tervehdys", "hoi", "huhuu", "haloo", "halloo", "hyvää",
           "huomenta", "päivää", "iltaa", "huomenia", "moikkelis", "heissan"},
    "sv": {"hej", "hejsan", "hejhej", "tjena", "tjenare", "tja", "hallå", "god", "morgon",
           "dag", "kväll", "goddag", "godmorgon"},
    "en": {"hi", "hello", "hey", "hiya", "howdy", "good", "morning", "afternoon", "evening"},
}
_THANKS = {
    "fi": {"kiitos", "kiitti", "kiitoksia", "kiitokset", "kiitosta", "paljon", "kovasti",
           "tuhannesti", "kiitoksii", "kiitän", "kiittää", "kitos", "kiitoos", "kiitokse"},
    "sv": {"tack", "tackar", "så", "mycket", "tusen", "tacksam", "tackzz"},
    "en": {"thanks", "thank", "thx", "ty", "cheers", "much", "lot", "many", "tnx", "thnx",
           "thankyou", "thanx", "tks"},
}
# Words that say what the thanks are for, or how warm they are: small talk only beside a word
# of thanks ("kiitos avusta", "tack för hjälpen", "thanks a lot for your help"). Alone, or with
# any other word ("kiitos, mutta vielä: miten…?"), they leave a question a question.
_THANKED = {
    "fi": {"avusta", "avustasi", "avustanne", "vastauksesta", "vastauksestasi", "vastauksista",
           "neuvosta", "neuvoista", "neuvostasi", "tuesta", "tuestasi", "opastuksesta",
           "opastuksestasi", "ohjeesta", "ohjeista", "ohjeistasi", "nopeasta", "hyvästä",
           "tosi", "todella", "ihan", "sulle", "sinulle", "teille", "vielä", "kerran",
           "tuhannet", "suuret", "isot", "hurjasti", "ja", "hyvää", "päivänjatkoa", "jatkoa",
           "ystävällisesti", "apu", "avustuksesta"},
    "sv": {"för", "hjälpen", "svaret", "svar", "snabba", "snabbt", "dig", "er", "igen",
           "stort", "varmt", "ska", "du", "ha", "hjälp", "rådet", "råden", "stödet",
           "snälla", "jättemycket", "och", "bra", "en", "dag"},
    "en": {"for", "the", "your", "help", "helping", "answer", "answers", "reply", "response",
           "quick", "fast", "again", "so", "very", "a", "lot", "all", "you", "support",
           "advice", "assistance", "really", "great", "and", "have", "nice", "day", "loads",
           "million", "that", "this", "it", "guidance", "tips", "info", "me", "much"},
}
_PRESENCE = {
    "fi": {"onko", "ketään", "kukaan", "kenkään", "siellä", "täällä", "paikalla", "linjoilla",
           "olemassa", "ootko", "oletko", "olette", "kuuleeko", "joku", "kaikki", "kaikille"},
    "sv": {"är", "det", "någon", "där", "här", "finns", "ni", "du", "alla"},
    "en": {"is", "anyone", "anybody", "someone", "somebody", "there", "here", "are", "you",
           "a", "so", "very", "all", "everyone", "everybody"},
}
_NEUTRAL = {"ok", "okay", "okei", "okej", "oki", "ja", "no", "joo", "jep", "yes", "bot", "botti"}
_THANK_WORDS = frozenset(word for words in _THANKS.values() for word in words) - {
    "paljon", "kovasti", "tuhannesti", "så", "mycket", "tusen", "much", "lot", "many"}
_WORDS = {lang: _GREETINGS[lang] | _THANKS[lang] | _PRESENCE[lang] for lang in _GREETINGS}
_ALL = frozenset(word for words in _WORDS.values() for word in words) | _NEUTRAL
_ALL_THANKED = frozenset(word for words in _THANKED.values() for word in words)
MAX_WORDS = 8  # longer than this, it says something


class Kind(StrEnum):
    GREETING = "greeting"  # a greeting, a presence check, a lone "?" or emoji
    THANKS = "thanks"


@dataclass(frozen=True, slots=True)
class SmallTalk:
    kind: Kind
    language: str | None  # the language its words are in, when they say it


def _words(text: str) -> list[str]:
    return "".join(c if c.isalnum() else " " for c in text.lower()).split()


def small_talk(text: str) -> SmallTalk | None:
    """What `text` is, if it holds no question: a greeting or a thank-you (and in which
    language); None when it has a word that may carry a question."""
    words = _words(text)
    thanks = any(word in _THANK_WORDS for word in words)
    known = _ALL | _ALL_THANKED if thanks else _ALL
    if not text.strip() or len(words) > MAX_WORDS or any(word not in known for word in words):
        return None
    if thanks and "?" in text and any(word not in _ALL for word in words):
        return None  # "Thanks for the help?" may doubt it: a person reads it
    kind = Kind.THANKS if thanks else Kind.GREETING
    counts = {lang: sum(word in vocabulary or (thanks and word in _THANKED[lang])
                        for word in words)
              for lang, vocabulary in _WORDS.items()}
    best = max(counts, key=lambda lang: counts[lang])
    tied = sum(count == counts[best] for count in counts.values()) > 1
    return SmallTalk(kind, None if counts[best] == 0 or tied else best)
