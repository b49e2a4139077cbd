#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks, on 127.0.0.1 and a free port.
#
#   scripts/pg_server.sh start DIR [postgres -c options...]  # prints the URL of the new server
#   scripts/pg_server.sh stop DIR                            # stops the server started in DIR
#   scripts/pg_server.sh restart DIR                         # stops it, then starts it on the same port
#
# `start` installs Debian's postgresql when initdb is missing, creates a cluster in DIR/data
# (trust authentication, superuser `postgres`; only the role `aether_password_test` must give a
# password), and starts it with the socket directory off, so
# it touches nothing outside DIR. `stop` signals only the PID in DIR/data/postmaster.pid.
# Extra arguments to `start` are passed to the server, e.g. `-c fsync=off` for fast tests;
# without them the server keeps PostgreSQL's defaults (fsync on).
set -euo pipefail

usage() {
  echo "usage: $0 start DIR [server options...] | stop DIR | restart DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
command=$1
dir=$2
shift 2

find_bin() {
  local found
  found=$(command -v "$1" 2>/dev/null || true)
  if [ -z "$found" ]; then
    found=$(ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1 || true)
  fi
  echo "$found"
}

install_postgres() {
  echo "pg_server: installing Debian postgresql (apt-get)..." >&2
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq postgresql) >&2
  else
    sudo -n apt-get update -qq >&2 && sudo -n apt-get install -y -qq postgresql >&2
  fi
}

# Runs a command as the cluster's owner: PostgreSQL refuses to run as root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A TCP port nobody listens on (checked with bash's /dev/tcp).
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  echo "pg_server: no free port found" >&2
  exit 1
}

start_server() { # start_server PORT
  local port=$1 pg_ctl options
  pg_ctl=$(find_bin pg_ctl)
  options="-c listen_addresses=127.0.0.1 -p $port -k '' -c max_connections=300"
  [ -f "$dir/server-options" ] && options="$options $(cat "$dir/server-options")"
  as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$options" start >/dev/null
  # Ready means reachable: wait until the port accepts a TCP connection (at most 10 s).
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port" >"$dir/port"
      return 0
    fi
    sleep 0.1
  done
  echo "pg_server: the server started but 127.0.0.1:$port does not accept connections" >&2
  stop_server
  return 1
}

stop_server() {
  local pid
  [ -f "$dir/data/postmaster.pid" ] || return 0
  pid=$(head -1 "$dir/data/postmaster.pid")
  # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
  kill -INT "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "pg_server: server $pid did not stop within 30 s" >&2
  return 1
}

case "$command" in
start)
  if [ -z "$(find_bin initdb)" ]; then install_postgres; fi
  initdb=$(find_bin initdb)
  [ -n "$initdb" ] || {
    echo "pg_server: initdb not found after installing postgresql" >&2
    exit 1
  }
  mkdir -p "$dir"
  [ -e "$dir/data" ] && {
    echo "pg_server: $dir/data already exists" >&2
    exit 1
  }
  printf '%s ' "$@" >"$dir/server-options"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  as_owner "$initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  # One role logs in with a password (scram), so tests can check a refused login; all others
  # are trusted.
  hba="$dir/data/pg_hba.conf"
  { echo "host all aether_password_test 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$hba.new"
  mv "$hba.new" "$hba"
  if [ "$(id -u)" = 0 ]; then chown postgres "$hba"; fi
  for attempt in 1 2 3; do
    port=$(free_port)
    if start_server "$port" 2>>"$dir/start.log"; then
      echo "postgres://postgres@127.0.0.1:$port/postgres"
      exit 0
    fi
    echo "pg_server: start on port $port failed (attempt $attempt)" >&2
  done
  cat "$dir/server.log" >&2 || true
  exit 1
  ;;
stop)
  stop_server
  ;;
restart)
  stop_server
  start_server "$(cat "$dir/port")"
  ;;
*)
  usage
  ;;
esac
