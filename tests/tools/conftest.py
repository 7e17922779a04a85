import pytest

from visionzoo.cli import main

from .tiny_models import register_tiny_models

register_tiny_models()


@pytest.fixture
def cli(capsys):
    """Run `visionzoo ARGS...`; returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse: --help, usage errors
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


def assert_user_error(result: tuple[int, str, str], *needles: str) -> None:
    """A non-zero exit with one line on stderr naming the problem, and no traceback."""
    code, _, err = result
    assert code != 0
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])
