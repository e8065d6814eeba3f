#!/usr/bin/env bash
# Debian packages some tests drive for real: Chromium (browser test of the Dagster UI) and the
# PostgreSQL server (Dagster instance + MLflow backend on PostgreSQL). Installs what is missing
# when it can (root with apt-get); otherwise says so, and those tests skip with the reason.
set -uo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo ">> not installing ${missing[*]} (needs root and apt-get); the tests that need them will skip"
    exit 0
fi
echo ">> installing Debian packages for the service tests: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo ">> apt-get could not install ${missing[*]}; the tests that need them will skip"
fi
exit 0
