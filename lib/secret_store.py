"""Secrets given directly (an environment variable) or by SSM Parameter Store name.

Its own module so that both the settings (Tencent API credentials) and the callback's authentication
(signature keys, tokens) can read secrets without importing each other.
"""

from __future__ import annotations


def secret_from(value: str | None, param: str | None, ttl: int) -> str | None:
    """A secret given directly (environment) or by SSM parameter name (cached ``ttl`` seconds by powertools)."""
    if value:
        return value
    if param:
        from aws_lambda_powertools.utilities import parameters  # only deployments that use SSM pay for it

        return str(parameters.get_parameter(param, decrypt=True, max_age=ttl))
    return None
