"""Mixup / CutMix on a batch, with label smoothing folded into the soft targets."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def smooth_one_hot(target: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """[B] class indices -> [B, num_classes] soft targets with `smoothing` spread over all classes."""
    off = smoothing / num_classes
    out = torch.full((target.shape[0], num_classes), off, device=target.device)
    return out.scatter_(1, target.unsqueeze(1), 1.0 - smoothing + off)


class MixupCutmix:
    """Per batch, with probability `prob`, mix images by Mixup (alpha `mixup_alpha`) or CutMix
    (alpha `cutmix_alpha`; chosen with probability `switch_prob` when both are on), and mix the
    (label-smoothed) targets by the same proportion."""

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.0,
    ):
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError("mixup and cutmix alphas must be >= 0")
        self.num_classes = num_classes
        self.mixup_alpha, self.cutmix_alpha = mixup_alpha, cutmix_alpha
        self.prob, self.switch_prob = prob, switch_prob
        self.label_smoothing = label_smoothing

    @property
    def active(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def __call__(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = smooth_one_hot(target, self.num_classes, self.label_smoothing)
        if not self.active or np.random.rand() > self.prob:
            return x, y
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or np.random.rand() < self.switch_prob)
        lam = float(np.random.beta(*(2 * [self.cutmix_alpha if use_cutmix else self.mixup_alpha])))
        x_flip = x.flip(0)
        if use_cutmix:
            h, w = x.shape[-2:]
            cut_h, cut_w = int(h * np.sqrt(1 - lam)), int(w * np.sqrt(1 - lam))
            cy, cx = np.random.randint(h), np.random.randint(w)
            y0, y1 = np.clip(cy - cut_h // 2, 0, h), np.clip(cy + cut_h // 2, 0, h)
            x0, x1 = np.clip(cx - cut_w // 2, 0, w), np.clip(cx + cut_w // 2, 0, w)
            x = x.clone()
            x[..., y0:y1, x0:x1] = x_flip[..., y0:y1, x0:x1]
            lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)  # the area actually pasted
        else:
            x = x * lam + x_flip * (1 - lam)
        return x, y * lam + y.flip(0) * (1 - lam)


def soft_cross_entropy(logits: torch.Tensor, soft_target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets [B, C], averaged over the batch."""
    return torch.sum(-soft_target * F.log_softmax(logits, dim=-1), dim=-1).mean()
