#!/usr/bin/env bash
# Container health check (Dockerfile HEALTHCHECK). No curl in the image: Python's urllib.
#
#   MLOPS_ROLE=webserver (default)  GET $MLOPS_HEALTHCHECK_URL (default
#                                   http://127.0.0.1:3000/server_info); healthy on HTTP 200
#   MLOPS_ROLE=<anything else>      (daemon, code-server, run-worker, mlflow, ...) nothing to
#                                   probe over HTTP here: report healthy. Kubernetes uses
#                                   its own probes for those (the Helm chart's gRPC health
#                                   check for code servers).
set -euo pipefail

ROLE="${MLOPS_ROLE:-webserver}"
URL="${MLOPS_HEALTHCHECK_URL:-http://127.0.0.1:3000/server_info}"
TIMEOUT="${MLOPS_HEALTHCHECK_TIMEOUT:-5}"
PYTHON="${PYTHON:-python}"

if [[ "$ROLE" != "webserver" ]]; then
    echo "healthcheck: role '$ROLE' has no HTTP endpoint; skipped"
    exit 0
fi

exec "$PYTHON" - "$URL" "$TIMEOUT" <<'PY'
import sys
import urllib.request

url, timeout = sys.argv[1], float(sys.argv[2])
try:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        status = response.status
except Exception as exc:  # connection refused, timeout, HTTP error
    print(f"healthcheck: {url}: {exc}", file=sys.stderr)
    sys.exit(1)
if status != 200:
    print(f"healthcheck: {url}: HTTP {status}", file=sys.stderr)
    sys.exit(1)
print(f"healthcheck: {url}: ok")
PY
