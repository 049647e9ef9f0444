"""Text as staff write it, made storable and trimmed: a leaf every module may import."""

from __future__ import annotations

import re
import unicodedata

# Characters that show nothing: a message of only these (and spaces) has no text. Format
# characters (zero-width space and joiners, the byte-order mark, direction marks, the soft
# hyphen) are found by their Unicode category, as are controls and spaces; these fillers are
# letters that print blank. Unassigned code points count as visible: they may be emoji newer
# than Python's Unicode tables.
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def _blank(char: str) -> bool:
    return unicodedata.category(char) in _BLANK_CATEGORIES or char in _BLANK_LETTERS


_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone one: no driver can encode it


def storable(text: str) -> str:
    """`text` as every database can store it: PostgreSQL refuses NUL (it becomes a space) and
    no database driver can encode a lone surrogate (it becomes U+FFFD, the replacement mark)."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text.replace("\x00", " ")
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else " " if char == "\x00"
                   else char for char in text)


def clean_text(text: str | None) -> str:
    """A staff member's text as it is stored: storable, without blank characters at either end;
    empty when nothing visible is left but slashes (a lone "/", a zero-width space, a BOM),
    which the adapter answers with its "I found no text" message. Use it wherever staff text is
    stored."""
    text = storable(text or "")
    start, end = 0, len(text)
    while start < end and _blank(text[start]):
        start += 1
    while end > start and _blank(text[end - 1]):
        end -= 1
    text = text[start:end]
    return text if any(not _blank(char) and char != "/" for char in text) else ""


# A yes or a no typed where buttons ask it, in the desk's languages, as people write them.
_YES = frozenset({"kyllä", "kylla", "joo", "juu", "jep", "jees", "ok", "okei", "oikein", "pitää",
                  "paikkansa", "yes", "yep", "yeah", "y", "correct", "right", "sure", "ja", "jo",
                  "japp", "jepp", "stämmer", "rätt", "korrekt", "👍"})
_FILLER = frozenset({"se", "on", "det", "är", "that's", "thats", "is", "it", "that"})
_NO = frozenset({"ei", "väärin", "eipä", "no", "nope", "n", "wrong", "nej", "nä", "fel",
                 "👎"})


def yes_or_no(text: str) -> bool | None:
    """True for a typed yes ("kyllä", "Joo!", "ja, det stämmer"), False for a no, None for
    anything else (a new answer to the question asked)."""
    words = re.findall(r"[\w👍👎]+", text.lower())
    if not words or len(words) > 4:
        return None
    if all(word in _YES or word in _FILLER for word in words) \
            and any(word in _YES for word in words):
        return True
    if words[0] in _NO and len(words) <= 2:
        return False
    return None
