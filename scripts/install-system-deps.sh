#!/usr/bin/env bash
# Installs the Debian packages cyberclaim needs, only those missing.
#   install-system-deps.sh demo   -> what `make demo` needs (PDF fonts and rendering)
#   install-system-deps.sh test   -> plus the servers and reference tools the tests use
set -euo pipefail
profile="${1:-test}"
pkgs=(python3-venv python3-dev build-essential libssl-dev fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 shared-mime-info)
if [ "$profile" = "test" ]; then
  # postgresql: the real server of the PostgreSQL backend tests; tshark and yara: reference
  # tools the ingestors are compared with; chromium: the end-to-end UI test; poppler-utils:
  # PDF to PNG/text checks; libreoffice-calc-nogui: recalculates the XLSX loss schedule.
  pkgs+=(postgresql tshark yara chromium poppler-utils libreoffice-calc-nogui xz-utils)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "cyberclaim: missing system packages (${missing[*]}) and no apt-get here; install them by hand" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "cyberclaim: need root to install: ${missing[*]}" >&2; exit 1; fi
fi
echo "installing system packages: ${missing[*]}"
$SUDO apt-get update -qq
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
