"""The studio's HTML, rendered on the server: plain pages, one small stylesheet and one script.

No front-end framework: forms work without JavaScript (login, filters, review); the script only
records (MediaRecorder), plays the simulated call and follows a rebuild. Every value is escaped.
"""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Iterable

from audio_cache import AudioFile, Provenance, Utterance
from studio.accounts import Account
from studio.audit import AuditEntry
from studio.builds import RebuildStatus
from studio.catalog_view import PAGE_SIZE, CatalogFilter, CatalogRow, PromptRow
from studio.review import REVIEW_STATES
from willay.catalog import Catalog
from willay.languages import LANGUAGES

__all__ = [
    "call_page",
    "catalog_page",
    "login_page",
    "prompts_page",
    "rebuild_page",
    "record_page",
]

STATE_NAMES = {
    "approved": "aprobado",
    "rejected": "rechazado",
    "expired": "aprobación vencida",
    "void": "firma anulada (el texto cambió)",
    "pending": "sin firma",
}
DECISIONS = {"approve": "aprobó", "reject": "rechazó"}
RECORDING_NAMES = {"human": "voz humana", "stale": "grabación antigua", "none": "voz sintética"}
EXPIRY_NAMES = {"current": "vigente", "expiring": "vence pronto", "expired": "vencido"}


def e(value: object) -> str:
    """Escape for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def _layout(title: str, body: str, *, account: Account | None, csrf: str | None) -> str:
    nav = ""
    if account is not None:
        nav = (
            '<nav><a href="/studio">Catálogo</a> <a href="/studio/prompts">Mensajes</a> '
            '<a href="/studio/call">Llamada</a> '
            '<a href="/studio/rebuild">Audio</a> '
            f'<span class="who">{e(account.title)}</span> '
            '<form method="post" action="/studio/logout" class="inline">'
            f'<input type="hidden" name="csrf" value="{e(csrf or "")}">'
            '<button type="submit">Salir</button></form></nav>'
        )
    meta = f'<meta name="csrf-token" content="{e(csrf)}">' if csrf else ""
    return (
        '<!doctype html><html lang="es"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta}<title>{e(title)} · Willay Studio</title>"
        '<link rel="stylesheet" href="/studio/static/studio.css">'
        '<script src="/studio/static/studio.js" defer></script></head>'
        f"<body><header><strong>Willay Studio</strong> {nav}</header>"
        f"<main><h1>{e(title)}</h1>{body}</main></body></html>"
    )


def login_page(*, error: str = "", next_url: str = "/studio") -> str:
    """The login form."""
    message = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    body = (
        f'{message}<form method="post" action="/studio/login" class="stack">'
        f'<input type="hidden" name="next" value="{e(next_url)}">'
        '<label>Usuario <input id="name" name="name" autocomplete="username" required></label>'
        '<label>Contraseña <input id="password" name="password" type="password" '
        'autocomplete="current-password" required></label>'
        '<button id="login" type="submit">Entrar</button></form>'
    )
    return _layout("Entrar", body, account=None, csrf=None)


def _options(values: Iterable[tuple[str, str]], chosen: str) -> str:
    return "".join(
        f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(label)}</option>'
        for v, label in values
    )


def _filters(catalog: Catalog, chosen: CatalogFilter) -> str:
    topics = [("", "todos los temas")] + [(t.id, t.name.get("es", t.id)) for t in catalog.topics]
    langs = [("", "todos los idiomas")] + [(c, f"{c} · {n}") for c, (n, _) in LANGUAGES.items()]
    states = [("", "toda firma")] + [(s, STATE_NAMES[s]) for s in REVIEW_STATES]
    recordings = [("", "todo audio")] + list(RECORDING_NAMES.items())
    return (
        '<form method="get" action="/studio" class="filters" id="filters">'
        f'<select name="topic" id="f-topic" aria-label="tema">{_options(topics, chosen.topic)}'
        f'</select><select name="lang" id="f-lang" aria-label="idioma">'
        f"{_options(langs, chosen.lang)}</select>"
        f'<select name="state" id="f-state" aria-label="firma">{_options(states, chosen.state)}'
        f'</select><select name="recording" id="f-recording" aria-label="audio">'
        f"{_options(recordings, chosen.recording)}</select>"
        '<button type="submit" id="f-apply">Filtrar</button></form>'
    )


def _player(found: tuple[AudioFile, str] | None, *, label: str, lang: str) -> str:
    if found is None:
        return f'<span class="muted">{e(label)}: sin audio (falta reconstruir)</span>'
    file, used = found
    note = f" en {used}" if used != lang else ""
    source = "voz humana" if file.source == "human" else "voz sintética"
    return (
        f'<figure class="player"><figcaption>{e(label)}: {e(source)}{e(note)}, '
        f"{file.duration:.1f} s, {file.bytes:,} bytes</figcaption>"
        f'<audio controls preload="none" data-source="{e(file.source)}" '
        f'src="/audio/{e(file.file)}"></audio></figure>'
    )


def _review_form(row: CatalogRow, kind: str, *, csrf: str, back: str) -> str:
    back_translation = ""
    if kind == "language":
        back_translation = (
            "<label>Traducción de vuelta al castellano (para aprobar) "
            '<textarea name="back_translation" rows="2" maxlength="2000"></textarea></label>'
        )
    return (
        '<form method="post" action="/studio/review" class="review">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<input type="hidden" name="tip_id" value="{e(row.tip.id)}">'
        f'<input type="hidden" name="lang" value="{e(row.lang)}">'
        f'<input type="hidden" name="text_sha256" value="{e(row.review.text_sha256)}">'
        f'<input type="hidden" name="back" value="{e(back)}">'
        f"{back_translation}"
        f'<label>Comentario ({e(kind)}) <input name="comment" maxlength="2000"></label>'
        '<button name="decision" value="approve" class="approve">Aprobar</button> '
        '<button name="decision" value="reject" class="reject">Rechazar</button></form>'
    )


def _row(row: CatalogRow, *, account: Account, csrf: str, back: str) -> str:
    tip = row.tip
    pages = "".join(
        f'<div class="page"><pre class="phone">{e(text)}</pre>'
        f"<small>pág. {i}/{len(row.ussd)} · {n} septetos</small></div>"
        for i, (text, n) in enumerate(row.ussd, start=1)
    )
    sms = "".join(f'<pre class="sms">{e(part)}</pre>' for part in row.sms.parts)
    own = "" if row.own else f' <span class="badge">usa el texto {e(row.text_lang)}</span>'
    recording = e(_recording_note(row.recording, row.provenance))
    record = ""
    if row.own and account.may_record(row.lang):
        query = urllib.parse.urlencode({"tip": tip.id, "lang": row.lang})
        record = f' <a class="record" href="/studio/record?{e(query)}">Grabar</a>'
    kind = account.review_kind(row.lang)
    review = _review_form(row, kind, csrf=csrf, back=back) if kind and row.own else ""
    signoffs = "".join(
        f"<li>{s.date} {e(s.reviewer)} ({e(s.role)}) {DECISIONS[s.decision.value]}"
        f"{'' if s.text_sha256 == row.review.text_sha256 else ' un texto anterior'}"
        f"{': ' + e(s.comment) if s.comment else ''}"
        f"{' · de vuelta: ' + e(s.back_translation) if s.back_translation else ''}</li>"
        for s in row.review.history
    )
    served = "se sirve en producción" if row.review.servable else "no se sirve en producción"
    return (
        f'<article class="item state-{e(row.review.state)}" id="{e(tip.id)}-{e(row.lang)}" '
        f'data-tip="{e(tip.id)}" '
        f'data-lang="{e(row.lang)}">'
        f'<h2>{e(tip.id)} <span class="lang">{e(row.lang)}</span>{own}</h2>'
        f'<p class="badges"><span class="badge review">{e(STATE_NAMES[row.review.state])}</span>'
        f' <span class="badge">{served}</span>'
        f' <span class="badge">{e(EXPIRY_NAMES[row.expiry])}'
        f"{': ' + str(tip.expires_on) if tip.expires_on else ''}</span>"
        f' <span class="badge rec-{e(row.recording)}">{recording}</span>{record}</p>'
        f'<p class="text">{e(row.text)}</p>'
        f'<p class="muted">sha256 {e(row.review.text_sha256[:12])}… · fuente: '
        f'<a href="{e(tip.source.url)}" rel="noopener">{e(tip.source.name)}</a></p>'
        f'<details><summary>USSD: {len(row.ussd)} pág.</summary><div class="pages">{pages}'
        f"</div></details>"
        f"<details><summary>SMS: {row.sms.segments} segmento(s), {row.sms.septets} septetos"
        f"</summary>{sms}</details>"
        f'<div class="players">{_player(row.audio["call"], label="llamada MP3", lang=row.lang)}'
        f"{_player(row.audio['app'], label='app Opus', lang=row.lang)}</div>"
        f'<ul class="signoffs">{signoffs}</ul>{review}</article>'
    )


def catalog_page(
    *,
    account: Account,
    csrf: str,
    catalog: Catalog,
    chosen: CatalogFilter,
    rows: list[CatalogRow],
    total: int,
    notice: str = "",
) -> str:
    """Every tip × language, filtered and paged."""
    query = {
        k: v
        for k, v in (
            ("topic", chosen.topic),
            ("lang", chosen.lang),
            ("state", chosen.state),
            ("recording", chosen.recording),
        )
        if v
    }
    back = "/studio?" + urllib.parse.urlencode({**query, "page": chosen.page})
    items = "".join(_row(row, account=account, csrf=csrf, back=back) for row in rows)
    pages = max(1, -(-total // PAGE_SIZE))
    links = []
    for number, label in ((chosen.page - 1, "« anterior"), (chosen.page + 1, "siguiente »")):
        if 1 <= number <= pages:
            href = "/studio?" + urllib.parse.urlencode({**query, "page": number})
            links.append(f'<a href="{e(href)}">{label}</a>')
    notice_html = f'<p class="notice" role="status">{e(notice)}</p>' if notice else ""
    body = (
        f"{notice_html}{_filters(catalog, chosen)}"
        f'<p class="muted" id="count">{total} resultado(s) · página {chosen.page} de {pages}</p>'
        f'<div id="items">{items or "<p>Nada coincide con el filtro.</p>"}</div>'
        f'<p class="pager">{" ".join(links)}</p>'
    )
    return _layout("Catálogo", body, account=account, csrf=csrf)


def _recording_note(state: str, provenance: Provenance | None) -> str:
    note = RECORDING_NAMES[state]
    if provenance is not None:
        note += f" · {provenance.speaker}, {provenance.recorded_at:%Y-%m-%d}"
    return note


def prompts_page(*, account: Account, csrf: str, rows: list[PromptRow]) -> str:
    """The IVR prompts a caller hears, to listen to and record."""
    items = []
    for row in rows:
        u = row.utterance
        record = ""
        if account.may_record(u.lang):
            query = urllib.parse.urlencode({"prompt": u.id, "lang": u.lang})
            record = f' <a class="record" href="/studio/record?{e(query)}">Grabar</a>'
        items.append(
            f'<article class="item" id="prompt-{e(u.id)}-{e(u.lang)}">'
            f'<h2>{e(u.id)} <span class="lang">{e(u.lang)}</span></h2>'
            f'<p class="badges"><span class="badge rec-{e(row.recording)}">'
            f"{e(_recording_note(row.recording, row.provenance))}</span>{record}</p>"
            f'<p class="text">{e(u.text)}</p>'
            f"{_player(row.audio, label='llamada MP3', lang=u.lang)}</article>"
        )
    body = (
        '<p class="muted">Lo que escucha quien llama, mensaje por mensaje (<code>mul</code>: '
        "la elección de idioma, todos los idiomas seguidos).</p>" + "".join(items)
    )
    return _layout("Mensajes de la llamada", body, account=account, csrf=csrf)


def record_page(*, account: Account, csrf: str, utterance: Utterance, api_path: str) -> str:
    """Read a text aloud: record, listen, send."""
    body = (
        f'<p class="muted">{e(utterance.kind)} <strong>{e(utterance.id)}</strong> '
        f"en {e(utterance.lang)}. Lee exactamente este texto, con calma, cerca del micrófono:</p>"
        f'<blockquote class="read">{e(utterance.text)}</blockquote>'
        f'<div id="recorder" data-put="{e(api_path)}">'
        '<button id="rec-start" type="button">● Grabar</button> '
        '<button id="rec-stop" type="button" disabled>■ Parar</button> '
        '<button id="rec-send" type="button" disabled>Enviar</button>'
        '<p id="rec-status" role="status">Listo para grabar.</p>'
        '<audio id="rec-preview" controls hidden></audio>'
        '<div id="rec-result"></div></div>'
        f'<p><a href="{"/studio" if utterance.kind == "tip" else "/studio/prompts"}">Volver</a></p>'
    )
    return _layout("Grabar", body, account=account, csrf=csrf)


def call_page(*, account: Account, csrf: str) -> str:
    """The IVR call simulator: dial, press keys, hear what a caller hears."""
    keys = "".join(
        f'<button type="button" class="key" data-key="{k}">{k}</button>' for k in "123456789*0#"
    )
    body = (
        '<p class="muted">La misma lógica de llamada que atiende a las personas: cada tecla '
        "pide al flujo IVR lo que escucharía quien llama, con el audio de llamada (MP3 8 kHz)."
        " El número es ficticio (+999…).</p>"
        '<div id="call"><button id="call-dial" type="button">Llamar</button> '
        '<button id="call-new" type="button">Nuevo llamante</button> '
        '<button id="call-hangup" type="button" disabled>Colgar</button>'
        f'<div class="keypad">{keys}</div>'
        '<p id="call-status" role="status">Sin llamada.</p>'
        '<audio id="call-audio" controls></audio>'
        '<ol id="call-log"></ol></div>'
    )
    return _layout("Llamada simulada", body, account=account, csrf=csrf)


def rebuild_page(
    *, account: Account, csrf: str, status: RebuildStatus, audit: list[AuditEntry]
) -> str:
    """The full rebuild: start it, follow it; the latest changes made in the studio."""
    start = ""
    if account.may_rebuild():
        start = '<button id="rebuild-start" type="button">Reconstruir todo el audio</button>'
    changes = "".join(
        f"<li>{entry.at:%Y-%m-%d %H:%M} {e(entry.user)} ({e(entry.role)}): "
        f"{e(entry.action)} {e(entry.target)}</li>"
        for entry in audit
    )
    body = (
        f'<div id="rebuild" data-state="{e(status.state)}">{start}'
        f'<progress id="rebuild-bar" max="{status.total or 1}" value="{status.done}"></progress>'
        f'<p id="rebuild-status" role="status">{e(status.state)}: {status.done}/{status.total}'
        f" {e(status.summary)}</p></div>"
        f"<h2>Últimos cambios</h2><ul>{changes or '<li>Ninguno.</li>'}</ul>"
    )
    return _layout("Audio", body, account=account, csrf=csrf)
