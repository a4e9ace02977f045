"""What the SMS channel says, per language (BCP-47 code; `quz` falls back to `quy`, then `es`).

Every Quechua text here is a draft awaiting review by a native speaker, like the menus.
"""

from __future__ import annotations

__all__ = ["ALERT", "BRAND", "SOURCE", "STOP", "STOP_SHORT", "STOPPED"]

BRAND = "Willay:"

ALERT = {"es": "ALERTA:", "quy": "WILLAKUY:"}  # before a regional alert

SOURCE = {"es": "Fuente:", "quy": "Maymanta:"}

# How to stop, at the end of every tip: the full line, and a short one to save a segment.
STOP = {
    "es": "Para no recibir mas, responde BAJA.",
    "quy": "Amaña chaskinaykipaq SAQIY kutichiy.",
}
STOP_SHORT = {"es": "Salir: BAJA", "quy": "Amaña: SAQIY"}

# The answer to BAJA / STOP / SAQIY; `{code}` is the USSD short code.
STOPPED = {
    "es": "Willay: ya no recibiras consejos por SMS. Para volver, marca {code}, SMS semanal.",
    "quy": "Willay: manañam SMS-pi yuyaychakuykunata chaskinkichu. Kutinaykipaq {code} qayay.",
}
