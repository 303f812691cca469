#!/usr/bin/env bash
# The Dockerfile's steps outside Docker: build the wheels with the builder script, install them into a
# fresh virtualenv as the runtime stage does, then start the installed gateway on the embedded defaults
# and probe it with the same health check command as the image's HEALTHCHECK.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 -m venv "$work/build-venv"
"$work/build-venv/bin/pip" install --quiet --disable-pip-version-check wheel
PYTHON="$work/build-venv/bin/python" bash "$src/deploy/docker/build-wheels.sh" "$src" "$work/wheels"
python3 -m venv "$work/runtime"
"$work/runtime/bin/pip" install --quiet --disable-pip-version-check --no-index --find-links "$work/wheels" vouchery-pos-gateway
# The cashier-text catalogues are package data: the installed wheel must carry every locale of the source.
want=$(find "$src/server/vouchery_gateway/edge/locales" -path '*/LC_MESSAGES/messages.po' | wc -l)
"$work/runtime/bin/python" - "$want" <<'PY'
import sys
from vouchery_gateway.edge.cashier_text import cashier_text
found = cashier_text().locales
if len(found) != int(sys.argv[1]):
    sys.exit(f"container smoke: the wheel carries the catalogues of {found} only")
print("container smoke: cashier text catalogues in the wheel:", " ".join(found))
PY
cd "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/runtime/bin/vouchery-gateway" serve --sandbox --host 127.0.0.1 --port "$port" --metrics-port "$mport" \
  --data-dir "$work/data" >"$work/gateway.log" 2>&1 &
pid=$!
for _ in $(seq 1 60); do
  if "$work/runtime/bin/vouchery-gateway" healthcheck --address "127.0.0.1:$port" >/dev/null 2>&1; then
    echo "container smoke: gateway from wheels is SERVING on 127.0.0.1:$port"
    exit 0
  fi
  sleep 0.5
done
echo "container smoke: gateway did not become healthy; its log:" >&2
cat "$work/gateway.log" >&2
exit 1
