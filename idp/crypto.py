"""Encryption of secrets at rest (private signing keys, TOTP seeds) with the IDP_DATA_KEY setting.

A copy of the database alone must not reveal them. AES-256-GCM gives confidentiality and integrity; the
key is derived from IDP_DATA_KEY with HKDF-SHA256, and the caller's ``purpose`` is bound as associated
data, so a ciphertext moved to another column (a TOTP seed passed off as a signing key) fails to decrypt.

Tokens are text, ``v1.`` + base64url(nonce ‖ ciphertext ‖ tag): the version leaves room for another
scheme or a new data key without guessing what old rows hold.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_VERSION = "v1"
_NONCE_BYTES = 12  # 96-bit random nonces (NIST SP 800-38D §8.2.2): safe for far more than we encrypt


class DecryptionError(ValueError):
    """The token is malformed, was tampered with, has another purpose or another data key."""


def _cipher() -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"dangnhap data encryption " + _VERSION.encode()).derive(
        current_app.config["IDP_DATA_KEY"].encode())
    return AESGCM(key)


def _associated_data(purpose: str) -> bytes:
    return f"{_VERSION}:{purpose}".encode()


def encrypt(plaintext: bytes, purpose: str) -> str:
    """Encrypt ``plaintext`` for ``purpose``; the token decrypts only with the same purpose."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher().encrypt(nonce, plaintext, _associated_data(purpose))
    return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii').rstrip('=')}"


def decrypt(token: str, purpose: str) -> bytes:
    """The plaintext of a token made by ``encrypt`` for the same ``purpose``; raises DecryptionError."""
    version, _, body = token.partition(".")
    if version != _VERSION:
        raise DecryptionError("unknown token version")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("malformed token") from exc
    try:
        return _cipher().decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(purpose))
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("cannot decrypt: tampered, another purpose or another data key") from exc
