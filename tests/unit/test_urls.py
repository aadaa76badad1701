"""Only https, or http to this machine's loopback address, for the URLs mediahook opens itself (lib/urls.py):
the TDMQ-CMQ API client and the CLI's posts refuse anything else before a request is made."""

from __future__ import annotations

from unittest import mock

import pytest

from lib.settings import ConfigError
from lib.urls import insecure_url, require_secure_url

ALLOWED = ["https://cmq-gz.public.tencenttdmq.com", "https://abc.execute-api.us-east-1.amazonaws.com/callback",
           "http://127.0.0.1:3000/callback", "http://127.8.9.1/x", "http://localhost:5000", "http://[::1]:8080/"]
REFUSED = ["http://cmq-gz.public.tencenttdmq.com", "http://10.0.0.5/callback", "http://example.com/callback?token=t",
           "file:///etc/passwd", "ftp://example.com/x", "gopher://127.0.0.1/", "https://", "127.0.0.1:3000/callback",
           "http://localhost.example.com/", ""]


@pytest.mark.parametrize("url", ALLOWED)
def test_https_and_loopback_http_may_be_opened(url: str) -> None:
    assert insecure_url(url) is None
    assert require_secure_url(url, "--url") == url


@pytest.mark.parametrize("url", REFUSED)
def test_anything_else_is_refused_naming_where_it_came_from(url: str) -> None:
    with pytest.raises(ValueError, match=r"^--url: an https:// URL expected \(http:// only to 127\.0\.0\.1"):
        require_secure_url(url, "--url")


def test_the_cli_post_refuses_before_opening_anything() -> None:
    from lib.cli.common import post

    with mock.patch("urllib.request.urlopen") as urlopen, pytest.raises(ValueError, match="--url: an https://"):
        post("http://example.com/callback/vod?token=secret", "{}")
    urlopen.assert_not_called()


def test_a_cmq_endpoint_over_plain_http_is_a_config_error_naming_the_variable() -> None:
    from lib.cmq import CmqClient, CmqSettings

    env = {"CMQ_QUEUE_NAME": "q", "CMQ_REGION": "gz", "TENCENTCLOUD_SECRET_ID": "id", "TENCENTCLOUD_SECRET_KEY": "k"}
    with pytest.raises(ConfigError, match=r"^CMQ_ENDPOINT: an https:// URL expected"):
        CmqSettings.from_env({**env, "CMQ_ENDPOINT": "http://cmq-gz.public.tencenttdmq.com"})
    assert CmqSettings.from_env({**env, "CMQ_ENDPOINT": "http://127.0.0.1:9000"}).cmq_endpoint == "http://127.0.0.1:9000"
    with pytest.raises(ValueError, match="CMQ endpoint: an https:// URL expected"):
        CmqClient("file:///tmp/queue", "gz", "id", "key")
    assert CmqClient("https://cmq-gz.public.tencenttdmq.com", "gz", "id", "key").url == (
        "https://cmq-gz.public.tencenttdmq.com/v2/index.php")


@pytest.mark.parametrize("command", ["send", "smoke"])
def test_a_cli_url_over_plain_http_to_a_host_is_a_usage_error(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from lib.cli import main

    argv = [command, *(["events/vod/NewFileUpload.json"] if command == "send" else []),
            "--url", "http://example.com/callback"]
    with mock.patch("urllib.request.urlopen") as urlopen:
        code = main(argv)
    assert code == 2
    (error,) = capsys.readouterr().err.strip().splitlines()  # one line, no traceback
    assert error.startswith(f"mediahook {command}: --url 'http://example.com/callback' is not a URL mediahook sends "
                            "to (an https:// URL expected (http:// only to 127.0.0.1, ::1 or localhost, for a local "
                            "stack)): give the"), error
    assert "CallbackUrl" in error
    urlopen.assert_not_called()
