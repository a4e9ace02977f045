"""`willay serve`: the app on uvicorn, in one process or several on one port."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from shell.cli.terminal import fail, out, settings_from, user_errors

__all__ = ["serve"]


def serve(
    *,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on.", envvar="WILLAY_HOST")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on.", envvar="WILLAY_PORT")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes on the one port (more than 1 needs WILLAY_REDIS_URL).",
            envvar="WILLAY_WORKERS",
        ),
    ] = 1,
    pin_workers: Annotated[
        bool,
        typer.Option(
            help="Pin each worker to a CPU of its own (a host of its own: not where other "
            "services' processes need those CPUs).",
            envvar="WILLAY_PIN_WORKERS",
        ),
    ] = False,
) -> None:
    """Serve the USSD endpoint, the simulator and the health checks."""
    import uvicorn

    from shell.app import create_app, freeze_startup
    from shell.http_protocol import LaneProtocol

    settings = settings_from(host=host, port=port)
    if workers > 1 and settings.redis_url is None:
        raise fail(
            f"--workers {workers} needs WILLAY_REDIS_URL: the in-process store cannot share "
            "sessions and profiles between processes"
        )
    if pin_workers and workers == 1:
        raise fail("--pin-workers pins the processes of --workers N (N > 1)")
    with user_errors():
        application = create_app(settings)
    base = f"http://{settings.host}:{settings.port}"
    out.print(f"USSD endpoint:  POST {base}/ussd/africastalking")
    out.print(f"Session notice: POST {base}/ussd/africastalking/events")
    out.print(f"IVR endpoint:   POST {base}/ivr/africastalking")
    if settings.simulator:
        out.print(f"Simulator:      {base}/simulator")
    if settings.studio:
        out.print(f"Studio:         {base}/studio")
    out.print(f"Store: {'in-process (embedded)' if settings.embedded else 'Redis'}")
    # no access log: callback URLs carry the secret token (and it would keep hops on ASGI);
    # LaneProtocol: hops answered without ASGI, each response in one segment
    if workers > 1:  # each process builds its app from the environment, as this one did
        with _pins(pin_workers):
            uvicorn.run(
                "shell.app:app_from_environment",
                factory=True,
                workers=workers,
                host=settings.host,
                port=settings.port,
                http=LaneProtocol,
                log_level="info",
                access_log=False,
            )
        return
    freeze_startup()
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        http=LaneProtocol,
        log_level="info",
        access_log=False,
    )


@contextmanager
def _pins(pin: bool) -> Iterator[None]:
    """With `pin`, the workers' CPU locks in a folder of this server's own, for as long as it
    serves (`shell.affinity`)."""
    if not pin:
        yield
        return
    from shell.affinity import PIN_FOLDER

    with tempfile.TemporaryDirectory(prefix="willay-pins-") as folder:
        held = os.open(folder, os.O_RDONLY)
        fcntl.flock(held, fcntl.LOCK_SH)  # systemd-tmpfiles leaves a locked folder alone
        os.environ[PIN_FOLDER] = folder  # the workers inherit it
        try:
            yield
        finally:
            del os.environ[PIN_FOLDER]
            os.close(held)
