"""Regenerate the label files in `src/visionzoo/data/labels/` from the lists timm ships as data.

The synset lists and WordNet lemmas are public facts about the ImageNet releases; only the
text is taken, re-packed as gzip files. Run with the test extra installed:
    python scripts/gen_label_files.py
"""

from __future__ import annotations

import gzip
from pathlib import Path

import timm

SRC = Path(timm.__file__).parent / "data" / "_info"
DST = Path(__file__).resolve().parents[1] / "src" / "visionzoo" / "data" / "labels"

# our label-set name -> timm's synset list
SYNSET_LISTS = {
    "imagenet-1k": "imagenet_synsets.txt",
    "imagenet-12k": "imagenet12k_synsets.txt",
    "imagenet-21k": "imagenet22k_synsets.txt",  # fall11 release, 21841 classes
    "imagenet-21k-goog": "imagenet21k_goog_synsets.txt",  # Google's release, 21843 classes
    "imagenet-21k-miil": "imagenet21k_miil_synsets.txt",  # MIIL's cleaned 21k, 11221 classes
    "imagenet-22k-ms": "imagenet22k_ms_synsets.txt",  # Microsoft's order: the 1k classes first, 21842
}


def _write_gz(path: Path, lines: list[str]) -> None:
    # mtime=0 keeps the files byte-identical between runs
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))


def main() -> None:
    DST.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for name, fname in SYNSET_LISTS.items():
        synsets = [s.strip() for s in (SRC / fname).read_text().splitlines() if s.strip()]
        used.update(synsets)
        _write_gz(DST / f"{name}.txt.gz", synsets)
        print(f"{name}: {len(synsets)} synsets")
    lemmas = []
    for line in (SRC / "imagenet_synset_to_lemma.txt").read_text(encoding="utf-8").splitlines():
        synset, _, lemma = line.partition("\t")
        if synset in used:
            lemmas.append(f"{synset}\t{lemma.strip()}")
    _write_gz(DST / "synset_lemmas.tsv.gz", lemmas)
    print(f"lemmas: {len(lemmas)}")


if __name__ == "__main__":
    main()
