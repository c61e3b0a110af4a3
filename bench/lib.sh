# Shell functions the benchmarks under bench/ share: a work folder removed on exit, servers started
# and stopped through their "listening on" line, a cache node and nginx on loopback, medians, and
# readers of /proc. Sourced, never run:
#   source bench/lib.sh
#   bench_init bench/NAME        # the name prefixes every message
# REQUIRES: the sourcing script runs under `set -euo pipefail` from the repository's root, and sets
# `bin` (the build directory) before it starts a node.
# Variables are shared both ways with the sourcing script (hz, server_url and nginx_port are set
# here for it; bin is set there):
# shellcheck shell=bash disable=SC2034,SC2154

# Clock ticks per second, for cpu_ticks.
hz=$(getconf CLK_TCK)

# Makes the work folder $work, an admin token in $work/admin-token, a trap that stops every server
# started here and removes $work on exit, and one that names the line of a command that failed
# without a message of its own (set -e would otherwise end the benchmark silently).
bench_init() {
  bench_name=$1
  work=$(mktemp -d "${TMPDIR:-/tmp}/mei-${bench_name//\//-}.XXXXXX")
  chmod 755 "$work"
  pids=()  # every server this script started and has not stopped yet
  trap bench_cleanup EXIT
  set -o errtrace
  # (Once: a command substitution that fails also fails the command it is part of.)
  trap '((BASH_SUBSHELL)) || echo "$bench_name: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/admin-token"
}

bench_cleanup() {
  trap - ERR
  set +e
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  [[ -f "$work/nginx.pid" ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  rm -rf "$work"
}

# Prints a message prefixed with the benchmark's name to stderr and exits non-zero.
die() {
  echo "$bench_name: $*" >&2
  exit 1
}

# Installs the Debian PACKAGE when COMMAND is not on the PATH (sudo when not root), updating the
# package lists first when they do not know it.
need_command() {
  local command=$1 package=$2 sudo_cmd=()
  command -v "$command" >/dev/null && return 0
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  echo "$bench_name: installing $package" >&2
  if ! apt-cache show "$package" >/dev/null 2>&1; then
    "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  fi
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$package" >/dev/null
}

# Starts a server (the remaining arguments) that prints "listening on URL [admin URL]" as its first
# stdout line once it listens; sets server_pid and server_url. Its stdout is a FIFO held open here
# (the servers print only that line to it); its stderr goes to $work/NAME.log. Fails, with the
# log, when the server exits first or does not listen within 60 s.
start_server() {
  local name=$1 fd waited
  shift
  mkfifo "$work/$name.out"
  exec {fd}<>"$work/$name.out"
  "$@" >"$work/$name.out" 2>"$work/$name.log" &
  server_pid=$!
  pids+=("$server_pid")
  for ((waited = 0; waited < 60; waited++)); do
    read -r -t 1 -u "$fd" _ _ server_url _ && return 0
    kill -0 "$server_pid" 2>/dev/null || break
  done
  echo "$bench_name: $name did not start:" >&2
  cat "$work/$name.log" >&2
  return 1
}

# Stops a server that start_server started, and forgets it.
stop_server() {
  local pid kept=()
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    [[ "$pid" != "$1" ]] && kept+=("$pid")
  done
  pids=("${kept[@]}")
}

# A cache node NAME with an empty store $work/NAME, holding up to CAPACITY, whose parent is the
# server at PARENT_URL; further arguments go to mei-cache-node. Sets server_pid and server_url.
start_node() {
  local name=$1 parent=$2 capacity=$3
  shift 3
  start_server "$name" "$bin/cache-node/mei-cache-node" --store "$work/$name" --node-id "$name" \
    --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --parent "$parent" \
    --admin-token-file "$work/admin-token" --capacity "$capacity" "$@"
}

# Waits until the cache node at URL has no fill under way (mei_cache_fills_in_flight 0): a download
# can end, sent from the fills' memory, before the node has stored its last blocks, and a request
# meanwhile finds them partly held. Fails after 60 s.
wait_fills_done() {
  local url=$1 filling
  for _ in $(seq 600); do
    filling=$(curl -sf "$url/metrics" | awk '/^mei_cache_fills_in_flight / {print $2}') || true
    [[ "$filling" == 0 ]] && return 0
    sleep 0.1
  done
  die "the node at $url still had ${filling:-unknown} fills under way after 60 s"
}

# Starts nginx (2 workers, sendfile on, no access log) serving the folder ROOT, inside $work, on the
# first free port from 18080 (nginx exits non-zero when it cannot bind); sets nginx_port. ROOT is
# made readable by nginx's workers, which run as another user (nobody in Debian's build).
# HTTP_EXTRA and SERVER_EXTRA, when given, are more configuration for the http and the server
# block. Stopped on exit.
start_nginx() {
  local root=$1 http_extra=${2:-} server_extra=${3:-} port dir
  chmod -R a+rX "$root"
  dir=$root
  while [[ "$dir" != "$work" && "$dir" != / ]]; do
    dir=$(dirname "$dir")
    chmod a+x "$dir"
  done
  mkdir -p "$work/nginx"
  for port in $(seq 18080 18180); do
    cat >"$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  $http_extra
  server { listen 127.0.0.1:$port; root $root; $server_extra }
}
CONF
    if nginx -c "$work/nginx.conf" -p "$work/nginx" 2>"$work/nginx/start.err"; then
      nginx_port=$port
      return 0
    fi
  done
  die "nginx did not start on any port from 18080 to 18180: $(cat "$work/nginx/start.err")"
}

# The median of the numbers on stdin, one a line.
# (%.12g: mawk would print a large mean of two with 6 digits.) Fails on no input.
median() {
  sort -g | awk '{v[NR] = $1}
    END {
      if (NR == 0) exit 1
      printf "%.12g\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}
# The median of the arguments.
med() { printf '%s\n' "$@" | median; }
# A / B to 3 decimals, the ratio of a figure to its anchor.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
# Clock ticks of CPU (user + system) a process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# A /proc/PID/status field in KiB (VmRSS, VmHWM).
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
# Succeeds while any of the processes runs (bash reaps its children as they exit).
any_alive() {
  local pid
  for pid; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}

# Appends one row of bench/run's table to the file $MEI_BENCH_TABLE, when it is set (a benchmark run
# on its own prints only its own report): FIGURE OURS ANCHOR RATIO TARGET, tab-separated. OURS and
# ANCHOR carry their units and the anchor its name ("1234.5 MiB/s", "nginx 1300.0 MiB/s"); RATIO is
# a plain number; TARGET is ">= X", "> X", "<= X", "< X" (bench/run checks RATIO against it) or
# "report".
bench_row() {
  [[ -z "${MEI_BENCH_TABLE:-}" ]] || printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$MEI_BENCH_TABLE"
}

# Parses a benchmark's arguments: sets quick=1 for --quick, 0 for none; anything else prints NAME's
# usage and exits 2. Call as: bench_quick_flag bench/NAME "$@"
bench_quick_flag() {
  local name=$1
  shift
  quick=0
  case "$*" in
    "") ;;
    --quick) quick=1 ;;
    *)
      echo "usage: $name [--quick]" >&2
      exit 2
      ;;
  esac
}
