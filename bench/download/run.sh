#!/usr/bin/env bash
# Agora's download and upload benchmarks (`npm run bench`).
#
# Download: the same stored LFS object file (same bytes, same disk) is served by Agora
# (GET /{ns}/{name}/resolve/main/{path}) and by nginx (sendfile on), and fetched with curl, for
# 1 stream and for N concurrent streams (aggregate = total bytes / wall time). Each round runs
# Agora, then nginx, then nginx with sendfile off: a reference server in C that, like Agora,
# copies the bytes through user space.
# Upload: the official JS client (@huggingface/hub) uploads the file to Agora (it hashes the file
# itself, PUTs it, commits), against `sha256sum FILE` + `cp FILE` + `sync` on the same disk; and,
# for reference, the same client with its PUT sent to a server that discards the bytes
# (sink.mjs): what the client alone costs, whatever the server.
#
# Agora runs as one process (its default, `--workers 1`): since downloads leave through sendfile(2),
# one process keeps up with nginx's `worker_processes auto`; BENCH_AGORA_ARGS="--workers 2" compares.
#
# Settings (environment): BENCH_SIZE_MIB (1024), BENCH_ROUNDS (5), BENCH_STREAMS (16),
# BENCH_UPLOAD_ROUNDS (3), BENCH_AGORA_ARGS (`agora serve` flags; default --workers 1),
# BENCH_WORK_DIR (bench/.work), BENCH_KEEP=1 keeps the work directory.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

SIZE_MIB="${BENCH_SIZE_MIB:-1024}"
ROUNDS="${BENCH_ROUNDS:-5}"
STREAMS="${BENCH_STREAMS:-16}"
UPLOAD_ROUNDS="${BENCH_UPLOAD_ROUNDS:-3}"
read -r -a AGORA_ARGS <<<"${BENCH_AGORA_ARGS:---workers 1}"
SIZE=$((SIZE_MIB * 1024 * 1024))

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
# calc EXPR: floating-point arithmetic through awk.
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- tools ---------------------------------------------------------------------------------------
for tool in curl node sha256sum awk getconf; do command -v "$tool" >/dev/null || die "$tool is required"; done
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  log "installing nginx-light"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y nginx-light
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

# --- work directory and cleanup ------------------------------------------------------------------
WORK_PARENT="${BENCH_WORK_DIR:-$ROOT/bench/.work}"
mkdir -p "$WORK_PARENT"
WORK="$(mktemp -d "$WORK_PARENT/run.XXXXXX")"
DATA="$WORK/agora-data"
FILE="$WORK/big.bin"
NGINX_CONF="$WORK/nginx/nginx.conf"
AGORA_PID=""
SINK_PID=""
NGINX_STARTED=""
SAMPLER_PID=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
  if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; fi
  if [ -n "$NGINX_STARTED" ]; then "$NGINX" -p "$WORK/nginx" -c "$NGINX_CONF" -e "$WORK/nginx/error.log" -s stop 2>/dev/null || true; fi
  if [ -n "$AGORA_PID" ] && kill -0 "$AGORA_PID" 2>/dev/null; then
    local tree
    tree="$(tree_pids "$AGORA_PID")"
    kill -TERM "$AGORA_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$AGORA_PID" 2>/dev/null || break; sleep 0.1; done
    # shellcheck disable=SC2086
    kill -KILL $tree 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  if [ "${BENCH_KEEP:-}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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

# rss_of PIDS: resident memory of these processes, KiB (pure bash: cheap enough to sample often).
rss_of() {
  local pid key value rest total=0
  for pid in $1; do
    [ -r "/proc/$pid/status" ] || continue
    while read -r key value rest; do
      if [ "$key" = "VmRSS:" ]; then total=$((total + value)); fi
    done <"/proc/$pid/status"
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
TICKS_PER_S="$(getconf CLK_TCK)"

# --- the file ------------------------------------------------------------------------------------
log "writing $SIZE_MIB MiB of random bytes to $FILE"
head -c "$SIZE" /dev/urandom >"$FILE"
OID="$(sha256sum "$FILE" | cut -d' ' -f1)"
sync

# --- Agora ---------------------------------------------------------------------------------------
TOKEN="$(node bin/agora.mjs token create --user alice --data "$DATA")"
log "starting Agora ${AGORA_ARGS[*]}"
node bin/agora.mjs serve --data "$DATA" --host 127.0.0.1 --port 0 --log-level warn "${AGORA_ARGS[@]}" >"$WORK/agora.log" 2>&1 &
AGORA_PID=$!
for _ in $(seq 1 300); do
  grep -q "Agora is listening" "$WORK/agora.log" && break
  kill -0 "$AGORA_PID" 2>/dev/null || { cat "$WORK/agora.log" >&2; die "Agora did not start"; }
  sleep 0.1
done
grep -q "Agora is listening" "$WORK/agora.log" || die "Agora did not start within 30 s"
HUB="$(grep -o 'listening on http://[0-9.:]*' "$WORK/agora.log" | head -1 | cut -d' ' -f3)"
AGORA_PIDS="$(tree_pids "$AGORA_PID")"
AGORA_IDLE_RSS="$(rss_of "$AGORA_PIDS")"

# --- upload benchmark ----------------------------------------------------------------------------
# Each round uploads to a fresh repository, so the bytes really travel (an object already linked
# to the repository would be skipped by the client).
node bench/download/sink.mjs >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
for _ in $(seq 1 100); do
  if grep -q listening "$WORK/sink.log"; then break; fi
  sleep 0.1
done
SINK_URL="http://127.0.0.1:$(cut -d' ' -f2 "$WORK/sink.log")/upload"
UP_AGORA=()
UP_BASE=()
UP_RATIO=()
UP_CLIENT=()
for round in $(seq 1 "$UPLOAD_ROUNDS"); do
  sync
  t_agora="$(node bench/download/upload.mjs "$HUB" "$TOKEN" "alice/bench-$round" "$FILE" big.bin)"
  sync
  start="$(now)"
  sha256sum "$FILE" >/dev/null
  cp "$FILE" "$WORK/copy.bin"
  sync
  t_base="$(calc "$(now) - $start")"
  rm -f "$WORK/copy.bin"
  sync
  t_client="$(node bench/download/upload.mjs "$HUB" "$TOKEN" "alice/client-$round" "$FILE" big.bin "$SINK_URL")"
  UP_AGORA+=("$t_agora")
  UP_BASE+=("$t_base")
  UP_RATIO+=("$(calc "$t_agora / $t_base")")
  UP_CLIENT+=("$t_client")
  log "upload round $round: Agora $t_agora s, sha256sum + cp + sync $t_base s, client alone $t_client s"
done
kill "$SINK_PID" 2>/dev/null || true
SINK_PID=""

OBJECT="$DATA/lfs/objects/${OID:0:2}/$OID"
[ -f "$OBJECT" ] || die "the uploaded object is not at $OBJECT"
AGORA_URL="$HUB/alice/bench-1/resolve/main/big.bin"

# --- nginx ---------------------------------------------------------------------------------------
free_port() { node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
NGINX_PORT="$(free_port)"
NGINX_COPY_PORT="$(free_port)"
while [ "$NGINX_COPY_PORT" = "$NGINX_PORT" ]; do NGINX_COPY_PORT="$(free_port)"; done
NGINX_URL="http://127.0.0.1:$NGINX_PORT/objects/${OID:0:2}/$OID"
NGINX_COPY_URL="http://127.0.0.1:$NGINX_COPY_PORT/objects/${OID:0:2}/$OID"
mkdir -p "$WORK/nginx/tmp"
{
  if [ "$(id -u)" -eq 0 ]; then echo "user root root;"; fi # its workers must read the data directory
  cat <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  root $DATA/lfs;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    sendfile on;
  }
  server {
    listen 127.0.0.1:$NGINX_COPY_PORT;
    sendfile off;
    output_buffers 2 1m;
  }
}
EOF
} >"$NGINX_CONF"
log "starting nginx on 127.0.0.1:$NGINX_PORT (sendfile on) and 127.0.0.1:$NGINX_COPY_PORT (sendfile off)"
"$NGINX" -p "$WORK/nginx" -c "$NGINX_CONF" -e "$WORK/nginx/error.log"
NGINX_STARTED=1
for _ in $(seq 1 50); do
  if [ -s "$WORK/nginx/nginx.pid" ]; then break; fi
  sleep 0.1
done
NGINX_PIDS="$(tree_pids "$(cat "$WORK/nginx/nginx.pid")")"

# --- download benchmark --------------------------------------------------------------------------
# fetch_one URL: prints bytes/s of one download, after checking status and size.
fetch_one() {
  local out
  out="$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$1")"
  # shellcheck disable=SC2086
  set -- $out
  [ "$1" = 200 ] && [ "$2" = "$SIZE" ] || die "download answered HTTP $1 with $2 bytes"
  echo "$3"
}

# fetch_many URL: downloads URL with $STREAMS concurrent curls; prints aggregate bytes/s.
fetch_many() {
  local start end i out pids=()
  start="$(now)"
  for i in $(seq 1 "$STREAMS"); do
    curl -s -o /dev/null -w '%{http_code} %{size_download}' "$1" >"$WORK/curl.$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  end="$(now)"
  for i in $(seq 1 "$STREAMS"); do
    out="$(cat "$WORK/curl.$i")"
    [ "$out" = "200 $SIZE" ] || die "a concurrent download answered: $out"
  done
  calc "$STREAMS * $SIZE / ($end - $start)"
}

# measure one|many URL PIDS: prints "GB/s CPU-seconds-per-GiB" (CPU of the server processes PIDS).
measure() {
  local before after rate gib=1
  before="$(cpu_ticks "$3")"
  if [ "$1" = one ]; then rate="$(fetch_one "$2")"; else rate="$(fetch_many "$2")"; gib="$STREAMS"; fi
  after="$(cpu_ticks "$3")"
  echo "$(calc "$rate / 1000000000") $(calc "($after - $before) / $TICKS_PER_S / ($gib * $SIZE_MIB / 1024)")"
}

# Peak RSS of Agora's processes, sampled every 0.2 s until stop_sampler (at most 10 min).
start_sampler() {
  touch "$WORK/sampling"
  (
    peak=0
    for _ in $(seq 1 3000); do
      [ -e "$WORK/sampling" ] || break
      rss="$(rss_of "$AGORA_PIDS")"
      if [ "$rss" -gt "$peak" ]; then peak="$rss"; fi
      sleep 0.2
    done
    echo "$peak" >"$WORK/rss.peak.$1"
  ) &
  SAMPLER_PID=$!
}
stop_sampler() {
  rm -f "$WORK/sampling"
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
}

# Warm-up: one download from each server (page cache, JIT), not counted.
fetch_one "$AGORA_URL" >/dev/null
fetch_one "$NGINX_URL" >/dev/null
fetch_one "$NGINX_COPY_URL" >/dev/null

declare -A RATE=() CPU=() RATIO=()
record() { # record KEY "GB/s CPU"
  # shellcheck disable=SC2086
  set -- "$1" $2
  RATE[$1]="${RATE[$1]:-} $2"
  CPU[$1]="${CPU[$1]:-} $3"
}
for mode in one many; do
  label="1 stream"
  [ "$mode" = one ] || label="$STREAMS streams"
  for round in $(seq 1 "$ROUNDS"); do
    [ "$mode" = one ] || start_sampler "$round"
    a="$(measure "$mode" "$AGORA_URL" "$AGORA_PIDS")"
    [ "$mode" = one ] || stop_sampler
    n="$(measure "$mode" "$NGINX_URL" "$NGINX_PIDS")"
    c="$(measure "$mode" "$NGINX_COPY_URL" "$NGINX_PIDS")"
    record "agora-$mode" "$a"
    record "nginx-$mode" "$n"
    record "copy-$mode" "$c"
    RATIO[$mode]="${RATIO[$mode]:-} $(calc "${a%% *} / ${n%% *}")"
    RATIO[copy-$mode]="${RATIO[copy-$mode]:-} $(calc "${a%% *} / ${c%% *}")"
    log "$label, round $round: Agora ${a%% *} GB/s, nginx ${n%% *} GB/s, nginx without sendfile ${c%% *} GB/s"
  done
done
PEAK_RSS=0
for f in "$WORK"/rss.peak.*; do
  [ -f "$f" ] || continue
  v="$(cat "$f")"
  if [ "$v" -gt "$PEAK_RSS" ]; then PEAK_RSS="$v"; fi
done

# --- report --------------------------------------------------------------------------------------
# shellcheck disable=SC2086
m() { median $1; }
row() { # row LABEL MODE
  printf '| %-22s | %10s | %10s | %11s | %15s | %12s | %26s |\n' "$1" \
    "$(m "${RATE[agora-$2]}")" "$(m "${RATE[nginx-$2]}")" "$(m "${RATIO[$2]}")" \
    "$(m "${RATE[copy-$2]}")" "$(m "${RATIO[copy-$2]}")" \
    "$(m "${CPU[agora-$2]}") / $(m "${CPU[nginx-$2]}") / $(m "${CPU[copy-$2]}")"
}
cat <<EOF

Agora benchmarks, $(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, file of $SIZE_MIB MiB
$(grep -o 'Agora is listening.*' "$WORK/agora.log" | head -1)
nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //'), worker_processes auto
GB/s are 10^9 bytes per second; medians of $ROUNDS rounds, each running Agora, nginx, nginx without sendfile in turn.
Server CPU: user + system seconds of the server's processes per GiB served (Agora / nginx / nginx without sendfile).

| download               | Agora GB/s | nginx GB/s | Agora/nginx | no-sendfile GB/s | Agora/no-sf | server CPU s/GiB A/n/no-sf |
|------------------------|-----------:|-----------:|------------:|----------------:|------------:|---------------------------:|
$(row "1 stream" one)
$(row "$STREAMS streams (aggregate)" many)

Agora/nginx per round, 1 stream:${RATIO[one]}; $STREAMS streams:${RATIO[many]}
Agora resident memory (all its processes): idle $((AGORA_IDLE_RSS / 1024)) MiB, peak during the $STREAMS-stream runs $((PEAK_RSS / 1024)) MiB

| upload of $SIZE_MIB MiB            | seconds (median) | rounds |
|--------------------------|-----------------:|--------|
| Agora (@huggingface/hub) | $(printf '%16s' "$(median "${UP_AGORA[@]}")") | ${UP_AGORA[*]} |
| sha256sum + cp + sync    | $(printf '%16s' "$(median "${UP_BASE[@]}")") | ${UP_BASE[*]} |
| Agora / baseline         | $(printf '%16s' "$(median "${UP_RATIO[@]}")") | ${UP_RATIO[*]} |
| client alone (PUT to a server discarding the bytes) | $(printf '%16s' "$(median "${UP_CLIENT[@]}")") | ${UP_CLIENT[*]} |

Goals: Agora/nginx >= 0.9 for 1 and $STREAMS streams; upload Agora/baseline <= 1.3.
EOF
