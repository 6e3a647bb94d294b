#!/usr/bin/env bash
# Debian packages the test suite needs. Quiet and quick when they are already there.
# git: lineage tests build real repositories. postgresql-15: the store tests run on a real server too.
# prometheus: promtool checks the /metrics page. wrk: the serving benchmark's load generator.
# chromium: the browser tests drive it headless with Playwright (never `playwright install`).
set -euo pipefail
needed=()
for pkg in git postgresql-15 prometheus wrk chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || needed+=("$pkg")
done
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: please install: ${needed[*]} (needs root)" >&2
  exit 1
fi
# apt and dpkg talk a lot even with -qq: keep their output in a log shown only when something fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${needed[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-system-deps: installing ${needed[*]} failed (apt output above)" >&2
  exit 1
fi
echo "install-system-deps: installed ${needed[*]}"
