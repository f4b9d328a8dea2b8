"""The signed-in person's own page: their sources by the names they know, what is stored
and when it was last brought in, when the next sync comes, what went wrong and what to
do, imports in progress, uploads, their year-in-review pages and their corrections
(aliases, "not the same play") with the reason behind each merged play.

Plain HTML under the app's Content-Security-Policy: one stylesheet, and one script file
(/upload.js) that only adds an upload progress bar; without it the forms still work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from mca_pipeline.auth.web_pages import NOT_CONNECTED, csrf_field, escape, logout_form, plugin_row
from mca_pipeline.core import AuthType, ErrorCode, SourcePlugin
from mca_pipeline.warehouse.accounts import NEEDS_REAUTH, Notification
from mca_pipeline.warehouse.aliases import Alias, Merge
from mca_pipeline.warehouse.overview import ImportProgress
from mca_pipeline.warehouse.pauses import Pause
from mca_pipeline.warehouse.status import LastSync

#: What a person can do about a failed sync, by its error code.
WHAT_TO_DO = {
    ErrorCode.AUTH_EXPIRED: "Reconnect this source: its sign-in has expired or was revoked.",
    ErrorCode.PERMISSION_DENIED: "Reconnect and allow what mca asks for, or check the key or username.",
    ErrorCode.RATE_LIMIT: "Nothing: the platform asked us to wait; the sync resumes by itself.",
    ErrorCode.UPSTREAM: "Nothing: the platform had a problem; the next sync tries again.",
    ErrorCode.PARTIAL_SYNC: "Nothing: what arrived is stored and the next sync continues from there.",
    ErrorCode.INVALID_DATA: "Nothing needed: the unreadable records were skipped; tell us if it keeps happening.",
    ErrorCode.FILE_PARSE_ERROR: "That file is not this source's export: check you uploaded the right file "
    "(its report is in data/rejected/).",
}


#: The `plugin` of a file dropped or uploaded as a whole, before it is sorted to a source.
ARRIVED = "arrived"


@dataclass(frozen=True)
class SourceView:
    plugin: SourcePlugin
    state: str
    reason: str | None = None
    items: int = 0
    last: LastSync | None = None
    next_sync: datetime | None = None
    pause: Pause | None = None
    notices: list[Notification] = field(default_factory=list)


@dataclass(frozen=True)
class OwnPage:
    user: str
    csrf_token: str
    sources: list[SourceView]
    progress: list[ImportProgress]
    report_years: list[str]  # "2024", ..., "all"
    aliases: list[Alias]
    separated: list[tuple[str, str]]
    merges: list[Merge]
    merges_total: int
    now: datetime


def _when(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    seconds = (now - at).total_seconds()
    if abs(seconds) < 90:
        return "just now" if seconds >= 0 else "in a minute"
    minutes = abs(seconds) / 60
    text = f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.0f} h" if minutes < 48 * 60 else ""
    if not text:
        return f"on {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"{text} ago" if seconds > 0 else f"in {text}"


def _last(view: SourceView, now: datetime) -> str:
    last = view.last
    if last is None:
        return "nothing yet"
    if last.files_imported or last.files_rejected:
        text = f"{_when(last.finished_at, now)}: {last.files_imported} file(s), {last.new_count:,} new"
        if last.files_rejected:
            text += f", {last.files_rejected} rejected"
    else:
        text = f"{_when(last.finished_at, now)}: {last.outcome.replace('_', ' ')}, {last.new_count:,} new"
    if last.unreadable:
        text += f", {last.unreadable:,} unreadable skipped"
    return text


def _next(view: SourceView, now: datetime) -> str:
    auth = AuthType(view.plugin.auth_type)
    if auth == AuthType.FILE_IMPORT:
        return "when you upload an export"
    if view.state == NOT_CONNECTED or view.state == "disconnected":
        return "after you connect"
    if view.state == NEEDS_REAUTH:
        return "after you reconnect"
    if view.pause is not None and view.pause.not_before > now:
        return f"{_when(view.pause.not_before, now)} (the platform asked us to wait)"
    return _when(view.next_sync, now) if view.next_sync else "soon"


def _problems(view: SourceView) -> list[tuple[str, str]]:
    """(what happened, what to do) for this source; empty when all is well."""
    found = []
    if view.state == NEEDS_REAUTH:
        found.append((view.reason or "the sign-in stopped working", WHAT_TO_DO[ErrorCode.AUTH_EXPIRED]))
    last = view.last
    if last is not None and (last.outcome in ("failed", "partial") or last.files_rejected):
        code = ErrorCode.FILE_PARSE_ERROR if last.files_rejected else None
        if code is None and last.error_code in {c.value for c in ErrorCode}:
            code = ErrorCode(last.error_code)
        what = WHAT_TO_DO.get(code, "If it keeps failing, run `mca status` and look at the run in Dagster.")
        found.append((last.error_message or f"the last run ended {last.outcome}", what))
    for notice in view.notices:
        found.append((notice.message, ""))
    return found


def _source_row(view: SourceView, csrf_token: str, now: datetime) -> str:
    """The connect table's row, with what is stored, last and next sync, and problems."""
    base = plugin_row(view.plugin, view.state, csrf_token)
    problems = _problems(view)
    shown = (
        "".join(
            f'<li><span class="problem">{escape(what)}</span>'
            + (f'<br><span class="todo">{escape(todo)}</span>' if todo else "")
            + "</li>"
            for what, todo in problems
        )
        if problems
        else ""
    )
    details = (
        f'<td class="n" data-label="Stored">{view.items:,}</td>'
        f'<td data-label="Last">{escape(_last(view, now))}</td>'
        f'<td data-label="Next sync">{escape(_next(view, now))}</td>'
        f'<td data-label="Problems">{f"<ul class=problems>{shown}</ul>" if shown else "none"}</td>'
    )
    # plugin_row ends with the action cell; the details go before it.
    cut = base.rindex('<td class="action">')
    return base[:cut] + details + base[cut:]


def _progress(items: list[ImportProgress], now: datetime) -> str:
    if not items:
        return ""
    rows = []
    for item in items:
        if item.started:
            share = item.bytes_read / item.size if item.size else 1.0
            state = (
                f"{item.records:,} records and {item.bytes_read:,} of {item.size:,} bytes read "
                f"({share:.0%}), last page {_when(item.updated_at, now)}"
            )
            bar = f'<progress max="{item.size}" value="{item.bytes_read}">{share:.0%}</progress>'
        else:
            what = "unpacked and sorted to its source" if item.plugin == ARRIVED else "imported"
            state = f"{item.size:,} bytes, waiting to be {what} (within a minute)"
            bar = "<progress></progress>"
        rows.append(
            f'<li class="import" data-file="{escape(item.file)}"><strong>{escape(item.file)}</strong> '
            f"({escape(item.plugin)}) {bar}<br>{escape(state)}</li>"
        )
    return f'<h2>Imports in progress</h2><ul id="imports">{"".join(rows)}</ul>'


def _upload(csrf_token: str) -> str:
    return (
        "<h2>Upload an export</h2><p>A single export file, or the whole archive you downloaded "
        "(.zip, .tgz, e.g. <code>my_spotify_data.zip</code> or a Google Takeout): each file in it goes "
        "to the source that recognises it.</p>"
        f'<form id="upload-any" method="post" action="/upload" enctype="multipart/form-data">'
        f"{csrf_field(csrf_token)}"
        '<input type="file" name="file" aria-label="Any export file or archive" required> '
        '<button type="submit">Upload</button> '
        '<progress id="upload-progress" max="100" value="0" hidden></progress> '
        '<span id="upload-status" role="status"></span></form>'
    )


def _reports(years: list[str]) -> str:
    if not years:
        return "<h2>Your year in review</h2><p>Your pages appear here after your first import.</p>"
    links = "".join(
        f'<li><a href="/reports/{escape(y)}">{"All time" if y == "all" else escape(y)}</a></li>'
        for y in years
    )
    return f'<h2>Your year in review</h2><ul id="reports" class="years">{links}</ul>'


def _corrections(page: OwnPage) -> str:
    token = page.csrf_token
    aliases = "".join(
        f"<tr><td>{escape(a.field)}</td><td>{escape(a.spelling)}</td><td>{escape(a.canonical)}</td>"
        f'<td><form class="inline" method="post" action="/aliases/remove">{csrf_field(token)}'
        f'<input type="hidden" name="field" value="{escape(a.field)}">'
        f'<input type="hidden" name="spelling" value="{escape(a.spelling)}">'
        '<button type="submit">Remove</button></form></td></tr>'
        for a in page.aliases
    )
    table = (
        '<table id="aliases"><thead><tr><th>For</th><th>Spelling</th><th>Counted as</th><th></th></tr></thead>'
        f"<tbody>{aliases}</tbody></table>"
        if aliases
        else "<p>No aliases yet.</p>"
    )
    apart = "".join(f"<li>{escape(a)} / {escape(b)}</li>" for a, b in page.separated)
    return (
        "<h2>Names that are one</h2>"
        "<p>When your history spells an artist or a title several ways, say which are one: plays are "
        "then matched across sources and counted under that name, and your pages are recomputed.</p>"
        f"{table}"
        f'<form id="alias-form" method="post" action="/aliases">{csrf_field(token)}'
        '<select name="field" aria-label="Artist or title"><option value="artist">artist / creator</option>'
        '<option value="title">title</option></select> '
        '<input name="spelling" placeholder="this spelling" aria-label="Spelling" required> '
        '<input name="canonical" placeholder="is counted as" aria-label="Counted as" required> '
        '<button type="submit">Add</button></form>'
        + (f'<p>Kept apart:</p><ul id="separated">{apart}</ul>' if apart else "")
    )


def _merges(page: OwnPage) -> str:
    if not page.merges:
        return "<h2>Why plays were merged</h2><p>No play was seen by two sources yet.</p>"
    token = page.csrf_token
    items = []
    for m in page.merges:
        rule = m.rule or "linked before reasons were kept; the next recompute says why"
        items.append(
            f'<li class="merge"><strong>{escape(m.creator or "")} &ndash; {escape(m.title)}</strong> '
            f"({escape(m.row)}, {escape(f'{m.consumed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC')}) "
            f"is counted as <strong>{escape(m.kept_creator or '')} &ndash; {escape(m.kept_title or '?')}</strong> "
            f"({escape(m.play_key)}): {escape(rule)}."
            f'<form class="inline" method="post" action="/separate">{csrf_field(token)}'
            f'<input type="hidden" name="row_a" value="{escape(m.row)}">'
            f'<input type="hidden" name="row_b" value="{escape(m.linked_to or m.play_key)}">'
            '<button type="submit">Not the same play</button></form></li>'
        )
    more = page.merges_total - len(page.merges)
    tail = f"<p>{more:,} more in <code>mca why</code> and <code>mca export</code>.</p>" if more > 0 else ""
    return f'<h2>Why plays were merged</h2><ul id="merges">{"".join(items)}</ul>{tail}'


def render_own_page(page: OwnPage) -> str:
    """The page's body (the caller wraps it in the common page)."""
    total = sum(v.items for v in page.sources)
    with_data = sum(1 for v in page.sources if v.items)
    problems = sum(len(_problems(v)) for v in page.sources)
    summary = (
        f'<p id="summary">{total:,} items from {with_data} source{"" if with_data == 1 else "s"}'
        + (f' · <a href="#sources" class="problem">{problems} problem(s) to look at</a>' if problems else "")
        + "</p>"
    )
    rows = "".join(_source_row(v, page.csrf_token, page.now) for v in page.sources)
    return (
        f"<p>Signed in as <strong>{escape(page.user)}</strong>. {logout_form(page.csrf_token)}</p>"
        f"{summary}"
        f"{_reports(page.report_years)}"
        f"{_progress(page.progress, page.now)}"
        '<h2 id="sources">Your sources</h2><div class="scroll"><table class="sources"><thead><tr><th>Source</th>'
        '<th>How it connects</th><th>State</th><th class="n">Stored</th><th>Last import or sync</th>'
        "<th>Next sync</th><th>Problems</th><th>Action</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
        f"{_upload(page.csrf_token)}"
        f"{_corrections(page)}"
        f"{_merges(page)}"
        '<script src="/upload.js" defer></script>'
    )


UPLOAD_JS = """
// Upload with a progress bar; the form posts as usual where this does not run.
(function () {
  var form = document.getElementById("upload-any");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData(form);
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-CSRF-Token", form.elements["csrf_token"].value);
    request.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    bar.value = 0;
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.value = Math.round(100 * e.loaded / e.total);
        status.textContent = "Uploading: " + bar.value + "%";
      }
    });
    request.addEventListener("load", function () {
      var answer = {};
      try { answer = JSON.parse(request.responseText); } catch (err) { answer = {}; }
      bar.value = request.status === 200 ? 100 : bar.value;
      status.textContent = answer.message || ("Upload failed (" + request.status + ")");
      if (request.status === 200) { setTimeout(function () { window.location.reload(); }, 1500); }
    });
    request.addEventListener("error", function () { status.textContent = "Upload failed: the connection broke."; });
    request.send(data);
  });
})();
"""
