"""Text log formats: one small parser module per format (DESIGN.md "Ingestors").

`forensics.ingestors.textlog` sniffs each line and dispatches here;
`detections` runs over the parsed events of one file.
"""
