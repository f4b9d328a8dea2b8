"""The HTML of the connect web app: plain pages, no JavaScript, one stylesheet (the
Content-Security-Policy forbids inline styles and scripts)."""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse

from mca_pipeline.core import AuthType, SourcePlugin
from mca_pipeline.warehouse.accounts import CONNECTED, NEEDS_REAUTH

NOT_CONNECTED = "not_connected"


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)} - mca</title><link rel="stylesheet" href="/style.css"></head>'
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>",
        status_code=status,
    )


def message(title: str, text: str, status: int) -> HTMLResponse:
    return page(
        title, f'<p class="message">{escape(text)}</p><p><a href="/">Back to your accounts</a></p>', status
    )


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf_token" value="{escape(token)}">'


def login_form(csrf_token: str) -> str:
    return (
        '<form method="post" action="/login">'
        f"{csrf_field(csrf_token)}"
        '<label for="token">Your sign-in token (from <code>mca users add</code>)</label> '
        '<input id="token" name="token" type="password" autocomplete="current-password" required> '
        '<button type="submit">Sign in</button></form>'
    )


def logout_form(csrf_token: str) -> str:
    return (
        f'<form class="inline" method="post" action="/logout">{csrf_field(csrf_token)}'
        '<button type="submit">Sign out</button></form>'
    )


_AUTH_LABEL = {
    AuthType.OAUTH: "sign in with the platform",
    AuthType.API_KEY: "API key",
    AuthType.FILE_IMPORT: "upload an export file",
    AuthType.NONE: "your public username",
}


def plugin_row(plugin: SourcePlugin, state: str, csrf_token: str) -> str:
    name = escape(plugin.name)
    shown = escape(plugin.display_name or plugin.name)
    auth = AuthType(plugin.auth_type)
    shown_state = state.replace("_", " ")
    if auth == AuthType.FILE_IMPORT:
        shown_state = "-" if state == NOT_CONNECTED else shown_state
        action = (
            f'<form method="post" action="/upload/{name}" enctype="multipart/form-data">{csrf_field(csrf_token)}'
            f'<input type="file" name="file" aria-label="Export file for {shown}" required> '
            '<button type="submit">Upload</button></form>'
        )
    elif state in (CONNECTED, NEEDS_REAUTH):
        reconnect = (
            f' <a class="button" href="/api/v1/plugins/{name}/connect">Reconnect</a>'
            if auth == AuthType.OAUTH and state == NEEDS_REAUTH
            else ""
        )
        action = (
            f'<form class="inline" method="post" action="/api/v1/plugins/{name}/disconnect">'
            f'{csrf_field(csrf_token)}<button type="submit">Disconnect</button></form>{reconnect}'
        )
    elif auth == AuthType.OAUTH:
        action = f'<a class="button" id="connect-{name}" href="/api/v1/plugins/{name}/connect">Connect</a>'
    elif auth == AuthType.API_KEY:
        action = (
            f'<form method="post" action="/connect/{name}/apikey">{csrf_field(csrf_token)}'
            f'<input name="account" placeholder="username on {shown}" aria-label="{shown} username"> '
            f'<input name="api_key" type="password" placeholder="API key" aria-label="{shown} API key" required> '
            '<button type="submit">Connect</button></form>'
        )
    elif auth == AuthType.NONE:
        action = (
            f'<form method="post" action="/connect/{name}/account">{csrf_field(csrf_token)}'
            f'<input name="account" placeholder="username on {shown}" aria-label="{shown} username" required> '
            '<button type="submit">Connect</button></form>'
        )
    else:
        action = ""
    return (
        f'<tr id="plugin-{name}"><td class="source">{shown}</td>'
        f'<td data-label="Connects by">{escape(_AUTH_LABEL.get(auth, auth))}</td>'
        f'<td class="state state-{escape(state)}" data-label="State">{escape(shown_state)}</td>'
        f'<td class="action">{action}</td></tr>'
    )


CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; background: #fafafa; }
main { max-width: 60rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid #ddd; vertical-align: middle; }
form.inline { display: inline; }
.button, button { display: inline-block; padding: .3rem .8rem; border: 1px solid #555; border-radius: 4px;
  background: #fff; color: #222; text-decoration: none; font: inherit; cursor: pointer; }
.state-connected { color: #176317; font-weight: bold; }
.state-needs_reauth, .state-disconnected { color: #9a4b00; }
.error { color: #a00; }
input, select { font: inherit; padding: .25rem; }
td.n, th.n { text-align: right; }
.problem { color: #a00; }
.todo { color: #555; font-size: .9rem; }
ul.problems { margin: 0; padding-left: 1rem; }
.scroll { overflow-x: auto; }
progress { width: 12rem; max-width: 100%; vertical-align: middle; }
ul.years { display: flex; flex-wrap: wrap; gap: .5rem 1rem; list-style: none; padding: 0; }
li.merge { margin-bottom: .5rem; }
@media (max-width: 40rem) {
  body { margin: .75rem; }
  /* On a phone each source is a card: one line per fact, labelled. */
  table.sources thead { display: none; }
  table.sources tr { display: block; border-bottom: 2px solid #ccc; padding: .5rem 0; }
  table.sources td { display: block; border: 0; padding: .15rem .5rem; }
  table.sources td.source { font-weight: bold; font-size: 1.1rem; }
  table.sources td[data-label]::before { content: attr(data-label) ": "; color: #666; }
  table.sources td.n { text-align: left; }
  input[type=file] { max-width: 100%; }
}
"""
