# shellcheck shell=bash
# Shared helpers of Agora's benchmark scripts. Source it from a script under bench/<name>/ that
# runs with `set -euo pipefail` and has set BENCH_TAG (the prefix of its log lines):
#
#   BENCH_TAG=bench:mirror
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
#
# It defines functions only (and ROOT, TICKS_PER_S); the calling script owns its work directory,
# its cleanup trap and the processes it starts.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[%s] %s\n' "${BENCH_TAG:-bench}" "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
# calc EXPR: floating-point arithmetic through awk, 3 decimals.
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
# median VALUES...
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# load_average: the 1, 5 and 15 minute load averages.
load_average() { cut -d' ' -f1-3 /proc/loadavg; }

require_tools() { local tool; for tool in "$@"; do command -v "$tool" >/dev/null || die "$tool is required"; done; }

# free_port: a TCP port free on 127.0.0.1 right now.
free_port() { node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }

# make_work_dir NAME: a fresh directory under $BENCH_WORK_DIR (default bench/.work), in WORK.
make_work_dir() {
  local parent="${BENCH_WORK_DIR:-$ROOT/bench/.work}"
  mkdir -p "$parent"
  # shellcheck disable=SC2034 # used by the scripts that source this file
  WORK="$(mktemp -d "$parent/$1.XXXXXX")"
}

# --- processes -----------------------------------------------------------------------------------

# tree_pids PID: PID and all its descendants, from /proc/*/stat (cat reads the files, not awk:
# processes may vanish meanwhile).
tree_pids() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
    { pid = $1; sub(/^.*\) /, ""); parent[pid] = $2 }
    END {
      list = root; seen[root] = 1; changed = 1
      while (changed) {
        changed = 0
        for (pid in parent) if (!(pid in seen) && (parent[pid] in seen)) { seen[pid] = 1; list = list " " pid; changed = 1 }
      }
      print list
    }'
}

# stop_tree PID: TERM, wait up to 10 s, then KILL whatever of its process tree is left.
stop_tree() {
  local pid="$1" tree
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  tree="$(tree_pids "$pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  # shellcheck disable=SC2086
  kill -KILL $tree 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# rss_of PIDS: resident memory of these processes, KiB (pure bash: cheap enough to sample often).
rss_of() {
  local pid key value rest total=0
  for pid in $1; do
    [ -r "/proc/$pid/status" ] || continue
    while read -r key value rest; do
      if [ "$key" = "VmRSS:" ]; then total=$((total + value)); fi
    done <"/proc/$pid/status" || true
  done
  echo "$total"
}

# cpu_ticks PIDS: user + system CPU ticks these processes have used so far.
cpu_ticks() {
  local pid line total=0
  for pid in $1; do
    [ -r "/proc/$pid/stat" ] || continue
    read -r line <"/proc/$pid/stat" || continue
    # shellcheck disable=SC2086
    set -- ${line##*) }
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}
# shellcheck disable=SC2034 # used by the scripts that source this file
TICKS_PER_S="$(getconf CLK_TCK)"

# --- Agora ---------------------------------------------------------------------------------------

# agora_start NAME LOG DATA [SERVE ARGS...]: starts `agora serve` on 127.0.0.1 (a free port) with
# DATA as its data directory, waits until it listens, and sets ${NAME}_PID and ${NAME}_URL.
agora_start() {
  local name="$1" logfile="$2" data="$3" pid url
  shift 3
  : >"$logfile" # exists before the wait below reads it (the background shell opens it later)
  (cd "$ROOT" && exec node bin/agora.mjs serve --data "$data" --host 127.0.0.1 --port 0 --log-level warn "$@") >"$logfile" 2>&1 &
  pid=$!
  printf -v "${name}_PID" '%s' "$pid"
  for _ in $(seq 1 600); do
    grep -q "Agora is listening" "$logfile" && break
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "Agora ($name) did not start"; }
    sleep 0.1
  done
  grep -q "Agora is listening" "$logfile" || die "Agora ($name) did not start within 60 s"
  url="$(grep -o 'listening on http://[0-9.:]*' "$logfile" | head -1 | cut -d' ' -f3)"
  printf -v "${name}_URL" '%s' "$url"
}

# --- nginx ---------------------------------------------------------------------------------------

# ensure_nginx: installs nginx-light from Debian if nginx is missing; sets NGINX.
ensure_nginx() {
  if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    log "installing nginx-light"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y nginx-light
  fi
  NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
}

# nginx_temp_paths DIR: the http-block lines that keep nginx's temporary files under DIR/tmp
# (the caller creates DIR/tmp).
nginx_temp_paths() {
  cat <<EOF
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
EOF
}

# nginx_run DIR: starts nginx with prefix DIR and its DIR/nginx.conf; waits for its pid file.
nginx_run() {
  local dir="$1"
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  for _ in $(seq 1 50); do
    if [ -s "$dir/nginx.pid" ]; then return 0; fi
    sleep 0.1
  done
  die "nginx did not write $dir/nginx.pid"
}

# nginx_static_start DIR ROOT PORT [COPY_PORT]: an nginx with its own prefix DIR serving the files
# under ROOT on 127.0.0.1:PORT with sendfile on (and, with COPY_PORT, the same files with sendfile
# off: a server in C that copies the bytes through user space). Stop it with nginx_stop DIR.
nginx_static_start() {
  local dir="$1" root="$2" port="$3" copy_port="${4:-}"
  mkdir -p "$dir/tmp"
  {
    if [ "$(id -u)" -eq 0 ]; then echo "user root root;"; fi # its workers must read the data directory
    cat <<EOF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  tcp_nopush on;
  default_type application/octet-stream;
$(nginx_temp_paths "$dir")
  root $root;
  server {
    listen 127.0.0.1:$port;
    sendfile on;
  }
EOF
    if [ -n "$copy_port" ]; then
      cat <<EOF
  server {
    listen 127.0.0.1:$copy_port;
    sendfile off;
    output_buffers 2 1m;
  }
EOF
    fi
    echo "}"
  } >"$dir/nginx.conf"
  nginx_run "$dir"
}

# nginx_proxy_start DIR BACKEND PORT RATE: an nginx with its own prefix DIR on 127.0.0.1:PORT,
# a reverse proxy to BACKEND (http://host:port) that sends each response at most RATE bytes/s
# (limit_rate syntax: 100m = 100 MiB/s), logging every request to DIR/access.log. Requests pass
# unchanged (method, path, Host, Range, Authorization, bodies of git POSTs); responses are read
# through in-memory buffers only (proxy_max_temp_file_size 0), so the backend is held back by the
# client's pace instead of being drained into a temporary file. Stop it with nginx_stop DIR.
nginx_proxy_start() {
  local dir="$1" backend="$2" port="$3" rate="$4"
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  log_format timed '\$request_method \$request_uri \$status \$body_bytes_sent \$request_time range=\$http_range';
  access_log $dir/access.log timed;
$(nginx_temp_paths "$dir")
  server {
    listen 127.0.0.1:$port;
    client_max_body_size 0;
    location / {
      proxy_pass $backend;
      proxy_http_version 1.1;
      proxy_set_header Host \$http_host;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffering on;
      proxy_buffer_size 1m;
      proxy_buffers 4 1m;
      proxy_busy_buffers_size 2m;
      proxy_max_temp_file_size 0;
      proxy_read_timeout 300s;
      limit_rate $rate;
    }
  }
}
EOF
  nginx_run "$dir"
}

# nginx_pids DIR: the master and worker processes of the nginx started with prefix DIR.
nginx_pids() { tree_pids "$(cat "$1/nginx.pid")"; }

nginx_stop() {
  local dir="$1"
  [ -s "$dir/nginx.pid" ] || return 0
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -s stop 2>/dev/null || true
}

# --- measuring -----------------------------------------------------------------------------------

# peak_rss_start FILE PIDS: samples the resident memory of PIDS every 0.2 s (at most 10 min) and
# writes the peak (KiB) to FILE when peak_rss_stop FILE is called. Sets PEAK_RSS_SAMPLER.
peak_rss_start() {
  local file="$1" pids="$2"
  touch "$file.sampling"
  (
    peak=0
    for _ in $(seq 1 3000); do
      [ -e "$file.sampling" ] || break
      rss="$(rss_of "$pids")"
      if [ "$rss" -gt "$peak" ]; then peak="$rss"; fi
      sleep 0.2
    done
    echo "$peak" >"$file"
  ) &
  PEAK_RSS_SAMPLER=$!
}
peak_rss_stop() {
  rm -f "$1.sampling"
  if [ -n "${PEAK_RSS_SAMPLER:-}" ]; then wait "$PEAK_RSS_SAMPLER" 2>/dev/null || true; fi
  PEAK_RSS_SAMPLER=""
}
