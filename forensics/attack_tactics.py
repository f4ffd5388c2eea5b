"""ATT&CK (Enterprise) technique -> tactic(s), for the techniques our ingestors and rules emit.

Sub-techniques inherit their parent's tactics. Tactics are listed in kill-chain
order so a storyline can print them as the attack unfolded.
"""
from __future__ import annotations

TACTIC_ORDER = (
    "reconnaissance", "resource-development", "initial-access", "execution", "persistence", "privilege-escalation",
    "defense-evasion", "credential-access", "discovery", "lateral-movement", "collection", "command-and-control",
    "exfiltration", "impact",
)

_BY_TACTIC = {
    "reconnaissance": "T1595 T1592 T1589 T1590 T1591 T1598 T1597 T1596 T1593 T1594",
    "resource-development": "T1583 T1584 T1585 T1586 T1587 T1588 T1608",
    "initial-access": "T1189 T1190 T1133 T1200 T1566 T1091 T1195 T1199 T1078",
    "execution": "T1059 T1203 T1047 T1053 T1106 T1129 T1204 T1569 T1559 T1610",
    "persistence": "T1098 T1136 T1543 T1546 T1547 T1505 T1037 T1574 T1133 T1053 T1078 T1197 T1137 T1176",
    "privilege-escalation": "T1548 T1134 T1068 T1055 T1484 T1543 T1547 T1053 T1078 T1546 T1574",
    "defense-evasion": "T1070 T1027 T1036 T1112 T1562 T1218 T1140 T1564 T1550 T1620 T1497 T1222 T1055 T1078 T1134 "
                       "T1202 T1207 T1211 T1480 T1553 T1556 T1578 T1600 T1601",
    "credential-access": "T1110 T1003 T1555 T1558 T1552 T1557 T1056 T1212 T1649 T1606 T1528 T1539 T1040 T1111 T1621",
    "discovery": "T1046 T1087 T1018 T1082 T1083 T1135 T1016 T1049 T1057 T1069 T1482 T1012 T1518 T1033 T1007 "
                 "T1201 T1040 T1124 T1120 T1010 T1217 T1580 T1526 T1538 T1619",
    "lateral-movement": "T1021 T1570 T1550 T1210 T1563 T1534 T1080 T1072 T1091",
    "collection": "T1005 T1039 T1114 T1560 T1074 T1119 T1113 T1115 T1213 T1530 T1025 T1123 T1125 T1185 T1557",
    "command-and-control": "T1071 T1105 T1090 T1572 T1573 T1095 T1571 T1219 T1102 T1568 T1132 T1001 T1008 T1104 T1205",
    "exfiltration": "T1041 T1048 T1567 T1030 T1020 T1011 T1052 T1029 T1537",
    "impact": "T1486 T1485 T1490 T1489 T1565 T1491 T1498 T1499 T1561 T1529 T1496 T1531 T1657 T1495",
}

TACTICS: dict[str, tuple[str, ...]] = {}
for _tactic in TACTIC_ORDER:
    for _t in _BY_TACTIC[_tactic].split():
        TACTICS[_t] = TACTICS.get(_t, ()) + (_tactic,)


def tactics_of(technique: str) -> tuple[str, ...]:
    """Tactics of a technique id (`T1059.001` -> execution); unknown ids give ()."""
    return TACTICS.get(technique.strip().upper().split(".")[0], ())


def techniques_for(*tactics: str) -> list[str]:
    """Parent technique ids belonging to any of the tactics (for set-wise SQL filters)."""
    return sorted(t for t, ts in TACTICS.items() if set(ts) & set(tactics))


def ordered_tactics(techniques) -> list[str]:
    found = {tac for t in techniques for tac in tactics_of(t)}
    return [t for t in TACTIC_ORDER if t in found]
