"""Sysmon for Linux records forwarded as JSON syslog rows: the embedded <Event> XML read into process
fields (also when syslog truncated it), and a shell started by a server runtime flagged as execution."""
from __future__ import annotations

import json
from pathlib import Path

from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.tabular import TabularIngestor


def sysmon_xml(eid: int, data: dict[str, str], when="2022-05-11T18:10:22.003485000Z", host="UBUNTU5") -> str:
    fields = "".join(f'<Data Name="{k}">{v}</Data>' for k, v in data.items())
    return (f'<Event><System><Provider Name="Linux-Sysmon" Guid="{{ff032593-a8d3-4f13-b0d6-01fc615a0f97}}"/>'
            f'<EventID>{eid}</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>'
            f'<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="{when}"/><EventRecordID>7</EventRecordID>'
            f'<Correlation/><Execution ProcessID="1590" ThreadID="1590"/><Channel>Linux-Sysmon/Operational</Channel>'
            f'<Computer>{host}</Computer><Security UserId="0"/></System><EventData>{fields}</EventData></Event>')


SHELL = {"RuleName": "-", "UtcTime": "2022-05-11 18:10:22.003", "ProcessId": "17790", "Image": "/bin/bash",
         "CommandLine": "bash -c {echo,YmFzaA==}|{base64,-d}|{bash,-i}", "User": "tomcat",
         "ParentProcessId": "1340", "ParentImage": "/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java",
         "ParentCommandLine": "/usr/lib/jvm/java-1.8.0-openjdk-amd64/bin/java -classpath /opt/tomcat/bin/bootstrap.jar " + "-Dx=y " * 300}


def rows_file(tmp_path: Path, messages: list[str]) -> Path:
    p = tmp_path / "sysmon_for_linux.json"
    p.write_text("".join(json.dumps({"TenantId": "redacted", "TimeGenerated": "2022-05-11T18:10:22.4Z", "Computer": "UBUNTU5", "HostIP": "192.168.2.5",
                                     "ProcessName": "sysmon", "SyslogMessage": m}) + "\n" for m in messages), encoding="utf-8")
    return p


def ingest(p: Path) -> list:
    ctx = IngestContext(path=p, evidence_sha256="0" * 64, evidence_type="jsonl", display_name=p.name, options={})
    assert TabularIngestor.detect(p.read_bytes()[:4096], p, "jsonl")
    return list(TabularIngestor().ingest(ctx))


def test_process_creation_fields_and_shell_from_java(tmp_path):
    (ev,) = ingest(rows_file(tmp_path, [sysmon_xml(1, SHELL)]))
    assert isinstance(ev, Event) and ev.data_type == "linux:sysmon:record"
    assert (ev.host, ev.user, ev.process_name, ev.process_pid) == ("UBUNTU5", "tomcat", "bash", 17790)
    assert ev.process_cmdline == SHELL["CommandLine"]
    assert ev.timestamp == 1652292622003485  # the record's own SystemTime, not the forwarder's
    assert {"T1059.004", "T1203"} <= set(ev.attack) and ev.severity == "high"
    assert ev.attributes["forwarder"]["TenantId"] == "redacted"  # the forwarder's own fields are kept


def test_truncated_record_is_salvaged_not_dropped(tmp_path):
    whole = sysmon_xml(1, SHELL)
    cut = whole[:whole.index("-Dx=y") + 200]  # syslog cut the line inside ParentCommandLine
    (ev,) = ingest(rows_file(tmp_path, [cut]))
    assert isinstance(ev, Event) and ev.attributes.get("xml_damaged")
    assert (ev.process_name, ev.process_pid, ev.user) == ("bash", 17790, "tomcat")
    assert "T1059.004" in ev.attack


def test_ordinary_process_and_network_event_not_flagged(tmp_path):
    cron = dict(SHELL, Image="/bin/sh", CommandLine="/bin/sh -c run-parts /etc/cron.hourly", ParentImage="/usr/sbin/cron")
    net = {"RuleName": "-", "UtcTime": "2022-05-11 18:10:22.100", "ProcessId": "17790", "Image": "/bin/bash",
           "User": "tomcat", "Protocol": "tcp", "SourceIp": "192.168.2.5", "SourcePort": "51234",
           "DestinationIp": "192.168.2.6", "DestinationPort": "443"}
    evs = ingest(rows_file(tmp_path, [sysmon_xml(1, cron), sysmon_xml(3, net)]))
    assert all(isinstance(e, Event) and not e.attack for e in evs), [e for e in evs]
    assert (evs[1].src_ip, evs[1].dst_ip, evs[1].dst_port) == ("192.168.2.5", "192.168.2.6", 443)


def test_unreadable_record_is_one_error_with_its_line(tmp_path):
    bad = '<Event><System><Provider Name="Linux-Sysmon"/><Computer>x</Computer>'  # no EventID to salvage
    # a DTD in front of the record is never handed to the parser (reading starts at <Event)
    dtd = '<!DOCTYPE x [<!ENTITY a "aaaa">]>' + sysmon_xml(1, dict(SHELL, User="&a;"))
    recs = ingest(rows_file(tmp_path, [sysmon_xml(1, SHELL), bad, dtd]))
    assert isinstance(recs[0], Event) and isinstance(recs[2], Event) and recs[2].user != "aaaa"
    (err,) = [r for r in recs if isinstance(r, IngestError)]
    assert err.line == 2 and err.offset > 0 and "Sysmon for Linux" in err.reason
