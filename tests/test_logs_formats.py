"""Text-log formats and detections on hand-written lines in the standard formats."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from forensics.events import Event, IngestError, iso_utc, to_us
from forensics.ingestors.base import IngestContext
from forensics.ingestors.tabular import TabularIngestor
from forensics.ingestors.textlog import TextLogIngestor


def ingest(tmp_path: Path, text: str | bytes, cls=TextLogIngestor, etype="text_log", name="x.log", **options):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    ctx = IngestContext(p, "cd" * 32, etype, name, options)
    out = list(cls().ingest(ctx))
    return [r for r in out if isinstance(r, Event)], [r for r in out if isinstance(r, IngestError)]


def test_year_rollover_december_to_january(tmp_path):
    evs, errs = ingest(tmp_path, "Dec 31 23:59:58 h app: a\nJan  1 00:00:02 h app: b\n", year=2023)
    assert not errs
    assert [iso_utc(e.timestamp)[:19] for e in evs] == ["2023-12-31T23:59:58", "2024-01-01T00:00:02"]


def test_year_from_acquisition_date_and_timezone(tmp_path):
    # acquired 2024-01-10: a December line is from 2023, a January line from 2024
    evs, _ = ingest(tmp_path, "Dec 31 23:00:00 h app: a\nJan  9 08:00:00 h app: b\n",
                    acquired_at="2024-01-10", timezone="Asia/Shanghai")
    assert [iso_utc(e.timestamp)[:19] for e in evs if e.data_type != "detection"] == ["2023-12-31T15:00:00", "2024-01-09T00:00:00"]
    assert evs[0].attributes["time_text"] == "Dec 31 23:00:00"


def test_unknown_timezone_is_one_error(tmp_path):
    evs, errs = ingest(tmp_path, "Dec 31 23:00:00 h app: a\n", timezone="Mars/Olympus")
    assert not evs and len(errs) == 1 and "cannot start" in errs[0].reason


def test_auth_sudo_su_useradd_passwd(tmp_path):
    text = "\n".join([
        "Mar  1 10:00:00 web sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update",
        "Mar  1 10:00:01 web sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh",
        "Mar  1 10:00:02 web su[123]: (to root) alice on pts/0",
        "Mar  1 10:00:03 web su[124]: FAILED su for root by mallory",
        "Mar  1 10:00:04 web useradd[200]: new user: name=backdoor, UID=0, GID=0, home=/root, shell=/bin/bash",
        "Mar  1 10:00:05 web usermod[201]: add 'backdoor' to group 'sudo'",
        "Mar  1 10:00:06 web passwd[202]: pam_unix(passwd:chauthtok): password changed for backdoor",
        "Mar  1 10:00:07 web sudo:    alice : TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/usr/bin/rm -rf /var/log/auth.log",
    ]) + "\n"
    evs, errs = ingest(tmp_path, text, year=2024)
    assert not errs
    auth = [e for e in evs if e.data_type == "linux:auth"]
    k = [(e.attributes["kind"], e.attributes["outcome"], e.user) for e in auth]
    assert k[:7] == [("sudo_command", "success", "alice"), ("sudo_command", "failure", "bob"), ("su", "success", "alice"),
                     ("su", "failure", "mallory"), ("user_created", "success", "backdoor"),
                     ("group_member_added", "success", "backdoor"), ("password_changed", "success", "backdoor")]
    assert auth[0].process_cmdline == "/usr/bin/apt update" and auth[0].attributes["target_user"] == "root"
    assert "T1136.001" in auth[4].attack and "privilege_escalation" in auth[5].tags
    clear = [e for e in evs if e.data_type == "detection" and e.attributes["rule"] == "log_clearing"]
    assert len(clear) == 1 and clear[0].attributes["evidence_locators"] == [auth[7].locator]


def test_ssh_brute_force_then_success(tmp_path):
    lines = [f"Jan  5 03:00:{i:02d} srv sshd[{100 + i}]: Failed password for {u} from 203.0.113.9 port {4000 + i} ssh2"
             for i, u in enumerate(["root", "admin", "root", "test", "oracle", "root", "ubuntu", "pi", "root", "git"])]
    lines.append("Jan  5 03:00:30 srv sshd[200]: Accepted password for root from 203.0.113.9 port 5000 ssh2")
    lines.append("Jan  5 03:00:31 srv sshd[201]: Accepted publickey for ops from 198.51.100.1 port 5001 ssh2")
    evs, _ = ingest(tmp_path, "\n".join(lines) + "\n", year=2024)
    det = {e.attributes["rule"]: e for e in evs if e.data_type == "detection"}
    assert det["ssh_brute_force"].attributes["attempts"] == 10
    assert det["ssh_brute_force"].attack == ["T1110.003"]  # 7 user names: a spray
    laf = det["login_after_failures"]
    assert laf.src_ip == "203.0.113.9" and laf.attributes["failures"] == 10 and laf.user == "root"
    ids = {e.to_row()["event_id"] for e in evs}
    assert set(laf.attributes["evidence_event_ids"]) <= ids
    assert sum(1 for e in evs if e.data_type == "detection") == 2


def test_pam_and_sshd_lines_of_one_attempt_count_once(tmp_path):
    lines = []
    for i in range(8):
        lines.append(f"Jan  5 03:00:{i:02d} srv sshd[{300 + i}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.50  user=root")
        lines.append(f"Jan  5 03:00:{i:02d} srv sshd[{300 + i}]: Failed password for root from 192.0.2.50 port {7000 + i} ssh2")
    evs, _ = ingest(tmp_path, "\n".join(lines) + "\n", year=2024)
    det = [e for e in evs if e.data_type == "detection" and e.attributes["rule"] == "ssh_brute_force"]
    assert det and det[0].attributes["attempts"] == 8 and det[0].attributes["lines"] == 16


def test_iptables_and_ufw(tmp_path):
    text = ("Feb 10 12:00:00 gw kernel: [123.456789] [UFW BLOCK] IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 "
            "SRC=203.0.113.5 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID=1 DF PROTO=TCP SPT=55555 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0\n"
            "Feb 10 12:00:01 gw kernel: IPTABLES-ACCEPT: IN= OUT=eth0 SRC=10.0.0.2 DST=8.8.8.8 LEN=40 PROTO=UDP SPT=5353 DPT=53 LEN=20\n")
    evs, errs = ingest(tmp_path, text, year=2024)
    assert not errs
    a, b = evs
    assert (a.data_type, a.attributes["action"], a.attributes["firewall"], a.src_ip, a.dst_port, a.proto) == (
        "firewall:iptables", "block", "ufw", "203.0.113.5", 22, "tcp")
    assert a.attributes["tcp_flags"] == ["SYN"] and a.host == "gw"
    assert (b.attributes["action"], b.dst_ip, b.dst_port, b.proto) == ("allow", "8.8.8.8", 53, "udp")


def test_suricata_and_snort_fast_log(tmp_path):
    text = ("10/05/2017-14:12:27.367458  [**] [1:2012887:3] ET POLICY Http Client Body contains pass= in cleartext [**] "
            "[Classification: Potential Corporate Privacy Violation] [Priority: 1] {TCP} 192.168.1.10:49362 -> 8.8.8.8:80\n"
            "07/12-21:36:14.123456  [**] [1:1000001:1] ICMP test [**] [Priority: 3] {ICMP} 192.168.1.1 -> 192.168.1.2\n"
            "07/13-01:00:00.000000  [**] [1:1:1] v6 [**] [Priority: 2] {UDP} [2001:db8::1]:5353 -> [2001:db8::2]:53\n")
    evs, errs = ingest(tmp_path, text, year=2019)
    evs = [e for e in evs if e.data_type != "detection"]  # (a log gap between the files' dates)
    assert not errs and [e.data_type for e in evs] == ["ids:alert"] * 3
    s, n, v6 = evs
    assert s.attributes["signature_id"] == "1:2012887:3" and s.severity == "high"
    assert (s.src_ip, s.src_port, s.dst_ip, s.dst_port, s.proto) == ("192.168.1.10", 49362, "8.8.8.8", 80, "tcp")
    assert iso_utc(s.timestamp) == "2017-10-05T14:12:27.367458Z"
    assert iso_utc(n.timestamp).startswith("2019-07-12T21:36:14") and n.src_port is None
    assert (v6.src_ip, v6.dst_port) == ("2001:db8::1", 53)


def test_auditd_records(tmp_path):
    text = (
        'type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e syscall=59 success=yes exit=0 a0=1 ppid=2686 pid=3538 '
        'auid=1000 uid=0 gid=0 euid=0 comm="rm" exe="/usr/bin/rm" key="logs"\n'
        'type=EXECVE msg=audit(1364481363.243:24287): argc=3 a0="rm" a1="-rf" a2=2F7661722F6C6F672F617574682E6C6F67\n'
        "type=USER_LOGIN msg=audit(1364481400.000:24300): pid=4000 uid=0 auid=4294967295 ses=4294967295 "
        "msg='op=login acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=? addr=198.51.100.7 terminal=ssh res=failed'\n"
    )
    evs, errs = ingest(tmp_path, text)
    assert not errs
    sysc, execve, login = [e for e in evs if e.data_type == "linux:auditd"]
    assert sysc.process_pid == 3538 and sysc.attributes["ppid"] == 2686 and sysc.attributes["rule_key"] == "logs"
    assert execve.process_cmdline == "rm -rf /var/log/auth.log" and execve.attributes["serial"] == 24287
    assert login.src_ip == "198.51.100.7" and login.user == "root" and "login_failed" in login.tags
    assert any(e.attributes.get("rule") == "log_clearing" for e in evs if e.data_type == "detection")
    assert sysc.timestamp == 1364481363243000


def test_nginx_combined_http_brute_force_and_scanner(tmp_path):
    lines = [f'198.51.100.20 - - [02/Mar/2024:10:{i // 60:02d}:{i % 60:02d} +0800] "POST /wp-login.php HTTP/1.1" 200 512 "-" "Mozilla/5.0"'
             for i in range(25)]
    lines.append('198.51.100.21 - - [02/Mar/2024:10:05:00 +0800] "GET /index.php?id=1%20UNION%20SELECT%20user,pass%20FROM%20users HTTP/1.1" 200 99 "-" "sqlmap/1.7"')
    lines.append('198.51.100.22 - - [02/Mar/2024:10:05:01 +0800] "GET /../../../../etc/passwd HTTP/1.1" 400 0 "-" "curl/8"')
    evs, errs = ingest(tmp_path, "\n".join(lines) + "\n")
    assert not errs
    assert evs[0].timestamp == to_us(datetime.fromisoformat("2024-03-02T02:00:00+00:00"))
    det = [e for e in evs if e.data_type == "detection"]
    rules = sorted((d.attributes["rule"], d.attributes.get("category"), d.src_ip) for d in det)
    assert rules == [("http_brute_force", None, "198.51.100.20"), ("web_attack", "path_traversal", "198.51.100.22"),
                     ("web_attack", "scanner", "198.51.100.21"), ("web_attack", "sql_injection", "198.51.100.21")]


def test_log_gap(tmp_path):
    evs, _ = ingest(tmp_path, "Mar  1 00:00:00 h a: x\nMar  1 00:01:00 h a: y\nMar  1 09:00:00 h a: z\n", year=2024)
    gaps = [e for e in evs if e.data_type == "detection"]
    assert len(gaps) == 1 and gaps[0].attributes["gap_seconds"] == 8 * 3600 + 59 * 60


def test_events_are_deterministic(tmp_path):
    text = "Jan  5 03:00:00 srv sshd[1]: Failed password for root from 203.0.113.9 port 1 ssh2\n" * 12
    a, _ = ingest(tmp_path, text, year=2024)
    b, _ = ingest(tmp_path, text, year=2024)
    ra, rb = [e.to_row() for e in a], [e.to_row() for e in b]
    assert ra == rb and len({r["event_id"] for r in ra}) == len(ra)


# ---------------------------------------------------------------- tabular
def test_tabular_jsonl_mapping_and_damage(tmp_path):
    rows = [json.dumps({"when": "2024-05-01T10:00:00Z", "text": "login ok", "client": "192.0.2.1", "extra": 1}),
            "{not json", json.dumps({"when": 1714557600.5, "text": "second", "client": "nope"})]
    evs, errs = ingest(tmp_path, "\n".join(rows) + "\n", TabularIngestor, "jsonl", "a.jsonl",
                       columns={"timestamp": "when", "message": "text", "src_ip": "client"})
    assert [e.message for e in evs] == ["login ok", "second"]
    assert evs[0].src_ip == "192.0.2.1" and evs[0].attributes == {"extra": 1} and evs[1].src_ip is None
    assert evs[1].timestamp == 1714557600500000 and evs[0].data_type == "log:jsonl"
    assert len(errs) == 1 and errs[0].line == 2


def test_tabular_csv(tmp_path):
    text = "time,user,src_ip,msg\n2024-05-01 10:00:00,alice,10.0.0.1,hello\n2024-05-01 10:00:01,bob\n2024-05-01 10:00:02,carol,10.0.0.3,\"a,b\"\n"
    evs, errs = ingest(tmp_path, text, TabularIngestor, "csv", "a.csv", timezone="Asia/Shanghai")
    assert [e.user for e in evs] == ["alice", "carol"] and evs[1].message == "a,b"
    assert iso_utc(evs[0].timestamp).startswith("2024-05-01T02:00:00")
    assert len(errs) == 1 and errs[0].line == 3


@pytest.mark.parametrize("first,ours", [
    ({"Event": {"System": {"EventID": 4624}}}, False),
    ({"__container_type__": "event", "timestamp": 1}, False),
    ({"parser": "syslog", "data_type": "syslog:line", "timestamp": 1}, False),
    ({"message": "x", "datetime": "2024", "timestamp_desc": "t", "RuleTitle": "r", "Channel": "Sec"}, False),
    ({"ts": 1, "msg": "plain"}, True),
])
def test_tabular_declines_other_ingestors_json(first, ours):
    head = (json.dumps(first) + "\n").encode()
    assert TabularIngestor.detect(head, Path("x.jsonl"), "jsonl") is ours
