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
                  "paikkansa", "niin", "yes", "yep", "yeah", "y", "correct", "right", "sure",
                  "ja", "jo", "japp", "jepp", "stämmer", "rätt", "korrekt", "👍"})
_NO = frozenset({"ei", "väärin", "eipä", "no", "nope", "n", "wrong", "nej", "nä", "fel", "👎"})
_FILLER = frozenset({"se", "on", "det", "är", "that's", "thats", "that", "it's", "its", "it",
                     "is", "paikkaansa", "pidä"})
_KNOWN = _YES | _NO | _FILLER


def yes_or_no(text: str) -> bool | None:
    """True for a typed yes ("kyllä", "Joo!", "no joo", "ja, det stämmer", "that's right"),
    False for a no ("ei", "ei pidä paikkaansa", "nej", "no"), None for anything else (a new
    answer to the question asked). Finnish "no" before a yes is "well": "no joo" is a yes."""
    words = re.findall(r"[\w'’👍👎]+", text.lower().replace("’", "'"))
    if not words or len(words) > 4 or any(w not in _KNOWN for w in words):
        return None
    if words[0] == "no" and len(words) > 1:  # Finnish "well …": "no on", "no joo", "no ei"
        return not any(word in _NO for word in words[1:])
    if words[0] in _NO:
        return False
    return True if any(word in _YES for word in words) else None
