"""SMB session: not implemented yet (issue 4 follow-up); no flow is claimed, so
traffic on it is still counted in flows but not parsed or carved."""


def pick(flow, fwd, payload, carve_limit, shared):
    return None
