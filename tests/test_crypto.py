"""Encryption at rest with IDP_DATA_KEY: only the same purpose and the same data key read a secret back."""

from __future__ import annotations

import base64

import pytest
from flask import Flask

from idp import crypto

SECRET = b"JBSWY3DPEHPK3PXP"  # a TOTP seed, say


def test_round_trip(app: Flask) -> None:
    for plaintext in (SECRET, b"", "Mật khẩu".encode(), bytes(range(256)) * 20):
        token = crypto.encrypt(plaintext, "totp")
        assert token.startswith("v1.") and token.isascii()
        assert crypto.decrypt(token, "totp") == plaintext


def test_every_encryption_differs(app: Flask) -> None:
    assert crypto.encrypt(SECRET, "totp") != crypto.encrypt(SECRET, "totp")


def test_ciphertext_never_contains_the_plaintext(app: Flask) -> None:
    token = crypto.encrypt(SECRET, "totp")
    for form in (SECRET, base64.urlsafe_b64encode(SECRET).rstrip(b"="), base64.b64encode(SECRET).rstrip(b"=")):
        assert form.decode() not in token


def test_another_purpose_cannot_decrypt(app: Flask) -> None:
    token = crypto.encrypt(SECRET, "totp")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, "signing-key")


def test_another_data_key_cannot_decrypt(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    token = crypto.encrypt(SECRET, "totp")
    monkeypatch.setitem(app.config, "IDP_DATA_KEY", app.config["IDP_DATA_KEY"] + "x")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, "totp")


def test_tampered_or_malformed_tokens_are_refused(app: Flask) -> None:
    token = crypto.encrypt(SECRET, "totp")
    middle = len(token) // 2
    flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
    for bad in (flipped, token[:-2], token + "AA", "v2" + token[2:], token[3:], "", "v1.", "v1.@@@@", "v1.é"):
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(bad, "totp")
