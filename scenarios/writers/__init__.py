"""Writers of the evidence and documents a scenario produces: one format per module."""
