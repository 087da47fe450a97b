#!/usr/bin/env python3
"""Generate ``tweetner/resources/sample.csv``, the bundled synthetic data set.

The sample has the competition format (header ``clean_tweet,relevant,entities,A,B,C``) but holds no
competition data: every tweet is built here from templates and word lists written for the project.
It exists so that tests, examples and quick training runs work without the real file, and it is
made to be learnable in a minute: relevant tweets talk about vulnerabilities, patches and
identifiers, irrelevant ones are chatter that often names the same vendors and products (tweets were
collected by product keywords, so product names alone must not decide relevance).

Three invented case-study infrastructures decide the A/B/C flags: A is desktop and office software,
B servers, web platforms and databases, C network devices and operating systems. A tweet is flagged
for the infrastructures of the products it names; a few get an extra flag, as when a keyword of
another infrastructure matched.

The output is deterministic for a given seed and row count; ``tests/test_data.py`` regenerates it and
compares bytes. Run from the repository root::

    python tools/make_sample.py            # rewrites tweetner/resources/sample.csv
    python tools/make_sample.py --out /tmp/s.csv --rows 1000 --seed 7
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "tweetner" / "resources" / "sample.csv"
DEFAULT_SEED = 2019
DEFAULT_ROWS = 400
RELEVANT_FRACTION = 0.4
DUPLICATES = 8  # repeated texts (retweets of the same story), a quirk of the real data too


@dataclass(frozen=True)
class Product:
    """One product of the catalogue: vendor (may be empty), name, case study, version style."""

    org: str
    name: str
    case: str
    versions: str  # key of VERSION_STYLES


# Version number shapes; digits are drawn per tweet. "before"/"up to"/"lts" make multi-word versions.
VERSION_STYLES = {
    "semver": ["{a}.{b}.{c}", "v{a}.{b}.{c}", "before {a}.{b}.{c}", "{a}.{b}.{c} and earlier", "{a}.{b}.x",
               "up to {a}.{b}.{c}", "{a}.{b}"],
    "long": ["{a}.{b}.{c}.{d}", "before {a}.{b}.{c}.{d}", "{a}.0.{c}.{d}"],
    "windows": ["10", "7", "8.1", "server 2016", "server 2019", "10 1809", "10 1903", "7 sp1", "server 2012 r2"],
    "office": ["2010", "2013", "2016", "2019", "365"],
    "distro": ["{a}.04 lts", "{a}.10", "{a}", "{a}.{b}"],
    "year": ["{y}", "{y} r2", "{y} sp1", "{y} sp2"],
}

CATALOGUE = (
    # A: desktop and office software
    Product("microsoft", "windows", "A", "windows"),
    Product("microsoft", "office", "A", "office"),
    Product("microsoft", "excel", "A", "office"),
    Product("microsoft", "outlook", "A", "office"),
    Product("microsoft", "internet explorer", "A", "semver"),
    Product("microsoft", "edge", "A", "long"),
    Product("adobe", "acrobat reader", "A", "long"),
    Product("adobe", "flash player", "A", "long"),
    Product("google", "chrome", "A", "long"),
    Product("mozilla", "firefox", "A", "semver"),
    Product("mozilla", "thunderbird", "A", "semver"),
    Product("apple", "safari", "A", "semver"),
    Product("apple", "macos", "A", "semver"),
    Product("", "libreoffice", "A", "semver"),
    Product("", "7-zip", "A", "semver"),
    # B: servers, web platforms and databases
    Product("apache", "http server", "B", "semver"),
    Product("apache", "struts", "B", "semver"),
    Product("apache", "tomcat", "B", "semver"),
    Product("oracle", "weblogic server", "B", "semver"),
    Product("oracle", "mysql", "B", "semver"),
    Product("oracle", "java se", "B", "semver"),
    Product("red hat", "jboss", "B", "semver"),
    Product("sap", "netweaver", "B", "year"),
    Product("ibm", "websphere", "B", "semver"),
    Product("", "wordpress", "B", "semver"),
    Product("", "drupal", "B", "semver"),
    Product("", "php", "B", "semver"),
    Product("", "nginx", "B", "semver"),
    Product("elastic", "elasticsearch", "B", "semver"),
    Product("", "mongodb", "B", "semver"),
    Product("microsoft", "exchange server", "B", "year"),
    Product("microsoft", "sharepoint", "B", "year"),
    # C: network devices and operating systems
    Product("cisco", "ios xe", "C", "semver"),
    Product("cisco", "asa firewall", "C", "semver"),
    Product("juniper", "junos", "C", "semver"),
    Product("fortinet", "fortios", "C", "semver"),
    Product("palo alto networks", "pan-os", "C", "semver"),
    Product("", "linux kernel", "C", "semver"),
    Product("canonical", "ubuntu", "C", "distro"),
    Product("", "debian", "C", "distro"),
    Product("red hat", "enterprise linux", "C", "distro"),
    Product("google", "android", "C", "distro"),
    Product("", "openssl", "C", "semver"),
    Product("vmware", "esxi", "C", "semver"),
    Product("citrix", "netscaler", "C", "semver"),
    Product("", "openssh", "C", "semver"),
)

VULNERABILITIES = (
    "remote code execution", "rce", "sql injection", "cross-site scripting", "xss", "buffer overflow",
    "heap overflow", "integer overflow", "denial of service", "dos", "privilege escalation",
    "elevation of privilege", "information disclosure", "use-after-free", "memory corruption",
    "security bypass", "authentication bypass", "zero-day", "0day", "command injection",
    "directory traversal", "arbitrary file read", "csrf", "backdoor", "ransomware", "race condition",
    "local privilege escalation", "remote denial of service", "type confusion", "xml external entity",
)
VULNERABILITY_NOUNS = ("vulnerability", "flaw", "vulnerabilities", "bug", "exploit")

HANDLES = ("secnewsdaily", "bugwatch", "patchalert", "cyberfeed", "vulnwire", "threatdigest", "sysadminjoe",
           "netdefender", "opsnotes", "infosecmaria", "techbytes", "devlife", "cloudguy", "dailytechnews")
SECURITY_WORDS = ("infosec", "cybersecurity", "security", "patchnow", "vulnerability", "threatintel",
                  "sysadmin", "exploit", "advisory", "update", "databreach", "appsec")
CHATTER_WORDS = ("tech", "news", "lol", "mondaymotivation", "coding", "devops", "productivity", "startup",
                 "cloud", "ai", "gaming", "business", "career", "fridayfeeling")

RELEVANT_TEMPLATES = (
    "{org} patches {vul} in {pro} {ver}",
    "{org} fixes {vul} in {pro} {ver} {id}",
    "{vul} found in {pro} {ver} {id}",
    "{id} {pro} {ver} allows remote attackers to trigger {vul}",
    "{id} : {vul} in {org} {pro}",
    "new exploit released for {pro} {vul} {id}",
    "attackers actively exploiting {vul} in {org} {pro} patch now",
    "critical update: {org} fixes {n} flaws including {vul} in {pro}",
    "{pro} {ver} released with fixes for {vul} and {vul2}",
    "security advisory for {pro} {ver} : {vul} {id}",
    "update your {pro} now amp patch {id}",
    "don t forget to patch {pro} : {vul} {id} is being exploited",
    "{org} warns of {vul} affecting {pro} {ver}",
    "poc for {id} {pro} {vul} published on github",
    "{pro} users urged to update after {vul} disclosed",
    "{org} {pro} {ver} {vul}",
    "{vul} in {pro} and {pro2} lets attackers take over servers",
    "{n} new {vul} bugs in {pro} {ver} fixed in {org} patch tuesday",
    "researchers disclose {vul} in {org} {pro} affecting versions {ver}",
    "{org} releases emergency patch for {pro} {vul} {id}",
    "{id} {vul}",
    "patch {pro} {ver} now {vul}",
    "unpatched {pro} servers hit by {vul} campaign",
    "{org} security bulletin {id} fixes {vul} in {pro} and {pro2}",
    "exploit kit adds {pro} {vul} {id} lt 24h after disclosure",
    "heads up: {org} just pushed an out of band update for {pro} {ver} that fixes a {vul} tracked as {id} "
    "which attackers are already using in the wild",
    "if you run {pro} {ver} in production please patch today because {id} is a {vul} and a public exploit "
    "is available",
)
IRRELEVANT_TEMPLATES = (
    "just upgraded to {pro} and loving the new dark mode",
    "my {pro} keeps crashing every morning lol",
    "{org} stock is up {n} percent today",
    "anyone know a good tutorial for {pro}",
    "{org} announces new ceo",
    "{org} is hiring engineers in lisbon",
    "free webinar on cloud migration with {pro} next week",
    "learning {pro} basics this weekend",
    "i don t like the new {pro} ui at all",
    "{org} conference keynote starts in {n} minutes",
    "switched from {pro} to {pro2} and never looking back",
    "how do i export my settings from {pro}",
    "{pro} {ver} has a nice new feature for tabs",
    "great talk about {pro} performance tuning amp caching",
    "{org} opens a new office downtown",
    "our team migrated {n} apps to {pro} this quarter",
    "is {pro} worth it for a small business",
    "the {org} store was packed today",
    "reading the {pro} docs with a coffee",
    "who else still uses {pro} at work",
    "{pro} tip: you can pin tabs with a right click",
    "{org} earnings call tonight",
    "setting up {pro} on my old laptop gt worth it",
    "spent the whole afternoon trying to get {pro} working on my new laptop and i still have no idea why "
    "the settings keep resetting",
    "honestly the best part of the {org} event was the free coffee and the people i met in the hallway "
    "after the talks",
)
CHATTER = (
    "good morning everyone", "what a game last night", "coffee first then emails", "happy friday",
    "traffic is terrible today", "new blog post is up", "cannot believe it is already december",
    "lunch with the team", "rainy day in the city", "weekend plans anyone", "finally finished the book",
    "the keynote was great", "working from home today", "need more sleep", "my cat ignores me again",
    "thanks for all the birthday wishes", "pizza or tacos tonight", "meetings all day",
    "best conference so far this year", "first day at the new job", "security conference tickets on sale",
    "just booked flights for the summer", "new phone who dis", "our podcast episode is out now",
)


def _version(rng: random.Random, style: str) -> str:
    shape = rng.choice(VERSION_STYLES[style])
    return shape.format(a=rng.randint(1, 19), b=rng.randint(0, 12), c=rng.randint(0, 60),
                        d=rng.randint(10, 400), y=rng.choice(("2010", "2013", "2016", "2019")))


def _identifier(rng: random.Random) -> str:
    year = rng.randint(2014, 2019)
    yy = year % 100
    kind = rng.randrange(9)
    if kind < 4:  # CVE ids dominate, as in public feeds
        return f"cve-{year}-{rng.randint(1000, 19999)}"
    return (
        f"ms{yy}-{rng.randint(1, 120):03d}",
        f"apsb{yy}-{rng.randint(1, 40):02d}",
        f"dsa {rng.randint(3500, 4600)}-1",
        f"usn {rng.randint(3000, 4100)}-{rng.randint(1, 3)}",
        f"rhsa-{year}:{rng.randint(1000, 3999)}",
    )[kind - 4]


def _vulnerability(rng: random.Random) -> str:
    phrase = rng.choice(VULNERABILITIES)
    if rng.random() < 0.35:
        phrase += " " + rng.choice(VULNERABILITY_NOUNS)
    return phrase


def _fill(template: str, rng: random.Random, products: tuple[Product, ...]) -> tuple[list[str], list[str], set[str]]:
    """Fill one template: return its tokens, one IOB tag per token, and the case studies it names."""
    main, other = rng.choice(products), rng.choice(products)
    while other == main:
        other = rng.choice(products)
    if not main.org and "{org}" in template:
        main = rng.choice([p for p in products if p.org])
    slots = {
        "org": (main.org, "ORG"),
        "pro": (main.name, "PRO"),
        "pro2": (other.name, "PRO"),
        "ver": (_version(rng, main.versions), "VER"),
        "vul": (_vulnerability(rng), "VUL"),
        "vul2": (_vulnerability(rng), "VUL"),
        "id": (_identifier(rng), "ID"),
        "n": (str(rng.randint(2, 90)), ""),
    }
    tokens: list[str] = []
    tags: list[str] = []
    cases = set()
    for word in template.split():
        if word.startswith("{") and word.endswith("}"):
            key = word[1:-1]
            value, kind = slots[key]
            if key in ("org", "pro", "ver"):
                cases.add(main.case)
            elif key == "pro2":
                cases.add(other.case)
            words = value.split()
            tokens += words
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1) if kind else ["O"] * len(words)
        else:
            tokens.append(word)
            tags.append("O")
    return tokens, tags, cases


def _decorate(rng: random.Random, tokens: list[str], tags: list[str], words: tuple[str, ...]) -> None:
    """Add the retweet prefixes, hashtag words and link remnants that real tweets carry."""
    if rng.random() < 0.2:
        tokens[:0] = ["rt", rng.choice(HANDLES) + ":"]
        tags[:0] = ["O", "O"]
    elif rng.random() < 0.08:
        tokens[:0] = ["breaking:"]
        tags[:0] = ["O"]
    extra = rng.sample(words, rng.choice((0, 0, 1, 1, 2, 3)))
    tokens += extra
    tags += ["O"] * len(extra)
    if rng.random() < 0.06:  # a truncated link whose remnant survived cleaning
        tokens.append(rng.choice(("http", "https")))
        tags.append("O")
    if rng.random() < 0.1:
        tokens += ["via", rng.choice(HANDLES)]
        tags += ["O", "O"]


def make_rows(seed: int = DEFAULT_SEED, rows: int = DEFAULT_ROWS) -> list[tuple[str, int, str, str, str, str]]:
    """Build the sample rows: (clean_tweet, relevant, entities, A, B, C), in file order."""
    from tweetner.text import clean  # the repository's own cleaning defines the clean form

    rng = random.Random(seed)
    unique = rows - DUPLICATES
    labels = [1] * round(unique * RELEVANT_FRACTION)
    labels += [0] * (unique - len(labels))
    rng.shuffle(labels)
    out: list[tuple[str, int, str, str, str, str]] = []
    seen: set[str] = set()
    for relevant in labels:
        while True:  # draw until the text is new: the sample should be varied, not repetitive
            if relevant:
                tokens, tags, cases = _fill(rng.choice(RELEVANT_TEMPLATES), rng, CATALOGUE)
                _decorate(rng, tokens, tags, SECURITY_WORDS)
            elif rng.random() < 0.7:
                tokens, tags, cases = _fill(rng.choice(IRRELEVANT_TEMPLATES), rng, CATALOGUE)
                _decorate(rng, tokens, tags, CHATTER_WORDS + SECURITY_WORDS[:2])
            else:
                tokens = rng.choice(CHATTER).split()
                if rng.random() < 0.25:  # two short thoughts in one tweet
                    tokens += rng.choice(CHATTER).split()
                tags, cases = ["O"] * len(tokens), set()
                _decorate(rng, tokens, tags, CHATTER_WORDS)
            text = " ".join(tokens)
            if text not in seen and len(tokens) <= 30:
                break
        if not cases or rng.random() < 0.12:  # chatter matched some keyword; or a second one matched
            cases.add(rng.choice("ABC"))
        if clean(text) != text:
            raise AssertionError(f"template produced text outside the clean form: {text!r}")
        seen.add(text)
        entities = " ".join(tags) if relevant else ""
        out.append((text, relevant, entities, *("1" if c in cases else "0" for c in "ABC")))
    for _ in range(DUPLICATES):
        out.insert(rng.randrange(len(out) + 1), rng.choice(out))
    return out


def write_sample(path: Path, seed: int = DEFAULT_SEED, rows: int = DEFAULT_ROWS) -> int:
    """Write the sample CSV to ``path`` and return the number of rows written."""
    data = make_rows(seed, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("clean_tweet", "relevant", "entities", "A", "B", "C"))
        writer.writerows(data)
    return len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Write the synthetic sample data set (competition CSV format, made-up tweets) used by "
            "tweetner's tests and quick runs. The output depends only on --seed and --rows."
        )
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="number of rows (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.rows < 2 * DUPLICATES:
        print(f"error: --rows must be at least {2 * DUPLICATES}, got {args.rows}", file=sys.stderr)
        return 2
    count = write_sample(args.out, args.seed, args.rows)

    from tweetner.data import load_csv  # validate what was written with the project's own loader

    _, report = load_csv(args.out)
    print(f"wrote {count} rows to {args.out}")
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # run as a script from a checkout: make `tweetner` importable
    sys.exit(main())
