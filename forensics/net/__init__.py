"""Network evidence: capture framing, packet decoding, flows, application
protocols, carving and detections, used by the PCAP/PCAPNG ingestor."""
