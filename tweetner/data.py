"""The competition CSV -> validated :class:`Example` objects, with a report of what was found.

File format (MLCS 2019): a header and one row per tweet with the columns

* ``clean_tweet``: the pre-processed tweet (see :mod:`tweetner.text`);
* ``relevant`` (the competition text calls it ``class``; both names are accepted): 0 or 1;
* ``entities``: for relevant rows one IOB tag per whitespace token, over :data:`TAG_TYPES`;
* ``A``, ``B``, ``C`` (optional, all three or none): 0/1 flags naming the case-study infrastructures
  the tweet concerns; at least one is set. A file without them is a single case study.

The reader uses the :mod:`csv` module rather than pandas so that every problem can be reported with
its exact physical line number, and every problem is a :class:`DataError` whose text is
``"path:line: problem"``; line 0 means the problem concerns the whole file (missing, empty).

Quirks of the real training file are handled deliberately and counted in :class:`LoadReport`:
tags on irrelevant rows are ignored, repeated texts are kept unless ``dedupe=True``, and an ``I-``
tag that does not continue an entity is reported and, with ``repair_iob=True``, turned into ``B-``.

Run ``python -m tweetner.data PATH`` to validate a file and print its summary.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

TAG_TYPES: tuple[str, ...] = ("ORG", "PRO", "VER", "VUL", "ID")
TAGS: tuple[str, ...] = (
    "O", "B-ORG", "I-ORG", "B-PRO", "I-PRO", "B-VER", "I-VER", "B-VUL", "I-VUL", "B-ID", "I-ID"
)
CASES: tuple[str, ...] = ("A", "B", "C")

TEXT_COLUMN = "clean_tweet"
LABEL_COLUMNS = ("relevant", "class")  # the file says "relevant", the competition text "class"
TAGS_COLUMN = "entities"

_KNOWN_TAGS = frozenset(TAGS)
_BOM = b"\xef\xbb\xbf"
_MAX_LISTED_LINES = 5  # bad-IOB lines named in the report
_MAX_LISTED_SKIPS = 10  # skipped-row messages printed by summary()


@dataclass(frozen=True)
class Example:
    """One tweet of the data set.

    Attributes:
        text: The clean tweet with single spaces (whitespace of the file normalised).
        relevant: 1 if the tweet concerns a security threat or measure, else 0.
        tags: One IOB tag from :data:`TAGS` per token, or ``None`` (irrelevant rows carry none).
        cases: The flagged case studies, a sub-tuple of :data:`CASES` in that order; ``()`` when the
            file has no A/B/C columns.
        line: 1-based physical line of the row in its CSV file (0 for examples made in code).
    """

    text: str
    relevant: int
    tags: tuple[str, ...] | None
    cases: tuple[str, ...]
    line: int

    def __post_init__(self) -> None:
        if self.relevant not in (0, 1):
            raise ValueError(f"relevant must be 0 or 1, got {self.relevant!r}")
        if self.tags is not None and len(self.tags) != len(self.text.split()):
            raise ValueError(f"{len(self.tags)} tags for {len(self.text.split())} tokens in {self.text!r}")

    @property
    def tokens(self) -> list[str]:
        """The words of :attr:`text` (``text.split()``), aligned with :attr:`tags`."""
        return self.text.split()


class DataError(ValueError):
    """A problem in a data file, located by path and line.

    Attributes:
        path: The file, as given by the caller.
        line: 1-based physical line; 0 when the problem concerns the whole file.
        problem: What is wrong, in one line.
    """

    def __init__(self, path: str | Path, line: int, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


@dataclass(frozen=True)
class CaseCounts:
    """Loaded examples of one case study (or of the whole file)."""

    rows: int
    relevant: int
    irrelevant: int


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_csv` read, kept and worked around.

    Counts of quirks (duplicates, ignored tags, bad IOB, repairs) cover every valid row of the file,
    whether or not ``dedupe`` later drops it, so that they describe the file itself; ``overall`` and
    ``per_case`` describe the examples returned.

    Attributes:
        path: The file read.
        total_rows: Data rows in the file (blank lines not counted).
        overall: Counts over the returned examples.
        has_cases: Whether the file has the A, B, C columns.
        per_case: Counts per case study (keys :data:`CASES`), empty without A, B, C columns. A tweet
            flagged for several case studies counts in each.
        multi_case: Returned examples flagged for more than one case study.
        duplicates: Valid rows whose text occurred on an earlier valid row.
        duplicates_dropped: Of those, rows dropped because ``dedupe=True``.
        label_conflicts: Duplicates whose label differs from the first occurrence (the first wins).
        flag_conflicts: Duplicates whose case-study flags differ from the first occurrence.
        ignored_tags: Irrelevant rows whose tags were ignored.
        bad_iob: Relevant rows with an ``I-`` tag that does not continue an entity of its type.
        bad_iob_lines: The first few of those rows' line numbers.
        repaired: Rows whose bad ``I-`` tags were turned into ``B-`` (``repair_iob=True``).
        skipped: Invalid rows skipped (``skip_invalid=True``).
        skipped_messages: One ``"path:line: problem"`` text per skipped row.
    """

    path: str
    total_rows: int
    overall: CaseCounts
    has_cases: bool
    per_case: dict[str, CaseCounts] = field(default_factory=dict)
    multi_case: int = 0
    duplicates: int = 0
    duplicates_dropped: int = 0
    label_conflicts: int = 0
    flag_conflicts: int = 0
    ignored_tags: int = 0
    bad_iob: int = 0
    bad_iob_lines: tuple[int, ...] = ()
    repaired: int = 0
    skipped: int = 0
    skipped_messages: tuple[str, ...] = ()

    def summary(self) -> str:
        """A readable multi-line account of the file, one topic per line."""
        o = self.overall
        lines = [
            f"{self.path}: {self.total_rows} rows, {o.rows} loaded "
            f"({o.relevant} relevant, {o.irrelevant} irrelevant)"
        ]
        if self.has_cases:
            for case, c in self.per_case.items():
                lines.append(f"  case study {case}: {c.rows} rows ({c.relevant} relevant, {c.irrelevant} irrelevant)")
            lines.append(f"  in more than one case study: {self.multi_case} rows")
        else:
            lines.append("  no A, B, C columns: one case study")
        dropped = (
            f"{self.duplicates_dropped} dropped" if self.duplicates_dropped else "kept (dedupe drops them)"
        )
        lines.append(
            f"duplicates (rows repeating an earlier text): {self.duplicates}, {dropped}; "
            f"label conflicts: {self.label_conflicts}; case flag conflicts: {self.flag_conflicts}"
        )
        lines.append(f"tags ignored on irrelevant rows: {self.ignored_tags}")
        iob = f"rows with bad IOB (an I- tag not continuing an entity): {self.bad_iob}"
        if self.bad_iob:
            shown = ", ".join(map(str, self.bad_iob_lines))
            more = ", ..." if self.bad_iob > len(self.bad_iob_lines) else ""
            fix = f"{self.repaired} repaired to B-" if self.repaired else "left as is (repair_iob turns them into B-)"
            iob += f" (lines {shown}{more}); {fix}"
        lines.append(iob)
        lines.append(f"invalid rows skipped: {self.skipped}")
        for message in self.skipped_messages[:_MAX_LISTED_SKIPS]:
            lines.append(f"  {message}")
        if self.skipped > _MAX_LISTED_SKIPS:
            lines.append(f"  ... and {self.skipped - _MAX_LISTED_SKIPS} more")
        return "\n".join(lines)


class _RowProblem(Exception):
    """A row-level problem; :func:`load_csv` adds path and line (or skips the row)."""


def sample_path() -> Path:
    """Path of the bundled synthetic sample (``tweetner/resources/sample.csv``).

    It is made-up data in the competition format (see ``tweetner/resources/README.md``), used by
    tests, examples and quick training runs; it is not competition data.
    """
    return Path(__file__).resolve().parent / "resources" / "sample.csv"


def has_cases(examples: Iterable[Example]) -> bool:
    """Whether the examples carry case-study flags (their file had A, B, C columns)."""
    return any(ex.cases for ex in examples)


def select_case(examples: Sequence[Example], case: str) -> list[Example]:
    """The examples flagged for one case study, in their original order.

    Args:
        examples: Examples loaded from a file with A, B, C columns.
        case: One of :data:`CASES`.

    Returns:
        The examples whose ``cases`` contain ``case`` (a tweet may belong to several).

    Raises:
        ValueError: If ``case`` is not in :data:`CASES`, or the examples carry no flags at all.
    """
    if case not in CASES:
        raise ValueError(f"unknown case study {case!r}, expected one of {', '.join(CASES)}")
    if not has_cases(examples):
        raise ValueError(
            f"cannot select case study {case}: the examples carry no case-study flags "
            "(their file has no A, B, C columns), so they form a single case study"
        )
    return [ex for ex in examples if case in ex.cases]


def iob_violations(tags: Sequence[str]) -> list[int]:
    """Positions of ``I-`` tags that do not continue an entity of the same type.

    An ``I-X`` is valid only right after ``B-X`` or ``I-X``; after ``O``, at the start, or after
    another type it is a violation.

    Args:
        tags: ``[n]`` IOB tags.

    Returns:
        The 0-based indices of the violating tags, ascending.
    """
    bad = []
    previous = "O"
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            bad.append(i)
        previous = tag
    return bad


def repair_iob_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Turn every ``I-`` tag that does not continue an entity into ``B-``, left to right.

    Args:
        tags: ``[n]`` IOB tags.

    Returns:
        ``[n]`` tags without violations, e.g. ``O I-PRO I-PRO`` -> ``O B-PRO I-PRO``.
    """
    fixed = list(tags)
    for i in iob_violations(fixed):
        # Fixing earlier tags cannot create or remove later violations: the type is unchanged.
        fixed[i] = "B-" + fixed[i][2:]
    return tuple(fixed)


def _read_text(path: Path) -> str:
    """Read the whole file as UTF-8 text without a BOM; file-level problems become DataError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, 0, "no such file") from None
    except IsADirectoryError:
        raise DataError(path, 0, "is a directory, expected a CSV file") from None
    except OSError as err:
        raise DataError(path, 0, f"cannot read file ({err.strerror})") from None
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    if not raw.strip():
        raise DataError(path, 0, "empty file")
    try:
        text, bad = raw.decode("utf-8"), -1
    except UnicodeDecodeError as err:
        text, bad = "", err.start
    # NUL is valid UTF-8, but no text file holds it: a NUL byte means a binary file. Whichever of
    # the two problems comes first is the one reported.
    nul = raw.find(b"\x00")
    if nul >= 0 and (bad < 0 or nul < bad):
        raise DataError(path, raw.count(b"\n", 0, nul) + 1, "not a UTF-8 text file (NUL byte)")
    if bad >= 0:
        raise DataError(path, raw.count(b"\n", 0, bad) + 1, f"not a UTF-8 text file (byte 0x{raw[bad]:02x})")
    return text


def _check_header(header: list[str]) -> tuple[dict[str, int], str]:
    """Validate the header; return column -> index and the name of the label column."""
    if len(header) == 1:
        for sep, name in (("\t", "tab"), (";", "semicolon")):
            if sep in header[0]:
                raise _RowProblem(f"file looks {name}-separated, expected commas")
    names = [h.strip() for h in header]
    known = {TEXT_COLUMN, TAGS_COLUMN, *LABEL_COLUMNS, *CASES}
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _RowProblem(f"duplicate column {name!r}")
        seen.add(name)
        if name not in known:
            raise _RowProblem(f"unexpected column {name!r}")
    for name in (TEXT_COLUMN, TAGS_COLUMN):
        if name not in seen:
            raise _RowProblem(f"missing column {name!r}")
    labels = [name for name in LABEL_COLUMNS if name in seen]
    if not labels:
        raise _RowProblem(f"missing column {LABEL_COLUMNS[0]!r} (or {LABEL_COLUMNS[1]!r})")
    if len(labels) > 1:
        raise _RowProblem(f"both {LABEL_COLUMNS[0]!r} and {LABEL_COLUMNS[1]!r} columns, expected one label column")
    flags = [c for c in CASES if c in seen]
    if flags and len(flags) < len(CASES):
        missing = ", ".join(repr(c) for c in CASES if c not in seen)
        raise _RowProblem(f"case study columns must be all of A, B, C or none: missing {missing}")
    return {name: i for i, name in enumerate(names)}, labels[0]


def _parse_row(
    fields: list[str], columns: dict[str, int], label_column: str, line: int
) -> tuple[Example, bool, list[int]]:
    """Validate one data row.

    Returns:
        The example (tags as in the file), whether tags on an irrelevant row were ignored, and the
        indices of IOB violations.

    Raises:
        _RowProblem: With the problem text.
    """
    if len(fields) != len(columns):
        hint = " (an unquoted comma in the text?)" if len(fields) > len(columns) else ""
        raise _RowProblem(f"expected {len(columns)} fields, got {len(fields)}{hint}")
    label_text = fields[columns[label_column]].strip()
    if label_text not in ("0", "1"):
        raise _RowProblem(f"label must be 0 or 1, got {label_text!r}")
    relevant = int(label_text)

    cases: tuple[str, ...] = ()
    if CASES[0] in columns:
        values = {c: fields[columns[c]].strip() for c in CASES}
        for c, value in values.items():
            if value not in ("0", "1"):
                raise _RowProblem(f"flag {c} must be 0 or 1, got {value!r}")
        cases = tuple(c for c in CASES if values[c] == "1")
        if not cases:
            raise _RowProblem("no case study flag set (A, B, C all 0)")

    tokens = fields[columns[TEXT_COLUMN]].split()
    text = " ".join(tokens)
    tag_field = fields[columns[TAGS_COLUMN]]
    if not relevant:
        return Example(text, 0, None, cases, line), bool(tag_field.strip()), []

    if not tokens:
        raise _RowProblem("empty clean_tweet on a relevant row (0 tokens)")
    tags = tuple(tag_field.split())
    if len(tags) != len(tokens):
        raise _RowProblem(f"{len(tags)} tags for {len(tokens)} tokens")
    for i, tag in enumerate(tags, start=1):
        if tag not in _KNOWN_TAGS:
            raise _RowProblem(f"unknown tag {tag!r} at token {i}")
    return Example(text, 1, tags, cases, line), False, iob_violations(tags)


def load_csv(
    path: str | Path, *, dedupe: bool = False, repair_iob: bool = False, skip_invalid: bool = False
) -> tuple[list[Example], LoadReport]:
    """Load and validate a competition CSV file.

    Args:
        path: The CSV file (UTF-8, optional BOM, LF or CRLF line ends, RFC 4180 quoting).
        dedupe: Keep only the first row of each text (texts compared after whitespace
            normalisation); later copies are dropped and counted, label conflicts too.
        repair_iob: Turn ``I-`` tags that do not continue an entity into ``B-``; otherwise they are
            only counted.
        skip_invalid: Skip invalid rows (counted, with their messages) instead of raising. Problems
            with the file as a whole (header, encoding, CSV syntax) still raise.

    Returns:
        ``(examples, report)``: the examples in file order and a :class:`LoadReport`.

    Raises:
        DataError: ``"path:line: problem"`` for the first problem found.
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)

    examples: list[Example] = []
    first_of: dict[str, Example] = {}
    counts = dict(total=0, duplicates=0, dropped=0, label_conflicts=0, flag_conflicts=0, ignored=0,
                  bad_iob=0, repaired=0)
    bad_lines: list[int] = []
    skipped: list[str] = []
    columns: dict[str, int] | None = None
    label_column = ""
    header_line = 0
    end_of_previous = 0  # reader.line_num after the previous record: a record starts one line later
    while True:
        start = end_of_previous + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise DataError(path, start, f"malformed CSV ({err})") from None
        end_of_previous = reader.line_num
        if not fields:  # a blank line
            continue
        if columns is None:
            try:
                columns, label_column = _check_header(fields)
            except _RowProblem as problem:
                raise DataError(path, start, str(problem)) from None
            header_line = start
            continue

        counts["total"] += 1
        try:
            example, ignored, violations = _parse_row(fields, columns, label_column, start)
        except _RowProblem as problem:
            error = DataError(path, start, str(problem))
            if not skip_invalid:
                raise error from None
            skipped.append(str(error))
            continue

        counts["ignored"] += ignored
        if violations:
            counts["bad_iob"] += 1
            if len(bad_lines) < _MAX_LISTED_LINES:
                bad_lines.append(start)
            if repair_iob:
                example = Example(example.text, 1, repair_iob_tags(example.tags), example.cases, start)
                counts["repaired"] += 1

        first = first_of.setdefault(example.text, example)
        if first is not example:
            counts["duplicates"] += 1
            counts["label_conflicts"] += first.relevant != example.relevant
            counts["flag_conflicts"] += first.cases != example.cases
            if dedupe:
                counts["dropped"] += 1
                continue
        examples.append(example)

    if columns is None:  # only blank lines; _read_text already rejects empty files
        raise DataError(path, 0, "empty file")
    if counts["total"] == 0:
        raise DataError(path, header_line + 1, "no data rows after the header")

    flagged = CASES[0] in columns
    report = LoadReport(
        path=str(path),
        total_rows=counts["total"],
        overall=_count(examples),
        has_cases=flagged,
        per_case={c: _count(ex for ex in examples if c in ex.cases) for c in CASES} if flagged else {},
        multi_case=sum(len(ex.cases) > 1 for ex in examples),
        duplicates=counts["duplicates"],
        duplicates_dropped=counts["dropped"],
        label_conflicts=counts["label_conflicts"],
        flag_conflicts=counts["flag_conflicts"],
        ignored_tags=counts["ignored"],
        bad_iob=counts["bad_iob"],
        bad_iob_lines=tuple(bad_lines),
        repaired=counts["repaired"],
        skipped=len(skipped),
        skipped_messages=tuple(skipped),
    )
    return examples, report


def _count(examples: Iterable[Example]) -> CaseCounts:
    relevant = irrelevant = 0
    for ex in examples:
        if ex.relevant:
            relevant += 1
        else:
            irrelevant += 1
    return CaseCounts(rows=relevant + irrelevant, relevant=relevant, irrelevant=irrelevant)


def main(argv: Sequence[str] | None = None) -> int:
    """Validate a competition CSV file and print its summary.

    Returns:
        0 on success; 2 when the file is invalid (one ``error: path:line: problem`` line on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="python -m tweetner.data",
        description=(
            "Check a competition CSV file (columns clean_tweet, relevant or class, entities and "
            "optionally A, B, C) and print what it contains: rows, relevant/irrelevant counts per "
            "case study, duplicates, tags on irrelevant rows, broken IOB sequences. The first problem "
            "is reported as 'error: path:line: problem' and the exit code is 2."
        ),
    )
    parser.add_argument("path", help="the CSV file to check")
    parser.add_argument("--dedupe", action="store_true", help="keep only the first row of each repeated text")
    parser.add_argument(
        "--repair-iob", action="store_true", help="turn I- tags that do not continue an entity into B- tags"
    )
    parser.add_argument(
        "--skip-invalid", action="store_true", help="skip invalid rows and list them instead of stopping at the first"
    )
    args = parser.parse_args(argv)
    try:
        _, report = load_csv(
            args.path, dedupe=args.dedupe, repair_iob=args.repair_iob, skip_invalid=args.skip_invalid
        )
    except DataError as err:
        # One line whatever the problem text holds, so scripts can grep it.
        print("error: " + " ".join(str(err).splitlines()), file=sys.stderr)
        return 2
    # The summary names the file; a path that is not valid UTF-8 must not crash a strict UTF-8 stdout.
    sys.stdout.write(report.summary().encode(sys.stdout.encoding or "utf-8", "backslashreplace")
                     .decode(sys.stdout.encoding or "utf-8") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
