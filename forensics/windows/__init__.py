"""Windows event records: one normalization shared by EVTX files and event exports."""
