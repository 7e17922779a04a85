"""`visionzoo visualize pos-embed|features`: position-embedding similarity and feature-map figures (PNG)."""

from __future__ import annotations

import argparse

from ._common import add_img_size


def _weights_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--pretrained", action="store_true", help="use the tag's pretrained weights")
    group.add_argument("--checkpoint", default=None, metavar="PATH", help="use weights from this file")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "visualize",
        help="figures: position-embedding similarity, feature maps",
        description="Draw figures as PNG files (needs `pip install visionzoo[plot]`).",
    )
    kinds = p.add_subparsers(dest="figure", metavar="FIGURE", required=True)
    pe = kinds.add_parser(
        "pos-embed",
        help="cosine similarity of learned position embeddings (ViT-style models)",
        description="For each patch position, a small map of the cosine similarity of its learned position "
        "embedding to every other position, laid out in the patch grid (the ViT paper's figure).",
    )
    pe.add_argument("model", metavar="MODEL", help="model name, optionally with a tag")
    pe.add_argument("-o", "--output", required=True, help="PNG file to write")
    add_img_size(pe, "build for this input size, e.g. 160 (grid 10x10 at patch 16)")
    _weights_args(pe)
    ft = kinds.add_parser(
        "features",
        help="feature maps from features_only, stage by stage",
        description="Run IMAGE through the model's features_only extractor and draw each stage's channel "
        "mean and its most active channels.",
    )
    ft.add_argument("model", metavar="MODEL", help="model name, optionally with a tag")
    ft.add_argument("image", metavar="IMAGE", help="image file")
    ft.add_argument("-o", "--output", required=True, help="PNG file to write")
    ft.add_argument(
        "--channels", type=int, default=4, help="channels shown per stage besides the mean (default 4)"
    )
    add_img_size(ft)
    _weights_args(ft)
    return p


def run(args: argparse.Namespace) -> int:
    from ..tools.visualize import plot_feature_maps, plot_pos_embed

    img_size = args.img_size
    if args.figure == "pos-embed":
        path = plot_pos_embed(
            args.model, args.output, pretrained=args.pretrained, checkpoint=args.checkpoint, img_size=img_size
        )
    else:
        path = plot_feature_maps(
            args.model,
            args.image,
            args.output,
            pretrained=args.pretrained,
            checkpoint=args.checkpoint,
            num_channels=args.channels,
            img_size=img_size,
        )
    print(f"wrote {path}")
    return 0
