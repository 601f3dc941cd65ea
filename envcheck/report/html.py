"""The HTML report: one self-contained page with the 5x5 risk matrix as a picture, for a person to open and click.

The page is one file with its style and a small script inline, and no URL in it: it opens from a disk, a CI
artifact or a mail, offline. Its parts, in order:

- a heading that says passed or failed, and the environment summary of both sides (the names the report compares,
  the threshold, the components left out and why, what the opt-in checks ran);
- the matrix: a table with impact 1..5 across and probability 5..1 down, each cell coloured by its band (and
  naming it), holding the count of findings at that probability and impact. A non-empty cell is a link to
  ``#cell-P-I``, a list of its findings further down, so the page works with JavaScript off; with it on, a click
  filters the findings list to that cell instead;
- the findings by severity, each root cause with the findings that follow from it filed under it (``cause``);
- the findings by matrix cell.

Everything taken from the report is escaped: a lockfile and a candidate are somebody else's, and a package named
``<script>`` must come out as text. Control characters are shown as their escapes first (``escape.printable``).
The same report gives the same bytes: nothing in the page depends on time, locale or a dict's whims.
"""

from __future__ import annotations

import html
from typing import Dict, List, Sequence, Tuple

from envcheck.findings import Finding, Report, Severity
from envcheck.report.escape import printable
from envcheck.report.html_assets import CONTENT_SECURITY_POLICY, SCRIPT, STYLE
from envcheck.report.interface import (
    SEVERITIES_DOWN,
    Reporter,
    evidence_summary,
    evidence_tag,
    names,
    ordered,
    plural,
    risk_matrix,
    threshold_label,
)

_EMPTY = "\u00b7"
"""What an empty matrix cell shows instead of 0: the eye goes to the cells that hold something."""

Group = Tuple[Finding, List[Finding]]
"""A headline finding and the findings that follow from it (empty when none do)."""


def _e(text: str) -> str:
    """Report data as HTML text or an attribute value: control characters as their escapes, ``& < > " '`` as
    entities, and a line break as ``&#10;``: the page still shows it (the style keeps breaks in messages), but the
    file's own lines stay envcheck's, so a page printed into a CI log cannot forge a line of it."""
    text = printable(text, keep="\r\n").replace("\r\n", "\n").replace("\r", "\n")
    return html.escape(text, quote=True).replace("\n", "&#10;")


def cell_id(probability: int, impact: int) -> str:
    """``P-I``: the key of a matrix cell in ``data-cell`` and in the anchor ``#cell-P-I``."""
    return f"{probability}-{impact}"


def root_groups(report: Report) -> List[Group]:
    """The findings as headlines in report order, each with the findings that follow from it.

    A finding whose ``cause`` names a headline's rule is filed under that headline (under the one on the same
    subject when several findings have that rule: each model file's digest explains its own load failure). One
    whose cause names no headline in the report stands as a headline itself, so no finding is ever left out.
    """
    findings = ordered(report)
    return [(findings[i], [findings[j] for j in follow]) for i, follow in _group_positions(findings)]


def _group_positions(findings: Sequence[Finding]) -> List[Tuple[int, List[int]]]:
    """``root_groups`` by position in ``findings``: equal findings stay two entries."""
    roots: Dict[str, List[int]] = {}
    for index, finding in enumerate(findings):
        if not finding.cause:
            roots.setdefault(finding.id, []).append(index)
    under: Dict[int, List[int]] = {}
    headlines: List[int] = []
    for index, finding in enumerate(findings):
        candidates = roots.get(finding.cause, []) if finding.cause else []
        if not candidates:
            headlines.append(index)
            continue
        same = [i for i in candidates if findings[i].subject == finding.subject]
        under.setdefault((same or candidates)[0], []).append(index)
    return [(i, under.get(i, [])) for i in headlines]


class HtmlReporter(Reporter):
    """Renders one self-contained HTML page."""

    name = "html"

    def render(self, report: Report) -> str:
        """Return the whole document."""
        findings = ordered(report)
        groups = _group_positions(findings)
        anchors = _anchors(groups)
        status, failed = _status(report)
        expected, actual = names(report)
        title = f"envcheck: {actual} compared with {expected}"
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_e(CONTENT_SECURITY_POLICY)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="envcheck">',
            f"<title>{_e(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            "<header>",
            f"<h1>{_e(title)}</h1>",
            f'<p class="status {"failed" if failed else "passed"}" id="status">{_e(status)}</p>',
            "</header>",
            '<div class="top">',
            *_environment(report),
            *_matrix(report),
            "</div>",
            *_findings(findings, groups, anchors),
            *_cells(findings, anchors),
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
        ]
        return "\n".join(parts)


def _anchors(groups: Sequence[Tuple[int, List[int]]]) -> Dict[int, str]:
    """Each finding's anchor, by its position in report order: ``f-1``, ``f-2``... in page order."""
    out: Dict[int, str] = {}
    for root, follow in groups:
        for position in (root, *follow):
            out[position] = f"f-{len(out) + 1}"
    return out


def _status(report: Report) -> Tuple[str, bool]:
    """The verdict line, and whether it is a failure."""
    total = plural(len(report.findings), "finding")
    if not report.findings:
        return "passed: no drift found", False
    if report.fail_on is None:
        return f"passed: {total} (fail on never)", False
    failing = len(report.failing())
    threshold = report.fail_on.label
    if failing:
        return f"failed: {failing} of {total} at or above {threshold}", True
    return f"passed: {total}, none at or above {threshold}", False


def _environment(report: Report) -> List[str]:
    expected, actual = names(report)
    counts = report.counts()
    out = [
        '<section class="env" id="environment">',
        "<h2>Environment</h2>",
        "<dl>",
        f'<dt>expected</dt><dd class="mono" id="expected-name">{_e(expected)}</dd>',
        f'<dt>candidate</dt><dd class="mono" id="actual-name">{_e(actual)}</dd>',
        f"<dt>fail on</dt><dd>{_e(threshold_label(report))}</dd>",
        "<dt>not compared</dt>",
    ]
    if report.skipped:
        items = [f'<li><span class="mono">{_e(c)}</span>: {_e(why)}</li>' for c, why in report.skipped.items()]
        out += ['<dd><ul id="skipped">', *items, "</ul></dd>"]
    else:
        out.append("<dd>nothing: every component was compared</dd>")
    out.append("<dt>checks run</dt>")
    if report.evidence:
        out += ['<dd><ul id="evidence">', *(f"<li>{_e(line)}</li>" for line in report.evidence), "</ul></dd>"]
    else:
        out.append("<dd>none: findings rest on metadata</dd>")
    out.append("</dl>")
    if any(report.sides):
        out += ['<table class="sides" id="sides">', "<tr><th>lockfile</th><th>candidate</th></tr>"]
        left, right = report.sides
        for index in range(max(len(left), len(right))):
            cells = [side[index] if index < len(side) else "" for side in (left, right)]
            out.append("<tr>" + "".join(f'<td class="mono">{_e(cell)}</td>' for cell in cells) + "</tr>")
        out.append("</table>")
    chips = [f'<li class="band-{s.label}">{s.label} {counts[s.label]}</li>' for s in SEVERITIES_DOWN]
    out += ['<ul class="counts" id="counts">', *chips, f"<li>total {len(report.findings)}</li>", "</ul>"]
    basis = evidence_summary(report)
    if basis:
        out.append(f'<p class="muted">Findings: {_e(basis)}.</p>')
    out.append("</section>")
    return out


def _matrix(report: Report) -> List[str]:
    header = "".join(f'<th scope="col">{i}</th>' for i in range(1, 6))
    out = [
        '<section class="grid" id="risk-matrix">',
        "<h2>Risk matrix</h2>",
        '<table class="matrix" id="matrix">',
        "<caption>Findings at each probability and impact; the colour and the word are the band of "
        "probability \u00d7 impact. Click a number to list its findings.</caption>",
        '<thead><tr><th class="axis">probability \u2193 impact \u2192</th>' + header + "</tr></thead>",
        "<tbody>",
    ]
    for probability, counts in risk_matrix(report):
        cells = [f'<th scope="row">{probability}</th>']
        for impact, n in enumerate(counts, start=1):
            cells.append(_cell(probability, impact, n))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>", '<ul class="legend" aria-label="bands">']
    ranges = {Severity.LOW: "1\u20134", Severity.MEDIUM: "5\u20139", Severity.HIGH: "10\u201316"}
    for severity in sorted(Severity):
        span = ranges.get(severity, "20\u201325")
        out.append(f'<li class="band-{severity.label}">{severity.label} {span}</li>')
    out += ["</ul>", "</section>"]
    return out


def _cell(probability: int, impact: int, n: int) -> str:
    score = probability * impact
    band = Severity.from_score(score).label
    key = cell_id(probability, impact)
    what = plural(n, "finding") if n else "no findings"
    title = f"probability {probability} \u00d7 impact {impact} = {score}, {band}: {what}"
    attrs = f'class="band-{band} {"full" if n else "empty"}" data-cell="{key}" data-count="{n}" title="{title}"'
    inner = f'<span class="n">{n or _EMPTY}</span><span class="b">{band}</span>'
    if not n:
        return f'<td {attrs}><span class="cell">{inner}</span></td>'
    return f'<td {attrs}><a href="#cell-{key}" data-cell="{key}">{inner}</a></td>'


def _findings(
    findings: Sequence[Finding], groups: Sequence[Tuple[int, List[int]]], anchors: Dict[int, str]
) -> List[str]:
    out = [
        '<section id="findings">',
        "<h2>Findings</h2>",
        '<p id="filter" hidden><span id="filter-label"></span> <a href="#findings" id="show-all">Show all</a></p>',
    ]
    if not groups:
        out.append('<p id="no-drift">No drift: the candidate matches what the lockfile recorded.</p>')
    for severity in SEVERITIES_DOWN:
        mine = [g for g in groups if findings[g[0]].severity is severity]
        if not mine:
            continue
        badge = f'<span class="badge band-{severity.label}">{severity.label}</span>'
        out += [f'<section class="severity" data-severity="{severity.label}">', f"<h3>{badge} {len(mine)}</h3>"]
        out.append('<ul class="groups">')
        for root, follow in mine:
            out += ['<li class="group">', _finding(findings[root], anchors[root], "")]
            if follow:
                rules = ", ".join(sorted({findings[j].id for j in follow}))
                verb = "follows" if len(follow) == 1 else "follow"
                items = [f"<li>{_finding(findings[j], anchors[j], anchors[root])}</li>" for j in follow]
                out += [
                    '<details class="consequences">',
                    f"<summary>{plural(len(follow), 'finding')} {verb} from this ({_e(rules)})</summary>",
                    "<ol>",
                    *items,
                    "</ol>",
                    "</details>",
                ]
            out.append("</li>")
        out += ["</ul>", "</section>"]
    out.append("</section>")
    return out


def _finding(finding: Finding, anchor: str, root_anchor: str) -> str:
    """One finding as an ``article``: its band, score, risks and evidence, what changed, why, and the fix; under a
    root cause, a link back to it."""
    band = finding.severity.label
    # A tag for what a check saw or answered; none for a guess, so a report of guesses alone keeps its plain look.
    tag = evidence_tag(finding)
    head = (
        f'<div class="head"><span class="badge band-{band}">{band}</span>'
        f'<span class="score" title="probability \u00d7 impact">{finding.score} = '
        f"{finding.probability}\u00d7{finding.impact}</span>"
        f'<span class="risks">{_e(", ".join(finding.risks))}</span>'
        + (f'<span class="tag">{_e(tag)}</span>' if tag else "")
        + f'<code class="rule">{_e(finding.id)}</code></div>'
    )
    subject = (
        f'<p><span class="subject">{_e(finding.subject)}</span> '
        f'<span class="component">{_e(finding.component)}</span></p>'
    )
    change = (
        f'<p class="change mono"><span class="was">{_e(finding.expected or "(none)")}</span> \u2192 '
        f'<span class="now">{_e(finding.actual or "(none)")}</span></p>'
    )
    body = [head, subject, change, f'<p class="message">{_e(finding.message)}</p>']
    body.append(f'<p class="remedy"><b>fix:</b> {_e(finding.remedy)}</p>')
    if root_anchor:
        body.append(f'<p class="follows">follows from <a href="#{root_anchor}">{_e(finding.cause)}</a></p>')
    key = cell_id(finding.probability, finding.impact)
    attrs = f'class="finding sev-{band}" id="{anchor}" data-cell="{key}" data-rule="{_e(finding.id)}"'
    return f"<article {attrs}>{''.join(body)}</article>"


def _cells(findings: Sequence[Finding], anchors: Dict[int, str]) -> List[str]:
    """The no-script path of a click: one list per non-empty cell, at ``#cell-P-I``, linking to each finding."""
    by_cell: Dict[str, List[int]] = {}
    for position, finding in enumerate(findings):
        by_cell.setdefault(cell_id(finding.probability, finding.impact), []).append(position)
    if not by_cell:
        return []
    out = ['<section id="by-cell">', "<h2>Findings by matrix cell</h2>", '<div class="cells">']
    for probability in range(5, 0, -1):
        for impact in range(5, 0, -1):
            key = cell_id(probability, impact)
            if key not in by_cell:
                continue
            found = by_cell[key]
            score = probability * impact
            band = Severity.from_score(score).label
            heading = (
                f'<span class="badge band-{band}">{band}</span> probability {probability} \u00d7 impact {impact}'
                f" = {score}: {plural(len(found), 'finding')}"
            )
            items = [
                f'<li><a href="#{anchors[i]}">{_e(findings[i].subject)}</a> <code>{_e(findings[i].id)}</code></li>'
                for i in found
            ]
            out += [f'<section id="cell-{key}" data-cell="{key}">', f"<h3>{heading}</h3>", "<ul>", *items]
            out += ["</ul>", "</section>"]
    out += ["</div>", "</section>"]
    return out
