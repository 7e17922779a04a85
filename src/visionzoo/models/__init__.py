"""Model families. Each module registers its architectures from a variant table when imported."""
