"""Evidence typing, one ingestor per format, detections and the timeline graph."""
