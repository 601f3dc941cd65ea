"""The probe's secret handling: which variable names look secret, and how credentials are scrubbed from values
and direct_url.json wherever they stand in them."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcheck import probe
from envcheck.rules.environment import EFFECTS

R = probe.REDACTED

# --- names -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "AWS_SECRET_ACCESS_KEY",
        "GITHUB_TOKEN",
        "DB_PASSWORD",
        "API_KEY",
        "OPENAI_APIKEY",
        "GOOGLE_CREDENTIALS",
        "PRIVATE_KEY",
        "SESSION_ID",
        "DATABASE_DSN",
        "KEY",
        # the forms the issue names, as words of the name
        "MYSQL_PW",
        "REDIS_PASS",
        "FTP_PASSWD",
        "PGPASS",
        "PGPASSWORD",
        "AZURE_STORAGE_SAS",
        "SLACK_WEBHOOK_URL",
        "GPG_PRIVATE",
        "BASIC_AUTH",
        "SSH_AUTH_SOCK",
        "FLASK_SESSION",
        "BROWSER_COOKIE",
        "SENTRY_DSN",
        "DB_CONN",
        "AZURE_STORAGE_CONNECTION_STRING",
        "TLS_CERT",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "DOCKER_CREDS",
        "JWT",
        "GITLAB_PAT",
        # separators and case
        "my-token",
        "db.pass",
        "dbPassword",
        "apiKey",
        "HFTOKEN",
        "MYSECRET",
        "SSHKEY",
        "OAUTH2_CLIENT",
        "x-api-key",
    ],
)
def test_secret_names(name: str) -> None:
    assert probe.is_secret_name(name)


# Every allow-listed name, and the ones the numerics rules explain, stay readable: a redacted numerics variable
# would hide drift that changes results.
KEPT = sorted(
    {*probe.ENV_NAMES, *EFFECTS}
    | {"KMP_AFFINITY", "KMP_BLOCKTIME", "KMP_HW_SUBSET", "KMP_SETTINGS", "LC_ALL", "LC_NUMERIC"}
    | {"NVIDIA_REQUIRE_CUDA"}
    | {"TOKENIZERS_PARALLELISM", "PATH", "PYTHONPATH", "HOME", "MAX_CONNECTIONS", "KEYBOARD", "PASSES"}
)


@pytest.mark.parametrize("name", KEPT)
def test_numerics_names_are_not_secret(name: str) -> None:
    assert not probe.is_secret_name(name)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("AWS_SECRET_ACCESS_KEY", ["AWS", "SECRET", "ACCESS", "KEY"]),
        ("dbPassword", ["DB", "PASSWORD"]),
        ("APIKey", ["API", "KEY"]),
        ("my-db.pass word", ["MY", "DB", "PASS", "WORD"]),
        ("OAUTH2", ["OAUTH", "2"]),
    ],
)
def test_name_words(name: str, words: list[str]) -> None:
    assert probe.name_words(name) == words


def test_select_env_redacts_secret_names_given_with_env() -> None:
    environ = {
        "OMP_NUM_THREADS": "4",
        "KMP_AFFINITY": "granularity=fine",
        "MKL_CBWR": "AVX2",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        "OMP_PLACES": "{0:4}",
        "PGPASS": "hunter2-pgpass",
        "MY_SAS": "sv=2021&sig=abc-sas",
        "LC_TOKEN": "lc-token-value",
        "MY_FLAG": "on",
    }
    got = probe.select_env(environ, extra=["PGPASS", "MY_SAS", "MY_FLAG"])
    assert got["variables"] == {
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        "KMP_AFFINITY": "granularity=fine",
        "MKL_CBWR": "AVX2",
        "MY_FLAG": "on",
        "OMP_NUM_THREADS": "4",
        "OMP_PLACES": "{0:4}",
    }
    assert got["redacted"] == ["LC_TOKEN", "MY_SAS", "PGPASS"]
    assert not any(s in json.dumps(got) for s in ("hunter2", "abc-sas", "lc-token"))


# --- values ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://user:ghp_s3cr3t@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://__token__:pypi-AgEIcHlwaS5vcmc@example.org/simple/x.whl", "https://example.org/simple/x.whl"),
        ("https://example.org/pkg.whl?token=abc123&x=1#sha256=00", "https://example.org/pkg.whl"),
        ("git+ssh://git@github.com/org/repo.git", "git+ssh://git@github.com/org/repo.git"),
        ("GIT+SSH://git@github.com/org/repo.git", "GIT+SSH://git@github.com/org/repo.git"),
        ("https://git@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("ssh://git:tok@github.com/r", "ssh://github.com/r"),
        ("file:///home/me/src/pkg", "file:///home/me/src/pkg"),
        ("not a url", "not a url"),
        ("  HTTPS://u:p@ss@host/x", "  HTTPS://host/x"),
        ("https:\\\\u:p@host\\x", "https:\\\\host\\x"),
        ("https://tok3n@host/p", "https://host/p"),
        ("https://u:pa/ss@host/x", "https://host/x"),
        ("https://u:pa?ss#x@host/x", "https://host/x"),
        ("http://u:p@h1/x,http://u2:p2@h2/y", "http://h1/x,http://h2/y"),
        ("--xla_dump_to=gs://b/x?token=abc --xla_foo", "--xla_dump_to=gs://b/x --xla_foo"),
        ("redis at tcp://:pw@cache:6379/0 and more", "redis at tcp://cache:6379/0 and more"),
        ("user:pass@db:5432/x", "db:5432/x"),
        ("url=user:p@ss@db/x", "url=db/x"),
        ("dsn=user:p@ss@db/x", f"dsn={R}"),
        ("[user:pass@db] {u:p@h} a|u:p@h path/u:p@h", "[db] {h} a|h path/h"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("https://github.com/org/repo.git@v1.0", "https://github.com/org/repo.git@v1.0"),
        ("http://[::1]:8080/a@b", "http://[::1]:8080/a@b"),
        ("host=db password=hunter2 user=me", f"host=db password={R} user=me"),
        ("AccountName=x;AccountKey=abc+/==;EndpointSuffix=c", f"AccountName=x;AccountKey={R};EndpointSuffix=c"),
        ("sv=2022&sig=AbC%2Bd&se=2030", f"sv=2022&sig={R}&se=2030"),
        ("Authorization: Bearer abc.def", f"Authorization: {R} {R}"),
        ("--password hunter2 --api-key=xyz", f"--password {R} --api-key={R}"),
        ('{"password": "x y", "n": 1}', f'{{"password": {R}, "n": 1}}'),
        ("x ghp_abcdefghijklmnopqrstuvwxyz012 y", f"x {R} y"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", R),
        ("cuda>=12.0 brand=tesla,driver>=470", "cuda>=12.0 brand=tesla,driver>=470"),
        ("granularity=fine,compact,1,0", "granularity=fine,compact,1,0"),
        ("expandable_segments:True,max_split_size_mb:128", "expandable_segments:True,max_split_size_mb:128"),
        (":4096:8", ":4096:8"),
        ("Europe/Paris", "Europe/Paris"),
        (":America/New_York", ":America/New_York"),
        ("8.0;8.6+PTX", "8.0;8.6+PTX"),
        # a quoted value runs to the quote that closes it, past escaped ones
        ("password='a\\'b c' next", f"password={R} next"),
        ('secret="x\\"y z" n', f"secret={R} n"),
        ("--password\nabc rest", f"--password\n{R} rest"),
    ],
)
def test_scrub_value(value: str, expected: str) -> None:
    assert probe.scrub_value(value) == expected
    assert probe.scrub_value(expected) == expected  # scrubbing twice changes nothing


def test_strip_url_credentials_keeps_the_text_around() -> None:
    assert probe.strip_url_credentials("see https://u:p@h/x?t=1 now") == "see https://h/x now"


# --- direct_url.json ---------------------------------------------------------------------------------------------

TOKEN = "tok3nS3cr3tValue"


@pytest.mark.parametrize(
    ("direct", "expected"),
    [
        (
            {"url": f"  https://user:{TOKEN}@github.com/o/r.git", "vcs_info": {"vcs": "git", "commit_id": "ab12"}},
            {"url": "https://github.com/o/r.git", "kind": "vcs", "vcs": "git", "commit_id": "ab12"},
        ),
        (
            {"url": f"https:\\\\u:p@{TOKEN}@host\\r.git", "vcs_info": {"vcs": "git", "commit_id": "ab"}},
            {"url": "https:\\\\host\\r.git", "kind": "vcs", "vcs": "git", "commit_id": "ab"},
        ),
        (
            {"url": f"HTTPS://{TOKEN}@host/r", "vcs_info": {"vcs": "git", "requested_revision": f"token={TOKEN}"}},
            {"url": "HTTPS://host/r", "kind": "vcs", "vcs": "git", "requested_revision": f"token={R}"},
        ),
        (
            {"url": "https://h/r", "vcs_info": {"vcs": "git", "requested_revision": f"https://u:{TOKEN}@h/b"}},
            {"url": "https://h/r", "kind": "vcs", "vcs": "git", "requested_revision": "https://h/b"},
        ),
        (
            {"url": "git+ssh://git@github.com/o/r.git", "vcs_info": {"vcs": "git", "commit_id": "ab"}},
            {"url": "git+ssh://git@github.com/o/r.git", "kind": "vcs", "vcs": "git", "commit_id": "ab"},
        ),
        (
            {"url": f"https://h/p.whl?sig={TOKEN}", "archive_info": {"hash": f"sha256=ab?key={TOKEN}"}},
            {"url": "https://h/p.whl", "kind": "archive", "archive_hash": f"sha256=ab?key={R}"},
        ),
        (
            {"url": {"token": TOKEN}, "dir_info": {}, "subdirectory": TOKEN},
            {"kind": "dir"},
        ),
    ],
    ids=["leading-blank", "backslashes-at-in-password", "user-only-mixed-case", "revision-url", "git-user",
         "archive-query", "not-a-string"],
)  # fmt: skip
def test_parse_direct_url_scrubs_every_field(direct: dict[str, object], expected: dict[str, str]) -> None:
    got = probe.parse_direct_url(json.dumps(direct))
    assert got == expected
    assert TOKEN not in json.dumps(got)


# --- properties --------------------------------------------------------------------------------------------------

SECRETS = st.text(string.ascii_letters + string.digits, min_size=12, max_size=24).map(lambda s: "Zq" + s)
SAFE = st.text(string.ascii_letters + string.digits + "-_./", max_size=10)
KEYS = st.sampled_from(["token", "key", "password", "secret", "sig", "api_key", "AccountKey", "pwd", "passwd",
                        "access_token", "X-Amz-Signature", "auth", "private_token", "sas"])  # fmt: skip
SCHEMES = st.sampled_from(["https", "HTTP", "git+https", "Git+Ssh", "s3", "postgresql", "redis"])
SLASHES = st.sampled_from(["//", "\\\\", "/\\", "///"])


@st.composite
def secret_in_value(draw: st.DrawFn) -> tuple[str, str]:
    """(a secret, a value that holds it where a credential goes), text around it."""
    secret = draw(SECRETS)
    host = draw(st.sampled_from(["github.com", "db:5432", "10.0.0.1", "[::1]:8080", "h"]))
    path = draw(SAFE)
    user = draw(st.sampled_from(["", "u", "__token__", "git", "x@y"]))
    scheme, slashes = draw(SCHEMES), draw(SLASHES)
    password = draw(st.sampled_from(["{}", "@{}", "{}@x", "p@{}@q", "{}/x", "a?{}", "{}#x"])).format(secret)
    key = draw(KEYS)
    forms = [
        f"{scheme}:{slashes}{user}:{password}@{host}/{path}",
        f"{scheme}:{slashes}{secret}@{host}/{path}",
        f"{scheme}:{slashes}{host}/{path}?a=1&{key}={secret}#f",
        f"{scheme}:{slashes}{host}/{path}#{secret}",
        f"{user or 'u'}:{password}@{host}/{path}",
        f"{key}={secret}",
        f"{key}: {secret}",
        f'"{key}": "{secret}"',
        f"--{key} {secret}",
        f"--{key}={secret}",
        f"Bearer {secret}",
        f"a=1;{key}={secret};b=2",
    ]
    form = draw(st.sampled_from(forms))
    before = draw(st.sampled_from(["", " ", "--xla_dump_to=", "x ", "a,", "url="]))
    after = draw(st.sampled_from(["", " ", " --flag", ",x", ";y"]))
    return secret, before + form + after


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret_in_value())
def test_no_secret_survives_scrubbing(case: tuple[str, str]) -> None:
    secret, value = case
    scrubbed = probe.scrub_value(value)
    assert secret not in scrubbed
    assert probe.scrub_value(scrubbed) == scrubbed


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_scrub_value_never_fails(value: str) -> None:
    scrubbed = probe.scrub_value(value)
    assert probe.scrub_value(scrubbed) == scrubbed


@pytest.mark.parametrize(
    "value",
    [
        "a:" + "b" * 200_000 + " https://" + "c" * 200_000 + " x=" * 50_000,
        "a:" * 100_000,
        "h://a:" * 50_000,
        "-eyJ" * 50_000,
        "(a:b" * 100_000,
        "x=a;" * 100_000,
        "b" * 400_000,
    ],
    ids=["mixed", "colons", "urls", "jwt-starts", "parens", "pairs", "one-word"],
)
def test_scrub_value_is_linear_on_a_huge_value(value: str) -> None:
    """A process's environment can be megabytes: every pattern of a few hundred kB takes well under a second here
    (a quadratic one took minutes)."""
    import time

    started = time.perf_counter()
    probe.scrub_value(value)
    assert time.perf_counter() - started < 5.0
