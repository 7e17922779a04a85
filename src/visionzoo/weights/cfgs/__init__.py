"""Weight tables, one generated module per family (layout in `visionzoo.registry`); found by listing this package."""
