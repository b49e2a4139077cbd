#!/usr/bin/env bash
# Runs the whole test suite on Bun and on Deno and prints one line "N passed, N failed".
# Installs what the tests need and the machine lacks (Debian's chromium for the browser test).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  echo "Installing chromium for the dashboard browser test (apt-get)..." >&2
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium) >&2 || echo "chromium install failed" >&2
  else
    sudo -n true 2>/dev/null && (sudo apt-get update -qq && sudo apt-get install -y -qq chromium) >&2 ||
      echo "chromium is missing and cannot be installed without root; the browser test will fail" >&2
  fi
fi

# Tools some tests use and skip without (with a message): the sqlite3 CLI (documented backups),
# systemd-analyze (the systemd unit), qemu-aarch64 (the arm64 binary), python3 (the Python client).
# Best effort, as root only.
missing=()
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user libc6-arm64-cross)
command -v python3 >/dev/null 2>&1 || missing+=(python3) # the Python client's tests
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  echo "Installing ${missing[*]} for the tests that use them (apt-get)..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >&2 ||
    echo "could not install ${missing[*]}; the tests that need them will skip" >&2
fi

out=$(mktemp -d)
pg_dir=""
cleanup() {
  if [ -n "$pg_dir" ]; then
    scripts/pg_server.sh stop "$pg_dir" >&2
    rm -rf "$pg_dir"
  fi
  rm -rf "$out"
}
trap cleanup EXIT

# One throwaway PostgreSQL server for both runs, unless AETHER_TEST_PG_URL names one already.
# fsync is off: the tests check behaviour, not durability (the benchmark keeps the defaults).
if [ -z "${AETHER_TEST_PG_URL:-}" ]; then
  pg_dir=$(mktemp -d /tmp/aether-pg-XXXXXX)
  echo "Starting a PostgreSQL server for the tests in $pg_dir..." >&2
  if AETHER_TEST_PG_URL=$(scripts/pg_server.sh start "$pg_dir" -c fsync=off -c synchronous_commit=off); then
    export AETHER_TEST_PG_URL
  else
    echo "PostgreSQL could not be started; the PostgreSQL tests will fail" >&2
  fi
fi

echo "== bun test ==" >&2
"$bin/bun" test tests 2>&1 | tee "$out/bun.log" >&2
bun_status=${PIPESTATUS[0]}
echo "== deno test ==" >&2
NO_COLOR=1 "$bin/deno" test -A tests/ 2>&1 | tee "$out/deno.log" >&2
deno_status=${PIPESTATUS[0]}

# Bun prints " N pass" and " N fail"; Deno prints "ok | N passed (M steps) | F failed (G steps)".
bun_pass=$(grep -Eo '^ *[0-9]+ pass$' "$out/bun.log" | grep -Eo '[0-9]+' | tail -1)
bun_fail=$(grep -Eo '^ *[0-9]+ fail$' "$out/bun.log" | grep -Eo '[0-9]+' | tail -1)
summary=$(grep -E '^(ok|FAILED) \| ' "$out/deno.log" | tail -1)
count() { # count "passed" or "failed" in Deno's summary: tests plus steps
  local n steps
  n=$(grep -Eo "[0-9]+ $1" <<<"$summary" | grep -Eo '^[0-9]+' || true)
  steps=$(grep -Eo "[0-9]+ $1 \(([0-9]+) steps?\)" <<<"$summary" | grep -Eo '\(([0-9]+)' | tr -d '(' || true)
  echo $(( ${n:-0} + ${steps:-0} ))
}
deno_pass=$(count passed)
deno_fail=$(count failed)
: "${bun_pass:=0}" "${bun_fail:=0}"

# The chaos harness in its short form (3 rounds of kill -9, 400 orphans, a silent worker): one
# counted check. After the suites, so the binary the CLI test built is the one it kills.
echo "== chaos --ci ==" >&2
if "$bin/bun" scripts/chaos.ts --ci >"$out/chaos.log" 2>&1; then chaos_pass=1 chaos_fail=0; else chaos_pass=0 chaos_fail=1; fi
tail -n 20 "$out/chaos.log" >&2

echo "bun: $bun_pass passed, $bun_fail failed (exit $bun_status); deno: $deno_pass passed, $deno_fail failed (exit $deno_status); chaos: $chaos_pass passed, $chaos_fail failed" >&2
bun_pass=$((bun_pass + chaos_pass))
failed=$((bun_fail + deno_fail + chaos_fail))
if [ "$bun_status" != 0 ] || [ "$deno_status" != 0 ]; then
  [ "$failed" = 0 ] && failed=1
fi
echo "$((bun_pass + deno_pass)) passed, $failed failed"
[ "$failed" = 0 ]
