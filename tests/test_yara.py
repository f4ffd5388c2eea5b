"""YARA packs: the public rule sets in the corpus (tarballs, externals, rules
that only compile together), cache by content hash, includes disabled for user
rules, errors by file and line; the default pack; the yara CLI as reference."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import need_tool
from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.yarascan import YaraIngestor
from forensics.yara_rules import DEFAULT_PACK_DIR, load_pack

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
WALLET_XMR = "4" + "8" + "A" * 93
NOTE = ("YOUR FILES ARE ENCRYPTED. To decrypt them, pay 1 XMR (monero) to address " + WALLET_XMR
        + " then contact us using tor browser.").encode()


def _scan(path: Path, **opts):
    recs = list(YaraIngestor().ingest(IngestContext(path, "c" * 64, "unknown", path.name, opts)))
    return [r for r in recs if isinstance(r, Event)], [r for r in recs if isinstance(r, IngestError)]


def test_default_pack_compiles_and_is_cached(cc_home):
    first = load_pack()
    assert not first.problems and not first.from_cache and first.rule_count >= 10
    again = load_pack()
    assert again.from_cache and again.digest == first.digest
    assert list((cc_home / "cache" / "yara").glob(f"{first.digest}.yarc"))


def test_cache_key_follows_content(cc_home, tmp_path):
    d = tmp_path / "rules"
    d.mkdir()
    (d / "a.yar").write_text('rule one { strings: $a = "one" condition: $a }')
    a = load_pack([d])
    (d / "a.yar").write_text('rule one { strings: $a = "two" condition: $a }')
    b = load_pack([d])
    assert a.digest != b.digest and not b.from_cache


def test_includes_disabled_and_errors_by_file_and_line(cc_home, tmp_path):
    d = tmp_path / "user"
    d.mkdir()
    (d / "good.yar").write_text('rule good { strings: $a = "hello" condition: $a }')
    (d / "incl.yar").write_text('include "/etc/passwd"\nrule x { condition: true }')
    (d / "broken.yar").write_text('rule ok1 { condition: true }\n\nrule broken {\n  condition: $nope\n}\n')
    pack = load_pack([d])
    probs = {Path(p.file).name: p for p in pack.problems}
    assert "includes are disabled" in probs["incl.yar"].message
    assert probs["broken.yar"].line in (4, 5)  # yara reports the end of the rule
    assert "undefined string" in probs["broken.yar"].message
    assert "user/good.yar" in pack.files
    f = tmp_path / "x.txt"
    f.write_bytes(b"say hello")
    evs, errs = _scan(f, yara_rules=[str(d)])
    assert [e.attributes["rule"] for e in evs] == ["good"]
    assert any(f"broken.yar line {probs['broken.yar'].line}" in e.reason for e in errs)


def test_externals_filename_and_extension(cc_home, tmp_path):
    d = tmp_path / "ext"
    d.mkdir()
    (d / "e.yar").write_text('rule php_file { condition: extension == ".php" and filename matches /^shell/ }')
    a = tmp_path / "shell.php"
    a.write_bytes(b"<?php echo 1; ?>")
    b = tmp_path / "shell.txt"
    b.write_bytes(b"<?php echo 1; ?>")
    assert [e.attributes["rule"] for e in _scan(a, yara_rules=[str(d)])[0]] == ["php_file"]
    assert _scan(b, yara_rules=[str(d)])[0] == []


@pytest.mark.corpus
def test_public_rule_sets_load(corpus, cc_home):
    sets = sorted((corpus / "yara" / "rulesets").glob("*.tar.gz"))
    pack = load_pack(sets, default=False)
    loaded = len(pack.files)
    assert loaded > 2400 and pack.rule_count > 5000
    # rules needing externals (signature-base) compiled; failures are named with file and line
    assert any("signature-base" in f for f in pack.files)
    assert all(p.file.endswith((".yar", ".yara")) for p in pack.problems)
    assert any(p.line is not None for p in pack.problems)
    assert any("includes are disabled" in p.message for p in pack.problems)  # Yara-Rules index files
    # rules referencing a rule from another file (is__elf) were compiled together with it
    together = [f for f in pack.files if "yara-rules" in f and "is__elf" not in f]
    assert not any('undefined identifier "is__elf"' in p.message for p in pack.problems)
    assert together


@pytest.mark.corpus
def test_single_rules_and_cli_agree(corpus, cc_home, tmp_path):
    yara_cli = need_tool("yara")
    f = tmp_path / "eicar.com"
    f.write_bytes(EICAR)
    rules = corpus / "yara" / "rules"
    pack = load_pack([rules], default=False)
    ours = {m.rule for m in pack.scan(filepath=str(f), name=str(f))}
    cli = set()
    for r in sorted(rules.glob("*.yar*")):
        out = subprocess.run([yara_cli, "-d", "filename=eicar.com", "-d", "filepath=" + str(tmp_path), "-d", "extension=.com",
                              "-d", "filetype=", "-d", "owner=", str(r), str(f)], capture_output=True, text=True)
        cli |= {line.split()[0] for line in out.stdout.splitlines() if line.strip()}
    assert ours == cli and ours  # both EICAR rules


def test_ransom_note_wallet_and_cli(cc_home, tmp_path):
    f = tmp_path / "README_TO_DECRYPT.txt"
    f.write_bytes(NOTE)
    evs, errs = _scan(f)
    by = {e.attributes["rule"]: e for e in evs}
    xmr = by["CC_Wallet_XMR"]
    assert xmr.attributes["currency"] == "XMR" and xmr.attributes["wallets"] == [WALLET_XMR]
    assert xmr.locator.startswith("off=") and "CC_Wallet_BTC" not in by
    assert by["CC_Ransom_Note_Generic"].severity == "high"
    cli = need_tool("yara")
    out = subprocess.run([cli, *[str(p) for p in sorted(DEFAULT_PACK_DIR.glob("*.yar"))], str(f)], capture_output=True, text=True)
    assert {line.split()[0] for line in out.stdout.splitlines()} == set(by)


def test_zero_byte_file(cc_home, tmp_path):
    f = tmp_path / "empty.bin"
    f.write_bytes(b"")
    evs, errs = _scan(f)
    assert not evs and errs[-1].offset == 0 and "zero-byte" in errs[-1].reason


def test_webshell_mimikatz_cobaltstrike(cc_home, tmp_path):
    samples = {
        "CC_Webshell_PHP_Eval": b"<?php @eval($_POST['cmd']); ?>",
        "CC_Webshell_China_Chopper": b'<%@ Page Language="Jscript"%><%eval(Request.Item["pass"],"unsafe");%>',
        "CC_Mimikatz_Strings": "mimikatz # sekurlsa::logonpasswords".encode("utf-16-le"),
        "CC_CobaltStrike_Beacon_Strings": b"\x00beacon.x64.dll\x00ReflectiveLoader\x00",
    }
    for rule, data in samples.items():
        f = tmp_path / f"{rule}.bin"
        f.write_bytes(data)
        assert rule in {e.attributes["rule"] for e in _scan(f)[0]}, rule
