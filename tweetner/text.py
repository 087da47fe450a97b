"""Raw tweet -> the competition's ``clean_tweet`` form, in pure Python and in TensorFlow.

The organisers published their training tweets already cleaned: lower case, hyperlinks removed and
only the characters ``a-z 0-9 . - : _`` and the space left. Measurements on their file show that a
removed character was replaced by a space (an apostrophe gives ``don t``), that HTML entities were
not decoded but lost their ``&`` and ``;`` (``amp``, ``lt``, ``gt`` occur as words), that retweet
markers survive as the word ``rt`` and that hashtags and mentions keep their word without ``#``/``@``.
Tweets seen at prediction time must be brought into the same form, otherwise the vocabulary learnt
in training does not match.

Two implementations share one rule table, :data:`RULES`:

* :func:`clean` applies it with Python's :mod:`re`, for data preparation and tests;
* :func:`clean_tf` applies it with ``tf.strings.regex_replace`` (RE2), so that cleaning lives inside
  the exported graph and serving sees exactly what training saw.

To keep the two engines in agreement every pattern avoids the constructs on which Python ``re`` and
RE2 differ: no ``\\s``/``\\w``/``\\b`` (Unicode-aware in Python, ASCII-only in RE2), no ``(?i)``
(Python folds a few non-ASCII letters such as U+0131 onto ASCII ones, RE2 does not), no ``\\u``
escapes (Python only) and no ``\\x{...}`` escapes (RE2 only; characters above U+00FF are written
literally instead). Lower-casing happens before the table and touches A-Z only, which both sides
do identically (``str.translate`` and ``tf.strings.lower`` without an encoding).

Deliberate choice: every character outside ``[a-z0-9.:_-]`` becomes a space, including accented
Latin letters (``café`` -> ``caf``), non-Latin scripts and emoji. The training data contains none of
them, so the model could not make use of them anyway, and a space keeps the neighbouring ASCII words
apart exactly as the organisers' cleaning did.
"""
from __future__ import annotations

import functools
import re

# Control characters (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) and every character that
# Python's str.isspace() accepts. Written as \xhh escapes (understood alike by re and RE2) up to
# U+00FF, and as literal characters above, where the two engines share no escape syntax.
_SPACE_CLASS = r"[\x00-\x20\x7f-\xa0" + "\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000" + "]"

# A link ends at the next space; by the time the link rules run, every kind of whitespace has
# already become a plain space (rule order matters).
_LINK_END = r"[^ ]*"

# www. and pic.twitter.com links must start a word, so that words such as "awww.so" survive. Word
# starts are spelt out as a class instead of \b, whose meaning differs between re and RE2.
# A www. link is only recognised with a path ("www.host/..."): the organisers left a bare
# "www.microsoft.com" in their training text, and removing bare hosts would make the cleaning
# disagree with its own training data.
_WORD_START = r"(^|[^a-z0-9])"

RULES: tuple[tuple[str, str], ...] = (
    # 1. NUL, other control characters (tab, CR, LF, ...) and Unicode spaces are all word breaks.
    (_SPACE_CLASS, " "),
    # 2. Hyperlinks with a scheme, wherever they start ("via:https://..." is common).
    (r"https?://" + _LINK_END, " "),
    # 3. Scheme-less web links and 4. Twitter's picture links; the preceding character is kept.
    (_WORD_START + r"www\.[^ /]*/" + _LINK_END, r"\1 "),
    (_WORD_START + r"pic\.twitter\.com" + _LINK_END, r"\1 "),
    # 5. Numeric character references (&#39; &#x27;) are dropped: the training data has "don t",
    #    not "don 39 t".
    (r"&#[0-9]+;|&#x[0-9a-f]+;", " "),
    # 6. Named entities (&amp; &lt; &gt; &quot; ...) become their name as a word, as in the training
    #    data ("amp", "lt", "gt" are frequent tokens there).
    (r"&([a-z][a-z0-9]*);", r" \1 "),
    # 7. Everything outside the competition alphabet becomes a space (see the module docstring).
    (r"[^a-z0-9.:_\- ]+", " "),
    # 8. Collapse runs of spaces and 9. strip both ends. No newline is left at this point, so "$"
    #    means the end of the text in both engines (Python's "$" also matches before a final "\n").
    (r"  +", " "),
    (r"^ | $", ""),
)
"""Ordered (RE2-compatible pattern, replacement) pairs applied after ASCII lower-casing.

Replacements use ``\\1`` for the first group, a syntax both ``re.sub`` and RE2 understand.
"""

# str.translate table for A-Z -> a-z; leaving every other character alone matches tf.strings.lower
# with its default (empty) encoding, which works byte-wise on ASCII letters only.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@functools.lru_cache(maxsize=1)
def _compiled_rules() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Compile :data:`RULES` once, on first use rather than at import time."""
    return tuple((re.compile(pattern), replacement) for pattern, replacement in RULES)


def clean(raw: str) -> str:
    """Bring one raw tweet into the competition's ``clean_tweet`` form.

    Args:
        raw: The tweet as posted (any Unicode text, possibly with links, entities, emoji).

    Returns:
        Lower-case text over ``[a-z0-9.:_-]`` with single spaces between words and none at the
        ends; ``""`` when nothing survives. ``clean(clean(x)) == clean(x)``.

    Example:
        >>> clean("RT @Vendor: Patch CVE-2019-0708 now!! &amp; reboot https://t.co/x")
        'rt vendor: patch cve-2019-0708 now amp reboot'
    """
    text = raw.translate(_ASCII_LOWER)
    for i, (pattern, replacement) in enumerate(_compiled_rules()):
        # Rule 3 backtracks in Python's re (quadratic on a long word of repeated "www."); RE2 is linear. The
        # same rule, done word by word in linear time, replaces it here; the parity tests keep the two equal.
        text = _drop_www_links(text) if i == _WWW_RULE else pattern.sub(replacement, text)
    return text


_WWW_RULE = 2
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _drop_www_links(text: str) -> str:
    """Rule 3 of :data:`RULES` in linear time: in each space-separated chunk, the leftmost "www." at a word start
    begins a link when a "/" follows it in the chunk; the link runs to the end of the chunk and becomes a space."""
    chunks = text.split(" ")
    for k, chunk in enumerate(chunks):
        at = chunk.find("www.")
        while at > 0 and chunk[at - 1] in _ALNUM:
            at = chunk.find("www.", at + 1)
        if at >= 0 and chunk.find("/", at + 4) >= 0:
            chunks[k] = chunk[:at] + " "
    return " ".join(chunks)


def tokenize(text: str) -> list[str]:
    """Clean a tweet and split it into words.

    Args:
        text: A raw or already clean tweet.

    Returns:
        ``clean(text).split()``: a list of ``n`` tokens, ``[]`` when nothing survives cleaning.
    """
    return clean(text).split()


def clean_tf(strings):
    """TensorFlow twin of :func:`clean`, for use inside models and exported graphs.

    Invalid UTF-8 is first repaired (each bad byte sequence becomes U+FFFD, which the rules then
    turn into a space), so arbitrary bytes are accepted. For every valid ``str`` the result equals
    :func:`clean` exactly. Works eagerly and inside ``tf.function`` (``jit_compile=False``: the
    string ops have no XLA kernels).

    Args:
        strings: A ``tf.string`` tensor of any shape (e.g. ``[batch]`` or ``[None]``), or anything
            ``tf.convert_to_tensor`` turns into one (a Python string or list of strings).

    Returns:
        A ``tf.string`` tensor of the same shape holding the cleaned UTF-8 texts.
    """
    import tensorflow as tf  # Lazy: importing TensorFlow costs seconds and most callers need none.

    strings = tf.convert_to_tensor(strings, dtype=tf.string)
    text = tf.strings.unicode_transcode(
        strings, input_encoding="UTF-8", output_encoding="UTF-8", errors="replace"
    )
    text = tf.strings.lower(text)  # no encoding given: ASCII A-Z only, like _ASCII_LOWER
    for pattern, replacement in RULES:
        text = tf.strings.regex_replace(text, pattern, replacement, replace_global=True)
    return text
