"""Hostile and damaged checkpoints: owned memory, self-reference, odd dtypes and keys, NaN, pickle protocols,
unreadable paths, and absurd class counts. Every file is written under tmp_path."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import visionzoo
from visionzoo.weights.errors import CheckpointMismatchError, CorruptCheckpointError, UnsafeCheckpointError
from visionzoo.weights.serialization import read_state_dict

from .tiny import ARCH, Payload, save_safetensors, tiny_state_dict

REPO = Path(__file__).resolve().parents[2]
SRC = Path(visionzoo.__file__).resolve().parents[1]


def _save(sd: dict, path: Path, fmt: str) -> Path:
    if fmt == "safetensors":
        return save_safetensors(sd, path)
    torch.save(sd, path, _use_new_zipfile_serialization=fmt == "zip")
    return path


# --- 1. a loaded model owns its memory --------------------------------------------------------------------

_SURVIVOR = r"""
import sys
import torch
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from tests.weights.tiny import ARCH, register
import visionzoo
from visionzoo.weights.serialization import read_state_dict
register()
x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
for fmt, path, other in zip(*[iter(sys.argv[3:])] * 3):
    print(fmt, end=": ", flush=True)
    model = visionzoo.create_model(ARCH, width=64, checkpoint_path=path).eval()
    with torch.no_grad():
        before = model(x)
        # saving over the file the model was loaded from (a mapped model dies here with SIGBUS)
        torch.save(model.state_dict(), path)
        saved = read_state_dict(path)
        assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items()), "saved file differs"
        # the file's bytes are replaced in place by other weights
        with open(other, "rb") as src, open(path, "r+b") as dst:
            dst.write(src.read())
            dst.truncate()
        assert torch.equal(model(x), before), "outputs changed with the file"
        open(path, "wb").close()  # truncated to nothing under the live model
        assert torch.equal(model(x), before), "outputs changed after truncation"
    print("survived", flush=True)
"""
FORMATS = ("safetensors", "zip", "legacy")


def test_model_survives_its_file_being_saved_over_replaced_and_truncated(tmp_path):
    args = []
    for fmt in FORMATS:  # named .bin whatever the format (the content is sniffed): torch.save writes in place
        path = _save(tiny_state_dict(width=64), tmp_path / f"w_{fmt}.bin", fmt)
        other = _save(tiny_state_dict(seed=7, width=64), tmp_path / f"other_{fmt}.bin", fmt)
        args += [fmt, str(path), str(other)]
    # in one child process for all formats: a memory-mapped parameter dies with SIGBUS, sparing pytest
    proc = subprocess.run(
        [sys.executable, "-c", _SURVIVOR, str(SRC), str(REPO), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0 and proc.stdout.count("survived") == len(FORMATS), (
        f"rc={proc.returncode} (-7 is SIGBUS) after {proc.stdout!r}: {proc.stderr[-800:]}"
    )


# --- 2. self-referencing wrappers ---------------------------------------------------------------------------


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Turn a hang into a failure (SIGALRM in the main thread)."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _self_ref():
    d = {}
    d["model"] = d
    return d


def _cycle():
    a, b = {}, {}
    a["state_dict"], b["model"] = b, a
    return a


def _deep():
    obj = tiny_state_dict()
    for _ in range(20):
        obj = {"state_dict": obj}
    return obj


@pytest.mark.parametrize("make", [_self_ref, _cycle, _deep], ids=["self", "cycle", "deep"])
def test_self_referencing_checkpoint_is_corrupt_error_not_a_hang(tmp_path, make):
    path = tmp_path / "loop.pth"
    torch.save(make(), path)
    with _time_limit(10), pytest.raises(CorruptCheckpointError, match=rf"{path}.*more than 8 deep"):
        read_state_dict(path)


def test_ordinary_nesting_still_unwraps(tmp_path):
    sd = tiny_state_dict()
    torch.save({"state_dict": {"model": {"module": sd}}}, tmp_path / "n.pth")
    assert torch.equal(read_state_dict(tmp_path / "n.pth")["fc.bias"], sd["fc.bias"])


# --- 3. keys and dtypes ------------------------------------------------------------------------------------


def test_integer_key_is_corrupt_error_naming_file_and_key(tmp_path):
    path = tmp_path / "intkey.pth"
    torch.save({**tiny_state_dict(), 17: torch.zeros(3)}, path)
    with pytest.raises(CorruptCheckpointError, match=rf"{path} has a key that is not a string: 17 \(int\)"):
        visionzoo.create_model(ARCH, checkpoint_path=path)


@pytest.mark.parametrize("fmt", ["safetensors", "zip"])
@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16, torch.float64], ids=["fp16", "bf16", "fp64"]
)
def test_floating_checkpoint_is_cast_to_the_models_dtype(tmp_path, fmt, dtype):
    sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tiny_state_dict().items()}
    path = _save(sd, tmp_path / f"w.{fmt}", fmt)
    model = visionzoo.create_model(ARCH, checkpoint_path=path)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert model.bn1.running_var.dtype == torch.float32
    assert model.bn1.num_batches_tracked.dtype == torch.int64
    assert torch.equal(model.conv2.weight, sd["conv2.weight"].float())
    assert model.eval()(torch.randn(1, 3, 8, 8)).dtype == torch.float32  # fp32 input works as before


def test_dtype_argument_still_wins(tmp_path):
    path = _save(tiny_state_dict(), tmp_path / "w.safetensors", "safetensors")
    model = visionzoo.create_model(ARCH, checkpoint_path=path, dtype=torch.bfloat16)
    assert model.fc.weight.dtype == torch.bfloat16


@pytest.mark.parametrize("bad", [torch.int64, torch.bool], ids=["int64", "bool"])
def test_integer_tensor_for_a_float_parameter_names_file_and_key(tmp_path, bad):
    sd = tiny_state_dict()
    sd["conv2.weight"] = torch.ones_like(sd["conv2.weight"], dtype=bad)
    path = _save(sd, tmp_path / "w.safetensors", "safetensors")
    with pytest.raises(CheckpointMismatchError, match=rf"{path}: 'conv2.weight' is a {bad} tensor.*float32"):
        visionzoo.create_model(ARCH, checkpoint_path=path)


def test_float_tensor_for_an_integer_buffer_is_an_error(tmp_path):
    sd = tiny_state_dict()
    sd["bn1.num_batches_tracked"] = torch.tensor(3.5)
    path = _save(sd, tmp_path / "w.pth", "zip")
    with pytest.raises(CheckpointMismatchError, match="'bn1.num_batches_tracked' is a torch.float32"):
        visionzoo.create_model(ARCH, checkpoint_path=path)


# --- 4. non-finite weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["safetensors", "zip"])
def test_nan_or_inf_weights_are_refused_naming_the_keys(tmp_path, fmt):
    sd = tiny_state_dict()
    sd["conv2.weight"][0, 0, 0, 0] = float("nan")
    sd["fc.bias"][3] = float("-inf")
    path = _save(sd, tmp_path / f"w.{fmt}", fmt)
    with pytest.raises(
        CorruptCheckpointError, match=rf"{path} holds NaN or infinite .* 2 tensor.*conv2\.weight, fc\.bias"
    ):
        visionzoo.create_model(ARCH, checkpoint_path=path)
    # a damaged head that is dropped for a new class count does no harm
    sd = tiny_state_dict()
    sd["fc.weight"][0, 0] = float("nan")
    path = _save(sd, tmp_path / f"head.{fmt}", fmt)
    model = visionzoo.create_model(
        ARCH, pretrained=True, num_classes=4, pretrained_cfg_overlay=dict(file=str(path))
    )
    assert torch.isfinite(model.fc.weight).all()
    assert torch.equal(model.conv2.weight, sd["conv2.weight"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_huge_but_finite_weights_still_load(tmp_path, dtype):
    sd = tiny_state_dict()
    big = torch.finfo(dtype).max
    sd["fc.weight"][0, :4] = big  # finite, though their sum overflows
    sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    path = _save(sd, tmp_path / "w.safetensors", "safetensors")
    model = visionzoo.create_model(ARCH, checkpoint_path=path)
    assert torch.equal(model.fc.weight[0, :4], torch.full((4,), big))


def test_float64_overflowing_to_inf_is_caught(tmp_path):
    sd = {k: v.double() if v.is_floating_point() else v for k, v in tiny_state_dict().items()}
    sd["fc.weight"][0, 0] = 1e300  # finite in fp64, inf once cast to the model's fp32
    path = _save(sd, tmp_path / "w.safetensors", "safetensors")
    with pytest.raises(CorruptCheckpointError, match="fc.weight"):
        visionzoo.create_model(ARCH, checkpoint_path=path)


# --- 5. pickled code in every protocol ---------------------------------------------------------------------


_QUIET_PROTOCOL = pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's own warning


@_QUIET_PROTOCOL
@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("writer", ["pickle", "torch_zip", "torch_legacy"])
def test_pickled_code_is_unsafe_in_every_protocol(tmp_path, protocol, writer):
    marker = tmp_path / "marker"
    path = tmp_path / f"evil_{writer}_{protocol}.pth"
    obj = {"state_dict": tiny_state_dict(), "payload": Payload(str(marker))}
    if writer == "pickle":  # plain pickle has no safe form for tensors: code only
        path.write_bytes(pickle.dumps({"payload": Payload(str(marker))}, protocol=protocol))
    else:
        torch.save(obj, path, pickle_protocol=protocol, _use_new_zipfile_serialization=writer == "torch_zip")
    with pytest.raises(
        UnsafeCheckpointError, match=rf"refusing to load {path}.*open.*Nothing in it was executed"
    ):
        read_state_dict(path)
    assert not marker.exists()


@_QUIET_PROTOCOL
def test_protocol_4_without_code_is_not_called_unsafe(tmp_path):
    path = tmp_path / "p4.pth"
    torch.save(tiny_state_dict(), path, pickle_protocol=4)
    with pytest.raises(CorruptCheckpointError, match=rf"{path}.*protocol 4 or 5"):
        read_state_dict(path)


# --- 6. paths that cannot be read --------------------------------------------------------------------------


def test_missing_safetensors_is_not_found(tmp_path):
    path = tmp_path / "gone.safetensors"
    with pytest.raises(FileNotFoundError, match=rf"not found: {path}"):
        visionzoo.create_model(ARCH, checkpoint_path=path)


@pytest.mark.parametrize("name", ["dir.safetensors", "dir.pth"])
def test_directory_is_not_a_file(tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    with pytest.raises(IsADirectoryError, match=rf"{path} is a directory, not a file"):
        visionzoo.create_model(ARCH, checkpoint_path=path)


def test_dangling_symlink_is_not_found(tmp_path):
    path = tmp_path / "link.safetensors"
    path.symlink_to(tmp_path / "nowhere.safetensors")
    with pytest.raises(FileNotFoundError, match="not found"):
        read_state_dict(path)


def test_name_too_long_is_a_one_line_os_error(tmp_path):
    path = tmp_path / ("x" * 300 + ".safetensors")
    with pytest.raises(OSError, match=r"cannot be read: File name too long"):
        read_state_dict(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_unreadable_file_says_it_cannot_be_read(tmp_path):
    path = save_safetensors(tiny_state_dict(), tmp_path / "locked.safetensors")
    path.chmod(0)
    try:
        with pytest.raises(PermissionError, match=rf"{path} cannot be read: Permission denied"):
            read_state_dict(path)
    finally:
        path.chmod(0o600)


# --- 7. every CorruptCheckpointError names the file --------------------------------------------------------


def _write_bad(kind: str, path: Path) -> None:
    sd = tiny_state_dict()
    if kind == "no_tensors":
        torch.save({"epoch": 3}, path)
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "loop":
        torch.save(_self_ref(), path)
    elif kind == "int_key":
        torch.save({0: torch.zeros(1)}, path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"\x80\x02junk" * 10)
    elif kind == "st_truncated":
        save_safetensors(sd, path)
        path.write_bytes(path.read_bytes()[:-10])
    elif kind == "st_short":
        path.write_bytes(b"\x01\x00")
    elif kind == "st_header_too_long":
        path.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    elif kind == "st_bad_json":
        path.write_bytes((5).to_bytes(8, "little") + b"{nope")
    elif kind == "st_bad_entry":
        header = b'{"a": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}'
        path.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 4)
    elif kind == "st_huge_shape":  # numel overflows int64: must not reach an allocation
        header = b'{"a": {"dtype": "F32", "shape": [4611686018427387904, 8], "data_offsets": [0, 4]}}'
        path.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 4)
    elif kind == "st_wrong_size":
        header = b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}'
        path.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 4)


_BAD = [
    "no_tensors",
    "list",
    "loop",
    "int_key",
    "empty",
    "garbage",
    "st_truncated",
    "st_short",
    "st_header_too_long",
    "st_bad_json",
    "st_bad_entry",
    "st_huge_shape",
    "st_wrong_size",
]


@pytest.mark.parametrize("kind", _BAD)
def test_every_corrupt_checkpoint_error_names_the_file(tmp_path, kind):
    path = tmp_path / (f"{kind}.safetensors" if kind.startswith("st_") else f"{kind}.pth")
    _write_bad(kind, path)
    with _time_limit(10), pytest.raises(CorruptCheckpointError) as info:
        read_state_dict(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_state_dict_key_names_the_file(tmp_path):
    path = tmp_path / "two.pth"
    torch.save({"a": tiny_state_dict()}, path)
    with pytest.raises(CorruptCheckpointError, match=rf"{path} has no entry 'ema'"):
        read_state_dict(path, state_dict_key="ema")


# --- 8. absurd class counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_classes=10**12),
        dict(num_classes=10**7 + 1),
        dict(num_classes=-1),
        dict(pretrained_cfg_overlay=dict(num_classes=10**12)),
        dict(in_chans=10**9),
    ],
    ids=["explicit", "just_above", "negative", "via_cfg", "in_chans"],
)
def test_absurd_sizes_are_value_errors_before_allocating(kwargs):
    with _time_limit(10), pytest.raises(ValueError, match=r"must be >= \d and <= [\d,]+, got -?\d+"):
        visionzoo.create_model(ARCH, **kwargs)


def test_the_accepted_range_is_stated():
    with pytest.raises(ValueError, match=r"num_classes must be >= 0 and <= 10,000,000, got 1000000000000"):
        visionzoo.create_model(ARCH, num_classes=10**12)
    assert visionzoo.create_model(ARCH, num_classes=1000).fc.out_features == 1000


@pytest.mark.parametrize("via", ["argument", "cfg"])
def test_bool_num_classes_is_a_type_error(via):
    kwargs = (
        dict(num_classes=True) if via == "argument" else dict(pretrained_cfg_overlay=dict(num_classes=True))
    )
    with pytest.raises(TypeError, match="num_classes must be an int, got bool True"):
        visionzoo.create_model(ARCH, **kwargs)
