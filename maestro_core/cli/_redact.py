"""Keeping connection strings and credentials out of output and logs.

A configuration file holds secrets in backend options: a MongoDB ``uri`` with
a password in it, an API ``token``. The command line never prints an option
value, but a backend's error message or log line may quote one. Every string
the command line writes, and every log record made while it runs, goes
through a :class:`Redactor` that knows the secrets of the loaded
configuration and replaces them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["MASK", "Redactor", "is_sensitive_key", "redact_options"]

MASK = "***"

_SENSITIVE_KEY = re.compile(
    r"uri|url|dsn|pass(word|wd)?|secret|token|credential|key|auth", re.IGNORECASE
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
_MIN_SECRET_LENGTH = 3


def is_sensitive_key(key: str) -> bool:
    """Whether an option called *key* may hold a connection string or secret."""
    return bool(_SENSITIVE_KEY.search(key))


def _is_sensitive(key: str, value: Any) -> bool:
    return is_sensitive_key(key) or (isinstance(value, str) and "://" in value)


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """*options* with every value that may be a secret replaced by ``***``."""
    return {
        key: MASK if _is_sensitive(key, value) else value
        for key, value in options.items()
    }


def _secrets_of(key: str, value: Any) -> Iterator[str]:
    if isinstance(value, (list, tuple)):
        for element in value:
            yield from _secrets_of(key, element)
        return
    if not _is_sensitive(key, value) or isinstance(value, bool):
        return
    text = str(value)
    yield text
    if "://" in text:
        with contextlib.suppress(ValueError):
            parts = urllib.parse.urlsplit(text)
            if parts.password:
                yield parts.password
                yield urllib.parse.unquote(parts.password)
            if parts.username and parts.password:
                yield f"{parts.username}:{parts.password}"


class Redactor:
    """Replaces known secrets, and credentials inside any URL, in text."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Also replace each of *secrets* from now on."""
        self._secrets.update(s for s in secrets if len(s) >= _MIN_SECRET_LENGTH)

    def add_options(self, options: Mapping[str, Any]) -> None:
        """Also replace the values of *options* that may be secrets."""
        for key, value in options.items():
            self.add(_secrets_of(key, value))

    def __call__(self, text: str) -> str:
        # Longest first, so a password inside a known URI does not break the
        # URI's own replacement into pieces.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return _URL_CREDENTIALS.sub(rf"\g<scheme>{MASK}@", text)

    @contextlib.contextmanager
    def logging_records(self) -> Iterator[None]:
        """Redact every log record created inside the block, whoever logs it.

        A record factory rather than a handler filter, so that handlers added
        by anyone (a test's capture, an application's own) get clean records.
        """
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            self._clean(record)
            return record

        logging.setLogRecordFactory(factory)
        try:
            yield
        finally:
            logging.setLogRecordFactory(previous)

    def _clean(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; leave it to the handler to report
            return
        record.msg, record.args = self(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self(record.stack_info)
