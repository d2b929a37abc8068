"""A stored config value this version cannot use falls back to the default with one warning
per process, in process (a worker that keeps running: tests/cli/test_config_fallback.py)."""

from tests.cli.test_config_fallback import BAD, store_raw


def test_commands_warn_once_per_bad_value_and_use_the_default(clean, cli):
    store_raw(clean, BAD)
    result = cli("config", "list")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == len(BAD)
    assert any("poll_interval = '1e-05' is unusable" in w and "default 1s" in w
               for w in warnings)
    assert cli("config", "get", "poll_interval").stdout == "poll_interval = 1s\n"
    assert cli("status").returncode == 0
