#!/usr/bin/env bash
# Debian packages the test suite needs. Quiet and quick when they are already there.
# git: lineage tests build real repositories. postgresql-15: the store tests run on a real server too.
# prometheus: promtool checks the /metrics page. wrk: the serving benchmark's load generator.
set -euo pipefail
needed=()
for pkg in git postgresql-15 prometheus wrk; do
  dpkg -s "$pkg" >/dev/null 2>&1 || needed+=("$pkg")
done
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: please install: ${needed[*]} (needs root)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}"
