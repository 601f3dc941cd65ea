"""The style sheet and the script of the HTML report, and the content security policy that admits only them.

Both are inlined in every report: the page is one file that opens from a disk, a CI artifact or a mail, and asks
nothing of a network. The policy names each by its SHA-256, so a browser runs this script and applies this style
and nothing else: were a hostile package name ever to slip through escaping, its ``<script>`` would not run and
its ``<img src=...>`` would load nothing.

Colours: ColorBrewer's YlOrRd sequence (light yellow to dark red), which stays ordered by lightness for every
kind of colour vision; each cell and badge also names its band in words.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Dict

from envcheck.findings import Severity

#: The background of each band (its text colour is in STYLE: dark on the light three, white on critical).
BAND_COLOURS: Dict[Severity, str] = {
    Severity.LOW: "#ffffb2",
    Severity.MEDIUM: "#fecc5c",
    Severity.HIGH: "#fd8d3c",
    Severity.CRITICAL: "#bd0026",
}

_BAND_VARIABLES = "".join(f"--{band.label}:{colour};" for band, colour in BAND_COLOURS.items())

STYLE = (
    """
:root{color-scheme:light;--ink:#1d1d1f;--muted:#5f6368;--line:#d9d9de;"""
    + _BAND_VARIABLES
    + """}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1140px;padding:24px 28px 48px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",\
Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;padding-bottom:4px;\
border-bottom:1px solid var(--line)}h3{font-size:16px;margin:18px 0 8px}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
.status{font-weight:600}.status.failed{color:#a50021}.status.passed{color:#1b7f3b}
.muted{color:var(--muted)}
.top{display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start}
.env{flex:1 1 300px;min-width:0}
.env dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}
.env dt{color:var(--muted)}.env dd{margin:0;overflow-wrap:anywhere}
.env ul{margin:4px 0 0;padding-left:20px}
.env table.sides{border-collapse:collapse;margin:10px 0 0;font-size:12px;width:100%}
.env table.sides th{text-align:left;color:var(--muted);font-weight:normal}
.env table.sides td{padding:2px 8px 2px 0;vertical-align:top;overflow-wrap:anywhere}
.env ul.counts{display:flex;gap:8px;flex-wrap:wrap;margin:10px 0 0;padding:0;list-style:none}
.band-low{background:var(--low);color:#3a3300}.band-medium{background:var(--medium);color:#3d2600}
.band-high{background:var(--high);color:#2b1000}.band-critical{background:var(--critical);color:#fff}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;\
border:1px solid rgba(0,0,0,.25);text-transform:uppercase;letter-spacing:.03em}
.counts li{padding:3px 10px;border-radius:6px;border:1px solid rgba(0,0,0,.2);font-weight:600}
.grid{flex:0 0 auto}
table.matrix{border-collapse:separate;border-spacing:4px}
.matrix caption{caption-side:bottom;text-align:left;font-size:12px;color:var(--muted);padding-top:4px;\
max-width:560px}
.matrix th{font-weight:600;color:var(--muted);font-size:13px;padding:2px 6px}
.matrix .axis{font-size:12px;text-align:left}
.matrix td{width:96px;height:62px;padding:0;text-align:center;vertical-align:middle;border-radius:6px;\
border:1px solid rgba(0,0,0,.12)}
.matrix td a,.matrix td span.cell{display:flex;flex-direction:column;justify-content:center;height:100%;\
color:inherit;text-decoration:none;border-radius:6px}
.matrix .n{font-size:22px;font-weight:700;line-height:1.1}
.matrix .b{font-size:11px;text-transform:uppercase;letter-spacing:.04em;opacity:.85}
.matrix td.empty .n{opacity:.35;font-weight:400}
.matrix td.full{border:2px solid #1d1d1f;box-shadow:0 1px 3px rgba(0,0,0,.3)}
.matrix td a:hover,.matrix td a:focus,.matrix td.selected a{outline:3px solid #1a56db;outline-offset:1px}
.legend{display:flex;gap:6px;flex-wrap:wrap;margin:6px 0 0 4px;padding:0;list-style:none;font-size:12px}
.legend li{padding:2px 8px;border-radius:4px;border:1px solid rgba(0,0,0,.2)}
#filter{background:#eef3fd;border:1px solid #b7c9f2;border-radius:6px;padding:6px 10px}
.severity h3{display:flex;gap:8px;align-items:center}
.groups{list-style:none;margin:0;padding:0}
.group{margin:0 0 12px}
.finding{border:1px solid var(--line);border-left:6px solid var(--line);border-radius:6px;padding:8px 12px;\
background:#fff}
.finding.sev-low{border-left-color:#c9c34a}.finding.sev-medium{border-left-color:var(--medium)}
.finding.sev-high{border-left-color:var(--high)}.finding.sev-critical{border-left-color:var(--critical)}
.finding:target{box-shadow:0 0 0 3px #1a56db}
.finding .head{display:flex;gap:10px;flex-wrap:wrap;align-items:baseline}
.finding .subject{font-weight:700;font-size:16px;overflow-wrap:anywhere}
.finding .component,.finding .rule,.finding .risks{color:var(--muted);font-size:13px}
.finding .score{font-weight:600;font-size:13px}
.tag{font-size:12px;padding:0 6px;border-radius:4px;border:1px solid #1a56db;color:#1a56db;font-weight:600}
.finding p{margin:4px 0;overflow-wrap:anywhere}
.change{font-size:13px}.change .was{color:#7a1d1d}.change .now{color:#14532d}
.message{white-space:pre-line}
.remedy b{color:var(--muted);font-weight:600}
.follows{font-size:13px;color:var(--muted)}
details.consequences{margin:4px 0 0 28px}
details.consequences summary{cursor:pointer;color:var(--muted);font-size:14px;padding:4px 0}
details.consequences ol{list-style:none;margin:0;padding:0;display:grid;gap:6px}
details.consequences .finding{padding:4px 10px}
details.consequences .finding .subject{font-size:14px}
.cells{columns:2 420px;column-gap:28px}
.cells section{break-inside:avoid;margin:0 0 10px;padding:4px 8px;border-radius:6px}
.cells section:target{background:#eef3fd;outline:2px solid #1a56db}
.cells h3{font-size:14px;margin:4px 0}.cells ul{margin:0;padding-left:18px;font-size:13px}
[hidden]{display:none!important}
"""
)

SCRIPT = """
(function () {
  var doc = document, list = doc.getElementById("findings"), bar = doc.getElementById("filter");
  var label = doc.getElementById("filter-label"), matrix = doc.getElementById("matrix");
  doc.documentElement.setAttribute("data-js", "on");
  function each(root, selector, fn) { Array.prototype.forEach.call(root.querySelectorAll(selector), fn); }
  function show(cell) {
    var n = 0;
    each(list, ".finding", function (f) {
      var on = !cell || f.getAttribute("data-cell") === cell;
      f.hidden = !on;
      if (on) { n += 1; }
    });
    each(list, ".group, .severity", function (g) { g.hidden = !g.querySelector(".finding:not([hidden])"); });
    each(list, "details.consequences", function (d) {
      d.open = !!cell && !!d.querySelector(".finding:not([hidden])");
    });
    each(matrix, "td", function (td) { td.classList.toggle("selected", td.getAttribute("data-cell") === cell); });
    bar.hidden = !cell;
    if (cell) {
      var pi = cell.split("-");
      label.textContent = n + (n === 1 ? " finding" : " findings") + " at probability " + pi[0] +
        " \\u00d7 impact " + pi[1] + ".";
    }
  }
  matrix.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-cell]");
    if (!link) { return; }
    event.preventDefault();
    var cell = link.getAttribute("data-cell");
    show(cell);
    history.replaceState(null, "", "#cell-" + cell);
    bar.scrollIntoView({block: "start"});
  });
  doc.getElementById("show-all").addEventListener("click", function (event) {
    event.preventDefault();
    show("");
    history.replaceState(null, "", "#findings");
  });
  var wanted = /^#cell-([1-5]-[1-5])$/.exec(location.hash);
  if (wanted && matrix.querySelector("a[data-cell='" + wanted[1] + "']")) { show(wanted[1]); }
})();
"""


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


#: Nothing may load and nothing runs but the report's own script and style (named by their digests).
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src {_digest(STYLE)}; script-src {_digest(SCRIPT)}; "
    "base-uri 'none'; form-action 'none'"
)
