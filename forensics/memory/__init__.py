"""Memory image analysis: physical layout of the image file (layout), symbol-free
scans in overlapping windows (scan, carve), volatility3 plugin runs (symbols,
volrunner, rows). The ingestor (forensics.ingestors.memory) ties them together."""
