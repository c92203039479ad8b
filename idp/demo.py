"""Demo data for `make run`: a demo citizen, created once, whose password is generated, not committed.

The password is kept in instance/demo-credentials (mode 0600) so `make run` can print it every time.
"""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path

from flask import current_app

from idp.identity import accounts, local

DEMO_ID_NUMBER = "038090123456"  # Thanh Hóa (038), man born in 1990
DEMO_NAME = "Nguyễn Văn An"
DEMO_EMAIL = "an.nguyen@example.com"


def _credentials_file() -> Path:
    return Path(current_app.instance_path) / "demo-credentials"


def _stored_password() -> tuple[str, bool]:
    """The demo password, and whether it was made just now."""
    path = _credentials_file()
    if path.exists():
        return path.read_text().strip(), False
    password = secrets.token_urlsafe(9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return password, True


def seed() -> list[str]:
    password, new = _stored_password()
    if local.find(DEMO_ID_NUMBER) is not None:
        if new:  # the instance file was lost: make the printed password the real one again
            accounts.set_password(DEMO_ID_NUMBER, password, actor="demo")
    else:
        accounts.create_citizen(id_number_text=DEMO_ID_NUMBER, full_name=DEMO_NAME, password=password,
                                email=DEMO_EMAIL, phone="0912345678", address="Phường Hạc Thành, tỉnh Thanh Hóa",
                                birthdate=date(1990, 5, 17), actor="demo")
    return [
        "Demo citizen (công dân):",
        f"  personal ID number: {DEMO_ID_NUMBER}   (or e-mail {DEMO_EMAIL})",
        f"  password:           {password}",
    ]
