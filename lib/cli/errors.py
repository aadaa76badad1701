"""How every ``mediahook`` command fails: one line on stderr saying what is missing and how to give it, and a
documented exit code; never a traceback (``mediahook --debug ...`` shows one).

Exit codes: 0 done, 1 a check failed (an invalid file, a refused delivery, a failed smoke step, an AWS call
that failed), 2 usage or configuration (a missing option, setting, region, credentials, table, bucket; an
unreachable endpoint). A command raises :class:`CliError` anywhere; :func:`lib.cli.main` prints it. Errors
the commands do not catch themselves (botocore's, a bad setting) are put into words by :func:`explain`, so a
new command gets the same lines without code of its own.

Kept free of heavy imports: botocore is imported only to recognise its exceptions once one is raised."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

USAGE = 2  # usage and configuration: something to give or fix before running again
FAILED = 1  # a check failed, or the work itself did

CREDENTIALS_HINT = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE); against the local stack, "
                    "paste the export line `make serve` prints")
REGION_HINT = "set AWS_DEFAULT_REGION (e.g. us-east-1; against the local stack, the export line `make serve` prints)"


class CliError(Exception):
    """A failure the operator can act on: ``message`` is the whole line (without the ``mediahook CMD:``
    prefix, which :func:`lib.cli.main` adds); ``exit_code`` is :data:`USAGE` or :data:`FAILED`."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def require_setting(name: str, what: str, *, option: str | None = None) -> str:
    """The value of the environment variable ``name``, or a :class:`CliError` saying how to give it."""
    value = os.environ.get(name, "").strip()
    if not value:
        how = f"give {option} or set {name}" if option else f"set {name}"
        raise CliError(f"{name} is not set: {how} ({what})")
    return value


def require_aws() -> None:
    """Fail before any work when boto3 has no region or no credentials (each is otherwise a traceback at the
    first call, after a long wait for the instance metadata service)."""
    import boto3

    session = boto3.session.Session()
    if not session.region_name:
        raise CliError(f"no AWS region: {REGION_HINT}")
    if session.get_credentials() is None:
        raise CliError(f"no AWS credentials: {CREDENTIALS_HINT}")


@contextmanager
def naming(*, table: str | None = None, bucket: str | None = None) -> Iterator[None]:
    """Inside, a missing DynamoDB table or S3 bucket is a :class:`CliError` that names it and the setting that
    gave it (AWS's own message names neither)."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if table and code == "ResourceNotFoundException":
            raise CliError(f"the table {table} does not exist: check LEDGER_TABLE (the stack's LedgerTableName "
                           "output), AWS_DEFAULT_REGION and AWS_ENDPOINT_URL") from None
        if bucket and code == "NoSuchBucket":
            raise CliError(f"the bucket {bucket} does not exist: check --bucket or ARCHIVE_BUCKET (the stack's "
                           "ArchiveBucketName output), AWS_DEFAULT_REGION and AWS_ENDPOINT_URL") from None
        raise


def explain(exc: BaseException) -> CliError | None:
    """The line for an exception a command let through, or None for one that is a bug (then main prints its
    type and message, and ``--debug`` its traceback)."""
    from lib.errors import DeliveryError
    from lib.settings import ConfigError

    if isinstance(exc, DeliveryError) and exc.__cause__ is not None:  # the pipeline's, over AWS's: say both
        cause = explain(exc.__cause__)
        if cause is not None:
            return CliError(f"{exc}: {cause.message}", cause.exit_code)
    if isinstance(exc, ConfigError):
        return CliError(str(exc).replace(": : Value error, ", ": "))  # a model validator's problem has no field
    try:
        from botocore import exceptions as boto
    except ImportError:  # pragma: no cover (boto3 is a dependency of every command that calls AWS)
        return None
    if isinstance(exc, boto.NoRegionError):
        return CliError(f"no AWS region: {REGION_HINT}")
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return CliError(f"no AWS credentials: {CREDENTIALS_HINT}")
    if isinstance(exc, boto.ProfileNotFound):
        return CliError(f"{exc}: check AWS_PROFILE (or unset it and set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    if isinstance(exc, boto.EndpointConnectionError):
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        where = (f"AWS_ENDPOINT_URL={endpoint} is not answering: start the local stack (make serve) or unset it"
                 if endpoint else "check the network and AWS_DEFAULT_REGION")
        return CliError(f"cannot reach AWS ({exc}): {where}")
    if isinstance(exc, boto.ClientError):
        return _client_error(exc.response.get("Error", {}), exc.operation_name)
    if isinstance(exc, boto.BotoCoreError):
        return CliError(f"AWS: {exc}", FAILED)
    return None


def _client_error(error: dict[str, Any], operation: str) -> CliError:
    code, message = error.get("Code", ""), error.get("Message", "")
    if code == "ResourceNotFoundException":
        return CliError(f"{operation}: {message or 'not found'}: check the table's name (LEDGER_TABLE: the stack's "
                        "LedgerTableName output) and the region")
    if code == "NoSuchBucket":
        bucket = error.get("BucketName", "")
        return CliError(f"the bucket {bucket or '(named)'} does not exist: check --bucket or ARCHIVE_BUCKET (the "
                        "stack's ArchiveBucketName output) and the region")
    if code in ("NotFound", "NotFoundException") and operation == "Publish":
        return CliError(f"the topic does not exist ({message}): check EVENTS_TOPIC_ARN (the stack's EventsTopicArn "
                        "output)")
    if code in ("UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId", "ExpiredToken",
                "ExpiredTokenException", "SignatureDoesNotMatch"):
        return CliError(f"AWS refused the credentials ({code}): {CREDENTIALS_HINT}")
    if code in ("AccessDenied", "AccessDeniedException", "AuthorizationError"):
        return CliError(f"AWS denied {operation} ({message}): these credentials lack the permission", FAILED)
    return CliError(f"AWS {operation} failed: {code}: {message}", FAILED)

