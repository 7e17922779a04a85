"""Image transforms built on PIL and torch: eval resize/crop/normalise and training augmentation.

Each transform is a plain callable (PIL image in, PIL image or tensor out), so they compose
with each other and with torchvision's. Randomness comes from torch's generator, so
`torch.manual_seed` makes a pipeline reproducible (DataLoader workers are seeded by torch).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

from ..weights.cfg import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from .config import CROP_MODES, DEFAULT_CROP_PCT

__all__ = [
    "create_transform",
    "Compose",
    "ResizeShorter",
    "ResizeKeepRatio",
    "Resize",
    "CenterCrop",
    "ToTensor",
    "Normalize",
    "RandomResizedCrop",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "ColorJitter",
    "RandAugment",
    "RandomErasing",
    "rand_augment_transform",
    "pil_interpolation",
    "MAX_ASPECT_RATIO",
    "check_aspect_ratio",
]

# Widest (or tallest) image accepted, as long side : short side. Real panoramas stay well under
# 100:1; beyond it, scaling the short side up to the model's input size costs memory in proportion
# to the ratio (a 10000x1 image resized to a 256 short side would be a 2 GB 2560000x256 image).
MAX_ASPECT_RATIO = 100

_INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
    "lanczos": Image.Resampling.LANCZOS,
}


def pil_interpolation(name: str) -> Image.Resampling:
    """PIL resampling filter for an interpolation name ('bilinear', 'bicubic', ...)."""
    try:
        return _INTERPOLATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown interpolation {name!r}; choose one of {', '.join(_INTERPOLATIONS)}"
        ) from None


def _check_interpolation(name: str, allow_random: bool) -> str:
    if allow_random and name == "random":
        return name
    pil_interpolation(name)
    return name


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()


def _randint(n: int) -> int:
    """Uniform integer in [0, n)."""
    return int(torch.randint(n, ()).item())


def _pick_interp(name: str) -> Image.Resampling:
    if name == "random":
        return (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)[_randint(2)]
    return pil_interpolation(name)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    """(height, width) from an int, (h, w) or (c, h, w)."""
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    size = tuple(size)
    if len(size) == 3:
        size = size[1:]
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(
            f"image size must be an int, (height, width) or (channels, height, width), got {size!r}"
        )
    return size[0], size[1]


def check_aspect_ratio(width: int, height: int) -> None:
    """Raise ValueError for an empty image or one more elongated than MAX_ASPECT_RATIO:1."""
    if width < 1 or height < 1:
        raise ValueError(f"image is empty ({width}x{height})")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ValueError(
            f"a {width}x{height} image has an aspect ratio beyond {MAX_ASPECT_RATIO}:1, "
            "too elongated to resize for a model"
        )


def _check_pil(img: Any) -> Image.Image:
    if not isinstance(img, Image.Image):
        raise TypeError(f"expected a PIL image, got {type(img).__name__}")
    return img


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class ResizeShorter:
    """Scale so the shorter side is `size`; the longer side is truncated to an int, keeping the aspect."""

    def __init__(self, size: int, interpolation: str = "bilinear") -> None:
        self.size = size
        self.interpolation = _check_interpolation(interpolation, allow_random=False)

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = _check_pil(img).size
        check_aspect_ratio(w, h)
        if w <= h:
            new_w, new_h = self.size, int(self.size * h / w)
        else:
            new_w, new_h = int(self.size * w / h), self.size
        if (new_w, new_h) == (w, h):
            return img
        return img.resize((new_w, new_h), pil_interpolation(self.interpolation))

    def __repr__(self) -> str:
        return f"ResizeShorter({self.size}, interpolation={self.interpolation!r})"


class ResizeKeepRatio:
    """Scale, keeping the aspect ratio, so the image covers (longest=0) or fits in (longest=1) `size`."""

    def __init__(
        self, size: int | Sequence[int], interpolation: str = "bilinear", longest: float = 0.0
    ) -> None:
        self.size = _pair(size)
        self.interpolation = _check_interpolation(interpolation, allow_random=False)
        self.longest = float(longest)

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = _check_pil(img).size
        check_aspect_ratio(w, h)
        rh, rw = h / self.size[0], w / self.size[1]
        ratio = max(rh, rw) * self.longest + min(rh, rw) * (1.0 - self.longest)
        new_h, new_w = round(h / ratio), round(w / ratio)
        return img.resize((new_w, new_h), pil_interpolation(self.interpolation))

    def __repr__(self) -> str:
        return f"ResizeKeepRatio({self.size}, interpolation={self.interpolation!r}, longest={self.longest})"


class Resize:
    """Scale to exactly (height, width), ignoring the aspect ratio."""

    def __init__(self, size: int | Sequence[int], interpolation: str = "bilinear") -> None:
        self.size = _pair(size)
        self.interpolation = _check_interpolation(interpolation, allow_random=True)

    def __call__(self, img: Image.Image) -> Image.Image:
        h, w = self.size
        return _check_pil(img).resize((w, h), _pick_interp(self.interpolation))

    def __repr__(self) -> str:
        return f"Resize({self.size}, interpolation={self.interpolation!r})"


class CenterCrop:
    """Crop the centre (height, width); an image smaller than that is first padded with `fill`."""

    def __init__(self, size: int | Sequence[int], fill: int | Sequence[int] = 0) -> None:
        self.size = _pair(size)
        self.fill = fill

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = _check_pil(img).size
        ch, cw = self.size
        if ch > h or cw > w:
            pad_w, pad_h = max(cw - w, 0), max(ch - h, 0)
            fill = tuple(self.fill) if isinstance(self.fill, (list, tuple)) else self.fill
            if img.mode == "L" and isinstance(fill, tuple):
                fill = fill[0]
            canvas = Image.new(img.mode, (w + pad_w, h + pad_h), fill)
            canvas.paste(img, (pad_w // 2, pad_h // 2))
            img, (w, h) = canvas, canvas.size
        top, left = round((h - ch) / 2.0), round((w - cw) / 2.0)
        return img.crop((left, top, left + cw, top + ch))

    def __repr__(self) -> str:
        return f"CenterCrop({self.size})"


class ToTensor:
    """PIL image -> float tensor [C, H, W] in [0, 1]."""

    def __call__(self, img: Image.Image) -> torch.Tensor:
        arr = np.array(_check_pil(img), dtype=np.uint8, copy=True)  # [H, W] or [H, W, C]
        if arr.ndim == 2:
            arr = arr[:, :, None]
        return torch.from_numpy(arr).permute(2, 0, 1).float().div_(255.0)  # [C, H, W]

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """(x - mean) / std per channel of a [C, H, W] (or [B, C, H, W]) tensor."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if any(s == 0 for s in std):
            raise ValueError(f"std must not contain zeros, got {tuple(std)}")
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-3] != len(self.mean):
            raise ValueError(
                f"Normalize has {len(self.mean)} channel means but the tensor has {x.shape[-3]} channels"
            )
        mean = torch.tensor(self.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(-1, 1, 1)
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class RandomResizedCrop:
    """Crop a random area (fraction `scale` of the image, aspect in `ratio`) and resize it to `size`."""

    def __init__(
        self,
        size: int | Sequence[int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        interpolation: str = "bilinear",
    ) -> None:
        self.size = _pair(size)
        if not (0 < scale[0] <= scale[1]) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"scale and ratio must be increasing positive pairs, got {scale}, {ratio}")
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.interpolation = _check_interpolation(interpolation, allow_random=True)

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """A random (left, top, right, bottom) crop box for an image of this size."""
        area = width * height
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * _uniform(*self.scale)
            aspect = math.exp(_uniform(log_lo, log_hi))
            w = round(math.sqrt(target * aspect))
            h = round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                left, top = _randint(width - w + 1), _randint(height - h + 1)
                return left, top, left + w, top + h
        # fall back to the largest centred box of an allowed aspect
        aspect = width / height
        if aspect < self.ratio[0]:
            w, h = width, round(width / self.ratio[0])
        elif aspect > self.ratio[1]:
            w, h = round(height * self.ratio[1]), height
        else:
            w, h = width, height
        left, top = (width - w) // 2, (height - h) // 2
        return left, top, left + w, top + h

    def __call__(self, img: Image.Image) -> Image.Image:
        box = self.box(*_check_pil(img).size)
        h, w = self.size
        return img.resize((w, h), _pick_interp(self.interpolation), box=box)

    def __repr__(self) -> str:
        return f"RandomResizedCrop({self.size}, scale={self.scale}, ratio={self.ratio}, interpolation={self.interpolation!r})"


class RandomHorizontalFlip:
    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img: Image.Image) -> Image.Image:
        return _check_pil(img).transpose(Image.Transpose.FLIP_LEFT_RIGHT) if torch.rand(()) < self.p else img

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomVerticalFlip:
    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img: Image.Image) -> Image.Image:
        return _check_pil(img).transpose(Image.Transpose.FLIP_TOP_BOTTOM) if torch.rand(()) < self.p else img

    def __repr__(self) -> str:
        return f"RandomVerticalFlip(p={self.p})"


def _shift_hue(img: Image.Image, shift: float) -> Image.Image:
    """Rotate the hue by `shift` of a full turn (-0.5..0.5)."""
    if img.mode not in ("RGB",):
        return img
    hsv = np.array(img.convert("HSV"), dtype=np.uint8)  # [H, W, 3]
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(round(shift * 255))) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


class ColorJitter:
    """Random brightness, contrast, saturation (factors in [1-x, 1+x]) and hue (shift in [-x, x]), in random order."""

    def __init__(
        self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0, hue: float = 0.0
    ) -> None:
        if min(brightness, contrast, saturation, hue) < 0 or hue > 0.5:
            raise ValueError("color jitter strengths must be >= 0 (hue <= 0.5)")
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def __call__(self, img: Image.Image) -> Image.Image:
        _check_pil(img)
        ops: list[Callable[[Image.Image], Image.Image]] = []
        for strength, enhancer in (
            (self.brightness, ImageEnhance.Brightness),
            (self.contrast, ImageEnhance.Contrast),
            (self.saturation, ImageEnhance.Color),
        ):
            if strength > 0:
                factor = _uniform(max(0.0, 1 - strength), 1 + strength)
                ops.append(lambda im, e=enhancer, f=factor: e(im).enhance(f))
        if self.hue > 0:
            shift = _uniform(-self.hue, self.hue)
            ops.append(lambda im, s=shift: _shift_hue(im, s))
        for i in torch.randperm(len(ops)).tolist():
            img = ops[i](img)
        return img

    def __repr__(self) -> str:
        return (
            f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue})"
        )


# --- RandAugment ---------------------------------------------------------------------------------


def _signed(v: float) -> float:
    return -v if torch.rand(()) < 0.5 else v


def _affine(img: Image.Image, coeffs: tuple[float, ...], fill: tuple[int, ...]) -> Image.Image:
    return img.transform(img.size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR, fillcolor=fill)


def _solarize_add(img: Image.Image, amount: int) -> Image.Image:
    lut = [min(255, i + amount) if i < 128 else i for i in range(256)]
    return img.point(lut * len(img.getbands()))


# name -> fn(img, level in [0, 1], fill); each maps the level to its own strength
_RA_OPS: dict[str, Callable[[Image.Image, float, tuple[int, ...]], Image.Image]] = {
    "AutoContrast": lambda im, lv, fill: ImageOps.autocontrast(im),
    "Equalize": lambda im, lv, fill: ImageOps.equalize(im),
    "Invert": lambda im, lv, fill: ImageOps.invert(im),
    "Rotate": lambda im, lv, fill: im.rotate(_signed(30.0 * lv), Image.Resampling.BILINEAR, fillcolor=fill),
    "Posterize": lambda im, lv, fill: ImageOps.posterize(im, 8 - min(4, int(4 * lv))),
    "Solarize": lambda im, lv, fill: ImageOps.solarize(im, 256 - int(256 * lv)),
    "SolarizeAdd": lambda im, lv, fill: _solarize_add(im, int(110 * lv)),
    "Color": lambda im, lv, fill: ImageEnhance.Color(im).enhance(1.0 + _signed(0.9 * lv)),
    "Contrast": lambda im, lv, fill: ImageEnhance.Contrast(im).enhance(1.0 + _signed(0.9 * lv)),
    "Brightness": lambda im, lv, fill: ImageEnhance.Brightness(im).enhance(1.0 + _signed(0.9 * lv)),
    "Sharpness": lambda im, lv, fill: ImageEnhance.Sharpness(im).enhance(1.0 + _signed(0.9 * lv)),
    "ShearX": lambda im, lv, fill: _affine(im, (1, _signed(0.3 * lv), 0, 0, 1, 0), fill),
    "ShearY": lambda im, lv, fill: _affine(im, (1, 0, 0, _signed(0.3 * lv), 1, 0), fill),
    "TranslateXRel": lambda im, lv, fill: _affine(im, (1, 0, _signed(0.45 * lv * im.size[0]), 0, 1, 0), fill),
    "TranslateYRel": lambda im, lv, fill: _affine(im, (1, 0, 0, 0, 1, _signed(0.45 * lv * im.size[1])), fill),
}


class RandAugment:
    """Apply `num_ops` operations drawn at random, each with probability `prob`, at strength `magnitude`/`max_magnitude`.

    `magnitude_std` > 0 jitters the magnitude per op with a Gaussian of that width (inf: uniform in [0, magnitude]).
    """

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: float = 9.0,
        magnitude_std: float = 0.0,
        max_magnitude: float = 10.0,
        prob: float = 0.5,
        ops: Sequence[str] | None = None,
        fill: Sequence[int] = (128, 128, 128),
    ) -> None:
        self.ops = list(ops) if ops is not None else list(_RA_OPS)
        unknown = [o for o in self.ops if o not in _RA_OPS]
        if unknown:
            raise ValueError(f"unknown RandAugment op(s) {unknown}; known: {', '.join(_RA_OPS)}")
        self.num_ops, self.magnitude, self.magnitude_std = num_ops, magnitude, magnitude_std
        self.max_magnitude, self.prob, self.fill = max_magnitude, prob, tuple(fill)

    def _level(self) -> float:
        m = self.magnitude
        if self.magnitude_std == float("inf"):
            m = _uniform(0.0, m)
        elif self.magnitude_std > 0:
            m = m + self.magnitude_std * torch.randn(()).item()
        return min(max(m, 0.0), self.max_magnitude) / self.max_magnitude

    def __call__(self, img: Image.Image) -> Image.Image:
        _check_pil(img)
        fill = self.fill if img.mode == "RGB" else self.fill[0]
        for _ in range(self.num_ops):
            name = self.ops[_randint(len(self.ops))]
            if torch.rand(()) < self.prob:
                img = _RA_OPS[name](img, self._level(), fill)
        return img

    def __repr__(self) -> str:
        return (
            f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, "
            f"magnitude_std={self.magnitude_std}, prob={self.prob})"
        )


def rand_augment_transform(config: str, fill: Sequence[int] = (128, 128, 128)) -> RandAugment:
    """RandAugment from a string like 'rand-m9-n2-mstd0.5-mmax10-p0.5'.

    Fields after 'rand': m magnitude (default 9), n ops per image (2), mstd magnitude noise (0),
    mmax magnitude ceiling (10), p probability of each op (0.5).
    """
    parts = config.split("-")
    if parts[0] != "rand":
        raise ValueError(
            f"unknown auto_augment policy {config!r}; use a RandAugment string like 'rand-m9-mstd0.5'"
        )
    kw: dict[str, float] = {}
    for part in parts[1:]:
        m = re.fullmatch(r"(mstd|mmax|inc|m|n|p)([0-9.]+|inf)", part)
        if m is None:
            raise ValueError(f"cannot parse {part!r} in auto_augment policy {config!r}")
        kw[m.group(1)] = float(m.group(2))
    return RandAugment(
        num_ops=int(kw.get("n", 2)),
        magnitude=kw.get("m", 9.0),
        magnitude_std=kw.get("mstd", 0.0),
        max_magnitude=kw.get("mmax", 10.0),
        prob=kw.get("p", 0.5),
        fill=fill,
    )


class RandomErasing:
    """With probability `probability`, replace random rectangles of a normalised [C, H, W] tensor.

    mode: 'pixel' (per-pixel normal noise), 'rand' (one normal value per channel) or 'const' (zeros).
    """

    def __init__(
        self,
        probability: float = 0.5,
        mode: str = "pixel",
        min_area: float = 0.02,
        max_area: float = 1 / 3,
        min_aspect: float = 0.3,
        max_count: int = 1,
    ) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"random erasing probability must be in [0, 1], got {probability}")
        if mode not in ("pixel", "rand", "const"):
            raise ValueError(f"unknown random erasing mode {mode!r}; choose pixel, rand or const")
        self.probability, self.mode, self.max_count = probability, mode, max_count
        self.min_area, self.max_area = min_area, max_area
        self.log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))

    def _fill(self, c: int, h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
        if self.mode == "pixel":
            return torch.randn(c, h, w, dtype=dtype)
        if self.mode == "rand":
            return torch.randn(c, 1, 1, dtype=dtype).expand(c, h, w)
        return torch.zeros(c, h, w, dtype=dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError(f"RandomErasing expects a [C, H, W] tensor, got shape {tuple(x.shape)}")
        if torch.rand(()) >= self.probability:
            return x
        x = x.clone()
        c, H, W = x.shape
        count = 1 if self.max_count <= 1 else 1 + _randint(self.max_count)
        for _ in range(count):
            for _attempt in range(10):
                area = _uniform(self.min_area, self.max_area) * H * W / count
                aspect = math.exp(_uniform(*self.log_aspect))
                h, w = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
                if 0 < h < H and 0 < w < W:
                    top, left = _randint(H - h + 1), _randint(W - w + 1)
                    x[:, top : top + h, left : left + w] = self._fill(c, h, w, x.dtype)
                    break
        return x

    def __repr__(self) -> str:
        return (
            f"RandomErasing(probability={self.probability}, mode={self.mode!r}, max_count={self.max_count})"
        )


# --- factory -------------------------------------------------------------------------------------


def _eval_resize_crop(
    size: tuple[int, int], crop_pct: float, crop_mode: str, interpolation: str, mean: Sequence[float]
) -> list[Callable]:
    scale = (math.floor(size[0] / crop_pct), math.floor(size[1] / crop_pct))
    if crop_mode == "squash":
        return [Resize(scale, interpolation), CenterCrop(size)]
    if crop_mode == "border":
        fill = [round(255 * v) for v in mean]
        return [ResizeKeepRatio(scale, interpolation, longest=1.0), CenterCrop(size, fill=fill)]
    if scale[0] == scale[1]:
        return [ResizeShorter(scale[0], interpolation), CenterCrop(size)]
    return [ResizeKeepRatio(scale, interpolation), CenterCrop(size)]


def create_transform(
    input_size: int | Sequence[int] = 224,
    is_training: bool = False,
    interpolation: str = "bilinear",
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
    crop_pct: float | None = None,
    crop_mode: str | None = None,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    hflip: float = 0.5,
    vflip: float = 0.0,
    color_jitter: float | Sequence[float] | None = None,
    auto_augment: str | None = None,
    re_prob: float = 0.0,
    re_mode: str = "pixel",
    re_count: int = 1,
) -> Compose:
    """Build the preprocessing pipeline: PIL image in, normalised float tensor [C, H, W] out.

    Eval (`is_training=False`): resize to size / crop_pct (shorter side for crop_mode='center',
    both sides for 'squash', longer side with padding for 'border'), centre crop, to tensor, normalise.
    Training: random-resized-crop (`scale`, `ratio`), flips, then either RandAugment (`auto_augment`
    like 'rand-m9-mstd0.5') or colour jitter (`color_jitter` strength, or (b, c, s[, h])),
    to tensor, normalise, random erasing with probability `re_prob`.

    Typical use: `create_transform(**resolve_model_data_config(model))`.
    """
    size = _pair(input_size)
    crop_pct = DEFAULT_CROP_PCT if crop_pct is None else crop_pct
    crop_mode = crop_mode or "center"
    if crop_mode not in CROP_MODES:
        raise ValueError(f"unknown crop_mode {crop_mode!r}; choose one of {', '.join(CROP_MODES)}")
    if not crop_pct > 0:
        raise ValueError(f"crop_pct must be > 0, got {crop_pct}")
    if len(mean) != len(std):
        raise ValueError(f"mean and std differ in length: {tuple(mean)} vs {tuple(std)}")
    _check_interpolation(interpolation, allow_random=is_training)

    steps: list[Callable] = []
    if not is_training:
        steps += _eval_resize_crop(size, crop_pct, crop_mode, interpolation, mean)
    else:
        steps.append(RandomResizedCrop(size, scale=scale, ratio=ratio, interpolation=interpolation))
        if hflip > 0:
            steps.append(RandomHorizontalFlip(hflip))
        if vflip > 0:
            steps.append(RandomVerticalFlip(vflip))
        if auto_augment:
            if not isinstance(auto_augment, str):
                raise TypeError(f"auto_augment must be a policy string, got {type(auto_augment).__name__}")
            steps.append(rand_augment_transform(auto_augment, fill=[min(255, round(255 * m)) for m in mean]))
        elif color_jitter:
            cj = (float(color_jitter),) * 3 if isinstance(color_jitter, (int, float)) else tuple(color_jitter)
            if len(cj) not in (3, 4):
                raise ValueError(f"color_jitter must be a float or 3/4 values, got {color_jitter!r}")
            steps.append(ColorJitter(*cj))
    steps += [ToTensor(), Normalize(mean, std)]
    if is_training and re_prob > 0:
        steps.append(RandomErasing(re_prob, mode=re_mode, max_count=re_count))
    return Compose(steps)
