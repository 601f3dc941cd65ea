"""The HTML report: escaping of hostile data first, then the matrix, the grouping by root cause, the absence of
any external reference and the determinism, read from the page with ``html.parser``; then the page in a real
headless Chromium (Debian's package), with and without JavaScript, and its screenshot.

The README's picture (``docs/html-report.png``) is this file's screenshot of the representative report
(``drift.py``); it is rewritten only when asked: ``ENVCHECK_UPDATE_DOCS=1 pytest tests/report/test_html.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from envcheck import lockfile
from envcheck.findings import AVAILABILITY, OBSERVED, PREDICTION, Finding, Report, Severity
from envcheck.report import HtmlReporter, reporter_for
from envcheck.report.html import root_groups
from envcheck.report.html_assets import BAND_COLOURS, SCRIPT, STYLE
from tests.report.browser import WINDOW, colours, dump_dom, read_png, screenshot, without_script
from tests.report.drift import H200_LOCK, drifted, drifted_report
from tests.report.page import Element, parse

ROOT = Path(__file__).resolve().parents[2]
DOCS_PNG = ROOT / "docs" / "html-report.png"


def _f(id: str, subject: str, p: int, i: int, **kw: str) -> Finding:
    fields: Dict[str, str] = {"expected": "1.0", "actual": "2.0", "message": f"{id} changed", "remedy": "fix it"}
    fields.update(kw)
    return Finding(id, "packages", subject, risks=(AVAILABILITY,), probability=p, impact=i, **fields)


HOSTILE = "<script>alert(1)</script>"
HOSTILE_ATTR = "\"'><img src=x onerror=alert(2)>"


def _hostile_report() -> Report:
    finding = Finding(
        "env.numerics",
        "env",
        HOSTILE,
        expected=HOSTILE_ATTR,
        actual="</style><style>body{background:url(https://evil.example/x)}</style>",
        risks=(PREDICTION,),
        probability=4,
        impact=5,
        message="now <iframe src=//evil.example></iframe>\n::error title=forged::owned",
        remedy="javascript:alert(3) & <a href=https://evil.example>click</a>",
        cause="",
    )
    follower = dataclasses.replace(finding, id="x<b>", subject="y", cause="<b>bold</b>", probability=1, impact=1)
    return Report(
        findings=(finding, follower),
        skipped={"gpu<svg onload=alert(4)>": "<object data=x>"},
        expected_name="<base href=https://evil.example/>",
        actual_name="python:/tmp/<script>",
        evidence=("--import ran <embed src=x>",),
    )


@pytest.fixture(scope="module")
def drift() -> Report:
    return drifted_report()


@pytest.fixture(scope="module")
def drift_page(drift: Report) -> Element:
    return parse(HtmlReporter().render(drift))


def _cells(page: Element) -> Dict[Tuple[int, int], Element]:
    cells = page.by_id("matrix").find_all("td")
    out = {}
    for td in cells:
        p, i = map(int, td.get("data-cell").split("-"))
        out[p, i] = td
    return out


# --- hostile input comes out inert -----------------------------------------------------------------------------


def test_hostile_strings_are_text_not_markup() -> None:
    text = HtmlReporter().render(_hostile_report())
    page = parse(text)
    tags = Counter(e.tag for e in page.iter())
    # Only the page's own script and style, and none of what the data tried to add.
    assert tags["script"] == 1 and tags["style"] == 1
    assert not {"img", "iframe", "object", "embed", "svg", "base", "link"} & set(tags)
    assert {e.text() for e in page.find_all("b")} == {"fix:"}  # the page's own bold, never the data's
    assert [e.text() for e in page.find_all("script")] == [SCRIPT]
    assert [e.text() for e in page.find_all("style")] == [STYLE]
    assert not [(e.tag, k) for e in page.iter() for k in e.attrs if k.startswith("on")]
    # The data is all there, as text.
    article = page.find_all("article")[0]
    assert HOSTILE in article.text() and HOSTILE_ATTR in article.text()
    assert "</style><style>" in article.text() and "javascript:alert(3)" in article.text()
    assert "python:/tmp/<script>" in page.by_id("actual-name").text()
    assert "<base href=https://evil.example/>" in page.by_id("expected-name").text()
    assert "gpu<svg onload=alert(4)>: <object data=x>" in page.by_id("skipped").text()
    assert "--import ran <embed src=x>" in page.by_id("evidence").text()
    assert page.find_all("a", lambda a: "<b>bold</b>" in a.text()) == []  # the cause named no finding: a headline


def test_a_newline_in_the_data_cannot_start_a_line_of_the_file() -> None:
    text = HtmlReporter().render(_hostile_report())
    assert not any(line.lstrip().startswith("::error") for line in text.split("\n"))
    assert all(line.isprintable() for line in text.split("\n"))
    message = parse(text).find_all("p", lambda p: "message" in p.classes)[0]
    assert message.text() == "now <iframe src=//evil.example></iframe>\n::error title=forged::owned"


def test_control_characters_are_shown_escaped() -> None:
    report = Report(findings=(_f("package.version.major", "evil\x1b[2Jname\udcff", 3, 3),))
    text = HtmlReporter().render(report)
    text.encode("utf-8")  # a lone surrogate would make the page unwritable
    assert "\x1b" not in text
    assert "evil\\x1b[2Jname\\udcff" in parse(text).find_all("article")[0].text()


# --- the matrix ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["drift", "hostile", "empty"])
def test_each_cell_counts_the_findings_at_its_probability_and_impact(which: str, drift: Report) -> None:
    report = {"drift": drift, "hostile": _hostile_report(), "empty": Report()}[which]
    page = parse(HtmlReporter().render(report))
    expected = Counter((f.probability, f.impact) for f in report.findings)
    cells = _cells(page)
    assert sorted(cells) == [(p, i) for p in range(1, 6) for i in range(1, 6)]
    rows = [int(tr.find_all("th")[0].text()) for tr in page.by_id("matrix").find_all("tbody")[0].find_all("tr")]
    assert rows == [5, 4, 3, 2, 1]
    for (p, i), td in cells.items():
        n = expected[p, i]
        band = Severity.from_score(p * i).label
        assert td.get("data-count") == str(n)
        assert f"band-{band}" in td.classes and band in td.text() and band in td.get("title")
        links = td.find_all("a")
        if n:
            assert td.find_all("span", lambda s: "n" in s.classes)[0].text() == str(n)
            assert [a.get("href") for a in links] == [f"#cell-{p}-{i}"]
            target = page.by_id(f"cell-{p}-{i}")  # the no-script click target lists the cell's findings
            listed = [a.get("href")[1:] for a in target.find_all("a")]
            assert len(listed) == n
            assert all(page.by_id(ident).get("data-cell") == f"{p}-{i}" for ident in listed)
        else:
            assert links == []
            assert not page.find_all(where=lambda e, key=f"cell-{p}-{i}": e.get("id") == key)


def test_every_finding_is_on_the_page_once_with_what_it_says(drift: Report) -> None:
    page = parse(HtmlReporter().render(drift))
    articles = page.find_all("article")
    assert len(articles) == len(drift.findings)
    assert len({a.get("id") for a in articles}) == len(articles)
    found = Counter(
        (a.get("data-rule"), a.find_all("span", lambda s: "subject" in s.classes)[0].text()) for a in articles
    )
    assert found == Counter((f.id, f.subject) for f in drift.findings)
    python = next(a for a in articles if a.get("data-rule") == "python.version.minor")
    text = python.text()
    for part in ("high", "16 = 4\u00d74", "availability", "3.12.3 \u2192 3.13.1", "python.version.minor", "fix:"):
        assert part in text, part


def test_an_observed_finding_carries_its_tag_and_a_guess_none() -> None:
    report = Report(findings=(_f("a.rule", "seen", 3, 3, evidence=OBSERVED), _f("b.rule", "guessed", 3, 3)))
    page = parse(HtmlReporter().render(report))
    tags = {
        a.get("data-rule"): [t.text() for t in a.find_all("span", lambda s: "tag" in s.classes)]
        for a in page.find_all("article")
    }
    assert tags == {"a.rule": ["[observed]"], "b.rule": []}


# --- grouping by root cause ------------------------------------------------------------------------------------


def test_consequences_are_filed_under_their_root_cause(drift: Report) -> None:
    page = parse(HtmlReporter().render(drift))
    groups = page.find_all("li", lambda e: "group" in e.classes)
    by_root = {}
    for group in groups:
        root = group.find_all("article")[0]
        follow = [a for a in group.find_all("article")[1:]]
        by_root[root.get("data-rule"), root.get("id")] = follow
    follows = [(rule, ident, f) for (rule, ident), fs in by_root.items() for f in fs]
    caused = [f for f in drift.findings if f.cause]
    assert caused and len(follows) == len(caused)
    for rule, ident, article in follows:
        cause = article.find_all("p", lambda p: "follows" in p.classes)[0]
        assert cause.find_all("a")[0].get("href") == f"#{ident}"
        assert cause.text() == f"follows from {rule}"
    python = next(fs for (rule, _), fs in by_root.items() if rule == "python.version.minor")
    assert {a.get("data-rule") for a in python} == {"package.build"} and len(python) >= 40
    summary = page.find_all("summary")[0].text()
    assert summary == f"{len(python)} findings follow from this (package.build)"


def test_root_groups_order_and_ties() -> None:
    digest_a = _f("model.digest", "a.pt", 5, 5)
    digest_b = _f("model.digest", "b.pt", 5, 5)
    load_b = _f("evidence.load.failed", "b.pt", 5, 4, cause="model.digest")
    orphan = _f("package.build", "numpy", 3, 3, cause="python.version.minor")
    report = Report(findings=(orphan, load_b, digest_b, digest_a))
    groups = root_groups(report)
    # Report order; the load failure under the digest on its own subject; a cause not in the report: a headline.
    assert [(r.subject, [f.subject for f in fs]) for r, fs in groups] == [
        ("a.pt", []),
        ("b.pt", ["b.pt"]),
        ("numpy", []),
    ]


# --- self-contained and deterministic ----------------------------------------------------------------------------

_REFERENCES = ("href", "src", "srcset", "action", "formaction", "data", "poster", "background", "xlink:href")


@pytest.mark.parametrize("which", ["drift", "hostile"])
def test_no_external_reference(which: str, drift: Report) -> None:
    report = drift if which == "drift" else _hostile_report()
    text = HtmlReporter().render(report)
    page = parse(text)
    ids = {e.get("id") for e in page.iter() if e.get("id")}
    for element in page.iter():
        for name in _REFERENCES:
            if name in element.attrs:
                value = element.get(name)
                assert value.startswith("#") and value[1:] in ids, (element.tag, name, value)
    style = page.find_all("style")[0].text()
    assert "url(" not in style and "@import" not in style and "//" not in style
    assert "http" not in SCRIPT and "//" not in SCRIPT.replace("://", "") and "import" not in SCRIPT
    policy = page.find_all("meta", lambda m: m.get("http-equiv") == "Content-Security-Policy")[0].get("content")
    assert policy.startswith("default-src 'none';")


def test_the_policy_admits_exactly_the_page_s_own_script_and_style() -> None:
    page = parse(HtmlReporter().render(Report()))
    policy = page.find_all("meta", lambda m: m.get("http-equiv") == "Content-Security-Policy")[0].get("content")

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert f"script-src {digest(page.find_all('script')[0].text())};" in policy
    assert f"style-src {digest(page.find_all('style')[0].text())};" in policy


def test_same_report_same_bytes_across_processes(drift: Report, tmp_path: Path) -> None:
    # Another interpreter, another hash seed, the report built again from the files: the same bytes.
    code = (
        "import hashlib, sys; sys.path.insert(0, sys.argv[1]);"
        "from tests.report.drift import drifted_report; from envcheck.report import HtmlReporter;"
        "print(hashlib.sha256(HtmlReporter().render(drifted_report()).encode()).hexdigest())"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr
        digests.add(done.stdout.strip())
    here = hashlib.sha256(HtmlReporter().render(drift).encode()).hexdigest()
    assert digests == {here}


def test_no_drift_page_says_so() -> None:
    page = parse(HtmlReporter().render(Report(expected_name="a.lock", actual_name="local")))
    assert page.by_id("status").text() == "passed: no drift found"
    assert page.by_id("no-drift").text().startswith("No drift")
    assert all(td.get("data-count") == "0" for td in _cells(page).values())


# --- registered: --format html and -o -------------------------------------------------------------------------


def test_check_and_diff_write_html(tmp_path: Path) -> None:
    assert isinstance(reporter_for("html"), HtmlReporter)
    candidate = tmp_path / "candidate.lock"
    lockfile.write(drifted(lockfile.read(H200_LOCK)), candidate)
    out = tmp_path / "report.html"
    args = [sys.executable, "-m", "envcheck", "diff", str(H200_LOCK), str(candidate), "--format", "html"]
    done = subprocess.run([*args, "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # critical and high findings fail at the default threshold
    page = parse(out.read_text(encoding="utf-8"))
    assert page.by_id("status").text().startswith("failed:")
    assert sum(int(td.get("data-count")) for td in _cells(page).values()) == len(page.find_all("article")) > 40
    piped = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert piped.stdout == out.read_text(encoding="utf-8")


# --- in a real headless Chromium ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drift_file(drift: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(HtmlReporter().render(drift), encoding="utf-8")
    return path


def _visible_rules(dom: Element) -> List[str]:
    def shown(e: Element) -> bool:
        return "hidden" not in e.attrs and not any("hidden" in a.attrs for a in e.ancestors())

    return [a.get("id") for a in dom.find_all("article") if shown(a)]


@pytest.mark.chromium
def test_chromium_runs_the_script_and_a_cell_filters_the_list(
    drift: Report, drift_file: Path, tmp_path: Path
) -> None:
    dom = parse(dump_dom(drift_file, profile=tmp_path / "profile"))
    assert dom.find_all("html")[0].get("data-js") == "on"  # the policy let the page's own script run
    assert len(_visible_rules(dom)) == len(drift.findings)
    assert "hidden" in dom.by_id("filter").attrs
    # A click on a cell is a link to #cell-P-I; opened at that address, the script filters as a click does.
    (p, i), n = Counter((f.probability, f.impact) for f in drift.findings).most_common(1)[0]
    dom = parse(dump_dom(drift_file, profile=tmp_path / "profile", fragment=f"cell-{p}-{i}"))
    shown = _visible_rules(dom)
    assert len(shown) == n
    assert {dom.by_id(ident).get("data-cell") for ident in shown} == {f"{p}-{i}"}
    assert dom.by_id("filter-label").text() == f"{n} findings at probability {p} \u00d7 impact {i}."
    assert "selected" in _cells(dom)[p, i].classes


@pytest.mark.chromium
def test_chromium_without_javascript_shows_every_finding(drift: Report, drift_file: Path, tmp_path: Path) -> None:
    page = without_script(drift_file, tmp_path / "no-script.html")
    dom = parse(dump_dom(page, profile=tmp_path / "profile", fragment="cell-3-3"))
    assert "data-js" not in dom.find_all("html")[0].attrs  # the script did not run
    assert len(_visible_rules(dom)) == len(drift.findings)
    cells = _cells(dom)
    expected = Counter((f.probability, f.impact) for f in drift.findings)
    assert {k: int(td.get("data-count")) for k, td in cells.items() if td.get("data-count") != "0"} == dict(
        expected
    )
    for p, i in expected:
        assert dom.by_id(f"cell-{p}-{i}").find_all("a")


@pytest.mark.chromium
def test_chromium_screenshot_shows_the_coloured_matrix(drift_file: Path, tmp_path: Path) -> None:
    png = screenshot(drift_file, tmp_path / "report.png", profile=tmp_path / "profile")
    assert png.stat().st_size > 30_000
    width, height, rows = read_png(png)
    assert (width, height) == WINDOW
    seen = colours(rows)
    # Every band's colour fills at least its cells (a cell is about 96 x 62 pixels; low has ten of them).
    for band, colour in BAND_COLOURS.items():
        assert seen[colour] > 5_000, (band, colour, seen[colour])
    assert seen["#ffffff"] < 0.95 * width * height  # not a blank page
    if os.environ.get("ENVCHECK_UPDATE_DOCS") == "1":
        DOCS_PNG.parent.mkdir(exist_ok=True)
        DOCS_PNG.write_bytes(png.read_bytes())
    assert DOCS_PNG.is_file() and DOCS_PNG.stat().st_size < 300_000, "docs/html-report.png: ENVCHECK_UPDATE_DOCS=1"


def test_both_sides_are_summarised_and_escaped(drift: Report) -> None:
    """The environment of each side, from the fingerprints compare() saw: the lockfile's Python and the drifted
    candidate's, side by side; a hostile value in a summary is text."""
    page = parse(HtmlReporter().render(drift))
    rows = [[cell.text() for cell in row.find_all("td")] for row in page.by_id("sides").find_all("tr")[1:]]
    python = next(row for row in rows if row[0].startswith("python"))
    assert "3.12.3" in python[0] and "3.13.1" in python[1]
    assert any(row[0].startswith("packages") for row in rows)
    hostile = dataclasses.replace(drift, sides=(("os <script>alert(1)</script>",), ()))
    page = parse(HtmlReporter().render(hostile))
    assert page.by_id("sides").find_all("td")[0].text() == "os <script>alert(1)</script>"
    assert len(page.find_all("script")) == 1
    assert 'id="sides"' not in HtmlReporter().render(Report())  # no fingerprints compared: no table
