"""Per-user sign-in tokens for the connect web app: shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.users import add_user, user_for_token_hash


def hash_token(token: str) -> str:
    """SHA-256 is enough here: tokens are 256 random bits, not passwords to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(warehouse: Warehouse, user_id: str) -> str:
    """Create the user if needed and give it a new token (the old one stops working)."""
    token = secrets.token_urlsafe(32)
    with warehouse.connect() as con:
        add_user(con, user_id, hash_token(token))
    return token


def user_for_token(warehouse: Warehouse, token: str) -> str | None:
    with warehouse.connect() as con:
        return user_for_token_hash(con, hash_token(token))
