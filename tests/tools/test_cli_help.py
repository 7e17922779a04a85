import pytest


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["info"], "--input-size"),
        (["summary"], "--depth"),
        (["benchmark"], "--channels-last"),
        (["export"], "--static-batch"),
        (["visualize"], "pos-embed"),
        (["visualize", "pos-embed"], "--checkpoint"),
        (["visualize", "features"], "IMAGE"),
        (["train"], "--precision"),
        (["train"], "--overwrite"),
        (["train"], "--checkpoint"),
        (["validate"], "--precision"),
        (["benchmark"], "--precision"),
        (["predict"], "--checkpoint"),
    ],
)
def test_help(cli, argv, needle):
    code, out, _ = cli(*argv, "--help")
    assert code == 0
    assert needle in out


@pytest.mark.parametrize("command", ["info", "summary", "benchmark", "export"])
def test_json_flag(cli, command):
    _, out, _ = cli(command, "--help")
    assert "--json" in out


def test_missing_argument_is_a_usage_error(cli):
    code, _, err = cli("export")
    assert code == 2 and "MODEL" in err


def test_usage_errors_are_one_line(cli):
    code, _, err = cli("predict", "m", "--topk", "many")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--topk" in err and "--help" in err
