"""The one redaction rule for anything that may carry a secret: URLs, DSNs, query strings,
headers, error messages and log lines.

Every message, log line and HTTP answer that can hold text from outside (a database URL, a
request line, a driver's error) goes through :func:`redact` before anyone sees it. It hides:

- the password of a URL's user-info: ``postgresql://u:pw@h/db`` -> ``postgresql://u:***@h/db``;
- the value of a secret-named key in a query string, a key=value DSN or JSON text:
  ``?password=…``, ``password=… host=…``, ``token=…``, ``"api_key": "…"``;
- the credentials of an ``Authorization`` header or a ``Bearer …`` value;
- the path of a Slack incoming-webhook URL (the URL is the credential);
- any literal secret handed in (the configured API tokens), wherever it appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# Key names whose value is a secret, in a query string, a libpq DSN or JSON (case-insensitive).
SECRET_KEYS = ("password", "passwd", "pwd", "pass", "sslpassword", "token", "access_token",
               "refresh_token", "id_token", "api_key", "apikey", "secret", "client_secret",
               "ticket", "auth", "key", "private_key")

# Literal secrets shorter than this are not searched for: a 3-letter "token" would mask
# ordinary words. Configured API tokens are much longer (docs/api.md: openssl rand -hex 16).
MIN_LITERAL = 8

_KEYS = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
# scheme://[user-info@]host… — the user-info is everything up to the LAST '@' of the netloc,
# since an unencoded '@' inside a password is common in hand-written URLs
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<netloc>[^/?#\s\"'<>]*)")
# key=value in a query string or a DSN: the value ends at & ; , whitespace or a quote,
# or is itself quoted ('…' with \' escapes, as libpq allows)
_KEY_VALUE = re.compile(
    rf"(?i)(?P<key>(?<![A-Za-z0-9_])(?:{_KEYS}))(?P<sep>\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'?|\"[^\"]*\"?|[^&;,\s'\"]*)")
# "key": "value" in JSON text
_JSON = re.compile(rf"(?i)(?P<key>\"(?:{_KEYS}|authorization)\"\s*:\s*)"
                   r"(?P<value>\"(?:[^\"\\]|\\.)*\"?)")
# an Authorization header or parameter (its scheme kept, its credentials masked) and a bare
# "Bearer <credentials>"
_AUTH_HEADER = re.compile(r"(?i)(?P<key>authorization\s*[:=]\s*)(?P<scheme>[A-Za-z]+\s+)?"
                          r"(?P<value>[^\s\"',;&\\]+)")
_BEARER = re.compile(r"(?P<key>\b(?:Bearer|BEARER|bearer)\s+)(?P<value>[A-Za-z0-9\-._~+/]{8,}=*)")
# a Slack incoming-webhook URL is itself the credential (its path)
_SLACK_HOOK = re.compile(r"(?P<key>hooks\.slack\.com/services/)(?P<value>[^\s\"'<>]+)")


def _netloc(match: re.Match[str]) -> str:
    netloc = match.group("netloc")
    if "@" not in netloc:
        return match.group(0)
    userinfo, host = netloc.rsplit("@", 1)
    user, colon, _ = userinfo.partition(":")
    return f"{match.group('scheme')}{user}{':' + MASK if colon else ''}@{host}"


def _key_value(match: re.Match[str]) -> str:
    return f"{match.group('key')}{match.group('sep')}{MASK}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every password, token and credential it holds replaced by ``***``."""
    out = _URL.sub(_netloc, text)
    out = _JSON.sub(lambda m: f'{m.group("key")}"{MASK}"', out)
    out = _AUTH_HEADER.sub(lambda m: f"{m.group('key')}{m.group('scheme') or ''}{MASK}", out)
    out = _KEY_VALUE.sub(_key_value, out)
    out = _BEARER.sub(lambda m: f"{m.group('key')}{MASK}", out)
    out = _SLACK_HOOK.sub(lambda m: f"{m.group('key')}{MASK}", out)
    for secret in sorted({s for s in secrets if len(s) >= MIN_LITERAL}, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out
