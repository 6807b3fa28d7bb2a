"""Servers, settings and the load script of ``benchmarks/oauth_http.py``."""
