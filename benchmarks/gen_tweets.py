"""Seeded generator of synthetic raw tweets, the input of the soak benchmark.

``python -m benchmarks.gen_tweets N [--seed S]`` writes exactly N lines to standard output, one raw tweet per line,
in the form :mod:`tweetner.predict` reads: bytes ended by ``"\\n"``, never a ``"\\n"`` inside a line. The tweets are
built from templates and word lists written for this project (no tweet text from any data set): vendor and product
names, version numbers, CVE and advisory identifiers, links of every shape the cleaning removes, mentions, hashtags,
emoji, HTML entities, ``RT`` markers and non-Latin text, in the mixed case of real posts. About one line in a hundred
is empty or hostile: whitespace only, invalid UTF-8, NUL and other control bytes, a lone carriage return, Unicode line
separators, a CRLF ending, or an enormous line, so that a long run meets every kind of input the predictor must
survive.

Generation is streaming with constant memory (lines are written in small blocks as they are made), deterministic for
a given seed and count, and far faster than prediction, so it never limits a benchmark. It stops quietly when the
reader goes away (``| head``).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from typing import BinaryIO, Iterator, Sequence

DEFAULT_SEED = 2019
HOSTILE_RATE = 0.01  # share of empty or hostile lines
BLOCK = 1024  # lines per write: few system calls, bounded memory

VENDORS = (
    "Microsoft", "Apple", "Google", "Cisco", "Oracle", "Adobe", "Mozilla", "VMware", "Fortinet", "Juniper",
    "Citrix", "SAP", "IBM", "Intel", "Samsung", "Huawei", "Atlassian", "Zyxel", "Netgear", "D-Link",
    "Acme", "Globex", "Initech", "Hooli", "Vandelay",
)
PRODUCTS = (
    "Windows", "Windows Server", "Exchange Server", "Office", "Outlook", "macOS", "iOS", "Safari", "Chrome",
    "Android", "Firefox", "Thunderbird", "Java SE", "WebLogic", "MySQL", "Acrobat Reader", "Flash Player", "ESXi",
    "vCenter", "FortiOS", "Junos", "NetScaler ADC", "Confluence", "Jira", "Jenkins", "WordPress", "Drupal",
    "Apache Struts", "Apache HTTP Server", "Tomcat", "nginx", "OpenSSL", "OpenSSH", "Linux kernel", "Docker",
    "Kubernetes", "Redis", "PostgreSQL", "IOS XE", "ASA firewall", "NAS", "VPN gateway", "router firmware",
)
VULNS = (
    "remote code execution", "RCE", "buffer overflow", "heap overflow", "use-after-free", "XSS",
    "cross-site scripting", "SQL injection", "SQLi", "privilege escalation", "auth bypass",
    "authentication bypass", "denial of service", "DoS", "zero-day", "0day", "memory corruption",
    "information disclosure", "path traversal", "command injection", "CSRF", "XXE", "deserialization flaw",
    "sandbox escape", "backdoor", "ransomware", "botnet", "cryptojacking malware",
)
ACTIONS = (
    "patches", "fixes", "releases update for", "warns of", "confirms", "issues advisory on",
    "rushes out fix for", "quietly patches", "discloses",
)
HANDLES = (
    "SecNewsDaily", "threatintel", "CERT_Team", "vulnfeed", "0xDEADBEEF", "bug_hunter99", "infosec_jane",
    "NVD_bot", "patchwatch", "MalwareLab", "redteam_ops", "sysadmin_life",
)
HASHTAGS = (
    "infosec", "CyberSecurity", "security", "0day", "CVE", "PatchTuesday", "vulnerability", "malware",
    "ThreatIntel", "DFIR", "bugbounty", "netsec", "AppSec", "ransomware", "tech", "DevOps", "MondayMotivation",
)
EMOJI = (  # including a variation selector, a flag (two regional indicators) and a zero-width-joiner sequence
    "\U0001F525", "\U0001F6A8", "\u26A0\uFE0F", "\U0001F512", "\U0001F41B", "\U0001F680", "\U0001F602",
    "\U0001F44D", "\U0001F440", "\u2764\uFE0F", "\U0001F62D", "\U0001F1EA\U0001F1FA", "\U0001F468\u200D\U0001F4BB",
)
ENTITIES = ("&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;", "&nbsp;", "&hellip;")
NON_LATIN = (  # "vulnerability", "security", "update" and the like in other scripts and accented Latin
    "\u0423\u044f\u0437\u0432\u0438\u043c\u043e\u0441\u0442\u044c",
    "\u8106\u5f31\u6027",
    "\u8106\u5f31\u6027\u304c\u898b\u3064\u304b\u308a\u307e\u3057\u305f",
    "\u062b\u063a\u0631\u0629 \u0623\u0645\u0646\u064a\u0629",
    "\ubcf4\uc548 \ucde8\uc57d\uc810",
    "\u0395\u03c5\u03c0\u03ac\u03b8\u03b5\u03b9\u03b1",
    "\u05e2\u05d3\u05db\u05d5\u05df \u05d0\u05d1\u05d8\u05d7\u05d4",
    "\u0e0a\u0e48\u0e2d\u0e07\u0e42\u0e2b\u0e27\u0e48",
    "s\u00e9curit\u00e9 \u00e0 jour",
    "Sicherheitsl\u00fccke gef\u00e4hrlich",
    "vulnerabilidad cr\u00edtica",
)
CHATTER = (
    "just got the new {product} and honestly it is great",
    "anyone else having trouble with {product} today?",
    "@{handle} thanks for the tip! will try it tonight",
    "coffee first, then {product} updates {emoji}",
    "our team is hiring a {product} admin, DM me",
    "Webinar tomorrow: moving to {product} without tears &gt;&gt; register {url}",
    "Good morning everyone {emoji}{emoji}",
    "{vendor} stock is up again lol",
    "Watching the keynote from {vendor} live {emoji} #{hashtag}",
    "{non_latin} {emoji}",
    "RT @{handle}: Happy Friday! What are you reading this weekend? #{hashtag}",
    "I can't believe {product} still doesn't have dark mode {emoji}",
)
THREATS = (
    "{vendor} {action} {vuln} in {product} {version} ({cve}) {url}",
    "RT @{handle}: {cve}: {vuln} in {vendor} {product} before {version} allows remote attackers to run code {url}",
    "New #{hashtag} exploit for {product} {version} is out {emoji} patch now! {url}",
    "{vendor} {product} {version} update fixes {count} flaws &amp; a critical {vuln} #{hashtag} #{hashtag2}",
    "{emoji} {cve} ({vuln}) affects {product} up to {version}. PoC: {url} via @{handle}",
    "Attackers actively exploiting {vuln} in {vendor} {product} {emoji} {advisory} {url}",
    "[{advisory}] {vuln} vulnerability in {product} {version} &lt;= {version2} {url}",
    "{vendor} {action} {count} vulnerabilities incl. {cve} and {cve2} in {product} #{hashtag}",
    "{non_latin}: {vendor} {product} {cve} {url}",
    "PSA: update {product} to {version} NOW {emoji}{emoji} {cve} is being used in the wild #{hashtag}",
)
URLS = (
    "https://t.co/{code}", "http://t.co/{code}", "https://example.com/advisories/{code}?ref=tw",
    "www.example.org/{code}", "pic.twitter.com/{code}", "HTTPS://T.CO/{code}", "https://t.co/{code}\u2026",
)
NOT_NEWLINE = bytes(b for b in range(256) if b != 0x0A)
CONTROL = "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85\xa0\u2028\u2029\u200b\ufeff"


_CODE_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def _code(rng: random.Random) -> str:
    """A short-link code such as t.co uses."""
    return "".join(rng.choices(_CODE_ALPHABET, k=10))


def _version(rng: random.Random) -> str:
    style = rng.randrange(5)
    if style == 0:
        return f"{rng.randint(1, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 30)}"
    if style == 1:
        return f"v{rng.randint(1, 12)}.{rng.randint(0, 9)}"
    if style == 2:
        return f"{rng.randint(50, 130)}.0.{rng.randint(1000, 6999)}.{rng.randint(10, 250)}"
    if style == 3:
        return f"{rng.randint(2008, 2024)} SP{rng.randint(1, 3)}"
    return str(rng.randint(2, 12))


def _identifier(rng: random.Random, prefix: str) -> str:
    return f"{prefix}-{rng.randint(1999, 2024)}-{rng.randint(1, 29999):04d}"


def _advisory(rng: random.Random) -> str:
    return f"{rng.choice(('MS', 'APSB', 'RHSA-', 'DSA-', 'ZDI-'))}{rng.randint(0, 24):02d}-{rng.randint(1, 999):03d}"


# Template field -> how to draw it. Fields are drawn only when a template uses them (see _Fields), which keeps
# generation several times faster than prediction.
_DRAW = {
    "vendor": lambda rng: rng.choice(VENDORS),
    "product": lambda rng: rng.choice(PRODUCTS),
    "vuln": lambda rng: rng.choice(VULNS),
    "action": lambda rng: rng.choice(ACTIONS),
    "handle": lambda rng: rng.choice(HANDLES),
    "hashtag": lambda rng: rng.choice(HASHTAGS),
    "hashtag2": lambda rng: rng.choice(HASHTAGS),
    "emoji": lambda rng: rng.choice(EMOJI),
    "non_latin": lambda rng: rng.choice(NON_LATIN),
    "version": _version,
    "version2": _version,
    "cve": lambda rng: _identifier(rng, "CVE"),
    "cve2": lambda rng: _identifier(rng, "cve"),
    "advisory": _advisory,
    "count": lambda rng: str(rng.randint(2, 120)),
    "url": lambda rng: rng.choice(URLS).format(code=_code(rng)),
}


class _Fields(dict):
    """Template values drawn on first use; a field used twice in a template gets the same value."""

    def __init__(self, rng: random.Random):
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        value = self[key] = _DRAW[key](self.rng)
        return value


def _tweet(rng: random.Random) -> str:
    template = rng.choice(THREATS if rng.random() < 0.4 else CHATTER)
    tweet = template.format_map(_Fields(rng))
    if rng.random() < 0.15:  # a stray entity, as left by clients that escape twice
        tweet += " " + rng.choice(ENTITIES)
    if rng.random() < 0.2:  # shouting is common in security news
        tweet = tweet.upper()
    return tweet


def _hostile(rng: random.Random) -> bytes:
    """An empty, malformed or adversarial line (bytes, never containing b"\\n")."""
    kind = rng.randrange(10)
    if kind == 0:
        return b""
    if kind == 1:
        return rng.choice((b"   ", b"\t \t", b" \xc2\xa0 ", b"\r"))
    if kind == 2:  # random bytes: mostly invalid UTF-8
        return bytes(rng.choice(NOT_NEWLINE) for _ in range(rng.randint(1, 200)))
    if kind == 3:  # a tweet whose bytes are cut in the middle of multi-byte characters
        raw = _tweet(rng).encode("utf-8") + "\U0001F525\u00e9".encode("utf-8")
        return raw[: rng.randint(1, len(raw))] + b"\xc3"
    if kind == 4:  # control characters and invisible separators between the words
        words = _tweet(rng).split(" ")
        return "".join(w + rng.choice(CONTROL) for w in words).encode("utf-8")
    if kind == 5:  # a lone CR in the middle, and a CRLF ending (the CR is part of the line ending)
        return (_tweet(rng) + "\r" + _tweet(rng) + "\r").encode("utf-8")
    if kind == 6:  # markup and script injection attempts
        return (f"<script>alert('{_code(rng)}')</script> {_tweet(rng)} <img src=x onerror=alert(1)>"
                f" '; DROP TABLE tweets; --").encode("utf-8")
    if kind == 7:  # combining marks and direction overrides
        return ("\u202e" + "".join(c + "\u0301\u0316" for c in _tweet(rng)[:80]) + "\u202c").encode("utf-8")
    if kind == 8:  # an enormous line: thousands of words
        return " ".join(_tweet(rng) for _ in range(rng.randint(20, 200))).encode("utf-8")
    # a single enormous "word", and link-like runs that stress the cleaning rules
    return rng.choice((b"A" * 20000, b"www." * 500, b"&amp;" * 2000, b"https://" + b"x" * 5000))


def generate(n: int, seed: int = DEFAULT_SEED) -> Iterator[bytes]:
    """Yields `n` raw tweets as UTF-8 bytes (some deliberately invalid), without line endings.

    Args:
        n: number of tweets.
        seed: seed of the pseudo-random choices; the same (n, seed) always gives the same tweets, and a longer run
            starts with the tweets of a shorter one.

    Yields:
        One line's bytes at a time, never containing b"\\n".
    """
    rng = random.Random(seed)
    for _ in range(n):
        if rng.random() < HOSTILE_RATE:
            yield _hostile(rng)
        else:
            yield _tweet(rng).encode("utf-8")


def write_lines(lines: Iterator[bytes], out: BinaryIO) -> int:
    """Writes each line followed by b"\\n" in blocks of :data:`BLOCK` lines; returns the number written."""
    block: list[bytes] = []
    n = 0
    for line in lines:
        block.append(line)
        if len(block) == BLOCK:
            out.write(b"\n".join(block) + b"\n")
            n += len(block)
            block = []
    if block:
        out.write(b"\n".join(block) + b"\n")
        n += len(block)
    out.flush()
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gen_tweets",
        description=(
            "Write N synthetic raw tweets to standard output, one per line (UTF-8 bytes, about 1% of lines empty or "
            "deliberately malformed: invalid UTF-8, control characters, enormous lines), for load tests such as "
            "python -m benchmarks.soak. The output depends only on N and the seed."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("n", type=int, help="number of lines to write (0 or more)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the pseudo-random generator")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n < 0:
        print(f"error: N must be 0 or more, got {args.n}", file=sys.stderr)
        return 2
    try:
        write_lines(generate(args.n, args.seed), sys.stdout.buffer)
    except BrokenPipeError:
        # The reader stopped early (e.g. | head). Point stdout at /dev/null so the interpreter's final flush does
        # not raise a second BrokenPipeError on the way out.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
