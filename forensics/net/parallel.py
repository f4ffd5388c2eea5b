"""One capture analysed by several processes, split by host pair, merged back exactly.

The per-packet Python work (flow accounting, TCP reassembly, sessions,
carving) is what bounds the ingestor, and it is independent between flows. So
each of `nparts` workers walks the whole file (record headers plus the few
header bytes needed to route a packet) and fully analyses only the packets it
owns; everything cross-flow happens once, in the parent:

- Routing is by unordered IP pair (a symmetric hash of the two addresses), so a
  flow, its IP fragments, and every flow between the same two hosts (SMB's
  admin-share write then service creation, keyed by client and server) are
  seen whole by one worker. ARP, ICMP (global notable bounds), tunnels (GRE,
  IP-in-IP, L2TP, VXLAN: their inner flows stay with the outer one), AIM on
  port 5190 (cookies shared between the OSCAR and OFT connections), other IP
  protocols, and every packet that cannot be decoded belong to worker 0.
  Packets that need more than a glance to route (VLAN tags, IPv6, fragments,
  other link types) are decoded by every worker, so the fragment table and the
  decoder's counters are identical everywhere; only the owner acts on them.
- Every record a worker produces is keyed by where the single-process loop
  would have produced it: (packet number, 0) during a packet, (packet number,
  1, first frame of the flow) for an idle-sweep close, (END, 2, first frame,
  proto) for the closes at the end. Workers send the keys with batches of
  records and a watermark; the parent merges the streams by key, which gives
  exactly the single-process order (ties cannot happen: a flow has one owner).
- AIM file transfers name their peer from an offer seen in another (OSCAR)
  connection, which may belong to another worker: workers forward offers and
  lookups as markers and the parent redoes the lookup in merged order.
- Detectors (scan, beaconing, brute force, exfiltration per destination, DNS
  tunnelling, outages, floods) see the union: workers forward each closed
  flow's counters and each DNS query as markers in the stream, and the parent
  feeds one `Detectors` in merged order, as the single process would.

The worker side is forensics.net.part (the analyzer of one worker) and
forensics.net.bulk (classic pcap in vectorised batches: routing with numpy,
bulk TCP segments added to their flows and sessions in one go); this module
starts the workers, carries their records and merges them.

The one difference from the single-process path: when more than
`flow_table.max_flows` flows are live at once, each worker evicts from its own
table (bounded at max_flows / nparts), so which flows are cut early can differ.
A flow seen both inside a tunnel and outside it is split between the tunnel's
owner and the pair's owner.
"""
from __future__ import annotations

import multiprocessing
import operator
import pickle
import resource
import time
from dataclasses import fields
from typing import Callable, Iterator

from forensics.events import Event
from forensics.net import aim, capture
from forensics.net.decode import SUPPORTED_LINKTYPES
from forensics.net.detections import Detectors
from forensics.net.part import END, PartAnalyzer, flow_from

_FIELDS = operator.attrgetter(*(f.name for f in fields(Event)))


# -- a worker -----------------------------------------------------------------
def worker_messages(path, part: int, nparts: int, cfg: dict, name: str) -> Iterator[tuple]:
    """Everything one worker tells the parent: ("recs", groups, watermark)... then ("end", summary)."""
    an = PartAnalyzer(cfg, name, part, nparts)
    info: dict = {}
    damage = None
    with open(path, "rb") as f:
        try:
            for groups, wm in an.run_part(capture.batches(f, info, SUPPORTED_LINKTYPES)):
                yield "recs", groups, wm
        except capture.CaptureDamage as e:
            damage = ("damage", e.offset, e.reason)
        except Exception as e:
            damage = ("internal", None, f"internal error while decoding: {type(e).__name__}: {e}")
    groups = an.groups[:]  # what the walk produced before damage stopped it
    finish_error = None
    try:
        groups += an.finish_part()
    except Exception as e:
        finish_error = f"internal error while finishing: {type(e).__name__}: {e}"
    if groups:
        yield "recs", groups, (END, 3)
    yield "end", {"info": info, "stats": an.stats, "problems": an.problems, "last_ts": an.last_ts,
                  "fragments": an.decoder.fragments, "reassembled": an.decoder.reassembled,
                  "damage": damage, "finish_error": finish_error,
                  # diagnostics for the benchmark, not in any record
                  "cpu_s": time.process_time(), "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# -- the parent -----------------------------------------------------------------
class Merged:
    """Merge worker message streams by key; after iteration, the combined end-of-capture state."""

    def __init__(self, sources: list[Callable[[], tuple]], cfg: dict, name: str):
        self.sources = sources  # each returns the worker's next message
        self.det = Detectors(cfg)
        self.name = name
        self.summaries: list[dict | None] = [None] * len(sources)
        self.shared: dict = {}  # cross-flow session state (AIM offers), replayed in single-process order
        self.oft_peers: dict[str, str | None] = {}  # OFT2 file event locator -> peer as of its header

    def records(self) -> Iterator:
        n = len(self.sources)
        heads: list[list] = [[] for _ in range(n)]  # pending groups per worker (consumed from index pos[i])
        pos = [0] * n
        wm: list[tuple] = [(-1,)] * n
        ended = [False] * n
        det = self.det
        while True:
            best, bkey, bhead = -1, None, False
            for i in range(n):
                if pos[i] < len(heads[i]):
                    k, head = heads[i][pos[i]][0], True
                elif ended[i]:
                    continue
                else:
                    k, head = wm[i], False
                if bkey is None or k < bkey:
                    best, bkey, bhead = i, k, head
            if best < 0:
                return
            if not bhead:  # the lowest bound is a worker's watermark: hear more from it
                msg = self.sources[best]()
                if msg[0] == "recs":
                    heads[best] = heads[best][pos[best]:] + msg[1]
                    pos[best] = 0
                    wm[best] = msg[2]
                else:
                    ended[best] = True
                    self.summaries[best] = msg[1]
                continue
            recs = heads[best][pos[best]][1]
            heads[best][pos[best]] = None
            pos[best] += 1
            prev = None
            for r in recs:
                t = r.__class__
                if t is tuple or t is Event:
                    prev = Event(*r) if t is tuple else r
                    if prev.discriminator == "oft-file" and prev.locator in self.oft_peers:
                        aim.with_peer(prev, self.oft_peers.pop(prev.locator))
                    yield prev
                elif t is list:
                    kind = r[0]
                    if kind == "flow":
                        det.flow(flow_from(r))
                    elif kind == "dns":
                        det.dns_query(r[1], r[2], prev)
                    elif kind == "aim_offer":
                        aim.register_offer(self.shared, *r[1:])
                    else:  # "aim_lookup": as of this packet, with every worker's offers so far
                        self.oft_peers[r[4]] = aim.offer_peer(self.shared, r[1], r[2], r[3])
                else:
                    yield r

    def problems(self) -> list[tuple[str, list]]:
        """Per-packet problems of all workers, in the order the single process first met them."""
        merged: dict[str, list] = {}
        for s in self.summaries:
            for reason, (frame, off, count) in s["problems"].items():
                m = merged.get(reason)
                if m is None:
                    merged[reason] = [frame, off, count]
                else:
                    if frame < m[0]:
                        m[0], m[1] = frame, off
                    m[2] += count
        # within one packet the timestamp check comes before decoding
        return sorted(merged.items(), key=lambda kv: (kv[1][0], kv[0] != "timestamp out of range"))

    def stats(self) -> dict:
        first = self.summaries[0]["stats"]
        out = dict(first)
        for s in self.summaries[1:]:
            for k in ("flows", "evicted", "undecoded"):
                out[k] += s["stats"][k]
        return out


def encode(msg: tuple) -> bytes:
    """Pickle a message with events as plain field tuples (a fraction of the cost of the dataclass)."""
    if msg[0] == "recs":
        groups = [(k, [_FIELDS(r) if r.__class__ is Event else r for r in recs]) for k, recs in msg[1]]
        msg = ("recs", groups, msg[2])
    return pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)


def in_process_sources(path, nparts: int, cfg: dict, name: str) -> list[Callable[[], tuple]]:
    """The workers as generators in this process (tests, and where no process can be started)."""
    sources = []
    for part in range(nparts):
        gen = worker_messages(path, part, nparts, cfg, name)
        sources.append(lambda g=gen: pickle.loads(encode(next(g))))  # through the same encoding as a pipe
    return sources


def _child(conn, path, part, nparts, cfg, name) -> None:
    try:
        for msg in worker_messages(path, part, nparts, cfg, name):
            conn.send_bytes(encode(msg))
    except BaseException as e:  # noqa: BLE001 - the parent must hear why, whatever it was
        try:
            conn.send_bytes(pickle.dumps(("fail", f"{type(e).__name__}: {e}")))
        except OSError:
            pass
    finally:
        conn.close()


class Workers:
    """`nparts` forked worker processes over one capture; None from `start` when none can be started."""

    def __init__(self, procs, conns):
        self.procs, self.conns = procs, conns

    @classmethod
    def start(cls, path, nparts: int, cfg: dict, name: str) -> "Workers | None":
        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        mp = multiprocessing.get_context("fork")  # nothing to re-import or pickle; the workers only read the file
        procs, conns = [], []
        try:
            for part in range(nparts):
                receiver, sender = mp.Pipe(duplex=False)
                p = mp.Process(target=_child, args=(sender, str(path), part, nparts, cfg, name),
                               name=f"cyberclaim-pcap-{part}", daemon=True)
                p.start()
                sender.close()
                procs.append(p)
                conns.append(receiver)
        except (OSError, AssertionError):  # no process to spare, or a daemonic parent (a pool worker)
            cls(procs, conns).stop()
            return None
        return cls(procs, conns)

    def sources(self) -> list[Callable[[], tuple]]:
        return [lambda i=i: self._recv(i) for i in range(len(self.conns))]

    def _recv(self, i: int) -> tuple:
        try:
            msg = pickle.loads(self.conns[i].recv_bytes())
        except EOFError:
            raise RuntimeError(f"pcap worker {i} ended without finishing (exit code {self.procs[i].exitcode})") from None
        if msg[0] == "fail":
            raise RuntimeError(f"pcap worker {i} failed: {msg[1]}")
        return msg

    def stop(self) -> None:
        for c in self.conns:
            c.close()
        for p in self.procs:
            if p.is_alive():  # the consumer stopped early: the rest is not wanted
                p.terminate()
            p.join()

