"""Indexes named like the reference system's."""

from __future__ import annotations

from django.db import models


class Index(models.Index):
    """``models.Index`` allowing PostgreSQL's 63-character names (Django checks for 30).

    The reference's names such as ``oauth_refresh_token_session_id_idx`` are longer than 30;
    Django's limit exists for other databases, which this project does not support.
    """

    max_name_length = 63
