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

# shellcheck disable=SC2034 # read by lib.sh
BENCH_TAG=bench
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

SIZE_MIB="${BENCH_SIZE_MIB:-1024}"
ROUNDS="${BENCH_ROUNDS:-5}"
STREAMS="${BENCH_STREAMS:-16}"
UPLOAD_ROUNDS="${BENCH_UPLOAD_ROUNDS:-3}"
read -r -a AGORA_ARGS <<<"${BENCH_AGORA_ARGS:---workers 1}"
SIZE=$((SIZE_MIB * 1024 * 1024))

require_tools curl node sha256sum awk getconf
ensure_nginx

# --- work directory and cleanup ------------------------------------------------------------------
make_work_dir run
DATA="$WORK/agora-data"
FILE="$WORK/big.bin"
AGORA_PID=""
SINK_PID=""
PEAK_RSS_SAMPLER=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$PEAK_RSS_SAMPLER" ]; then kill "$PEAK_RSS_SAMPLER" 2>/dev/null || true; fi
  if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; fi
  nginx_stop "$WORK/nginx"
  stop_tree "$AGORA_PID"
  wait 2>/dev/null || true
  if [ "${BENCH_KEEP:-}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the file ------------------------------------------------------------------------------------
log "writing $SIZE_MIB MiB of random bytes to $FILE"
head -c "$SIZE" /dev/urandom >"$FILE"
OID="$(sha256sum "$FILE" | cut -d' ' -f1)"
sync

# --- Agora ---------------------------------------------------------------------------------------
TOKEN="$(node bin/agora.mjs token create --user alice --data "$DATA")"
log "starting Agora ${AGORA_ARGS[*]}"
agora_start AGORA "$WORK/agora.log" "$DATA" "${AGORA_ARGS[@]}"
HUB="$AGORA_URL"
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
UP_OVER_CLIENT=()
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
  UP_OVER_CLIENT+=("$(calc "$t_agora / $t_client")")
  log "upload round $round: Agora $t_agora s, sha256sum + cp + sync $t_base s, client alone $t_client s"
done
kill "$SINK_PID" 2>/dev/null || true
SINK_PID=""

OBJECT="$DATA/lfs/objects/${OID:0:2}/$OID"
[ -f "$OBJECT" ] || die "the uploaded object is not at $OBJECT"
FILE_URL="$HUB/alice/bench-1/resolve/main/big.bin"

# --- nginx ---------------------------------------------------------------------------------------
NGINX_PORT="$(free_port)"
NGINX_COPY_PORT="$(free_port)"
while [ "$NGINX_COPY_PORT" = "$NGINX_PORT" ]; do NGINX_COPY_PORT="$(free_port)"; done
NGINX_URL="http://127.0.0.1:$NGINX_PORT/objects/${OID:0:2}/$OID"
NGINX_COPY_URL="http://127.0.0.1:$NGINX_COPY_PORT/objects/${OID:0:2}/$OID"
log "starting nginx on 127.0.0.1:$NGINX_PORT (sendfile on) and 127.0.0.1:$NGINX_COPY_PORT (sendfile off)"
nginx_static_start "$WORK/nginx" "$DATA/lfs" "$NGINX_PORT" "$NGINX_COPY_PORT"
NGINX_PIDS="$(nginx_pids "$WORK/nginx")"

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

# Warm-up: one download from each server (page cache, JIT), not counted.
fetch_one "$FILE_URL" >/dev/null
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
    [ "$mode" = one ] || peak_rss_start "$WORK/rss.peak.$round" "$AGORA_PIDS"
    a="$(measure "$mode" "$FILE_URL" "$AGORA_PIDS")"
    [ "$mode" = one ] || peak_rss_stop "$WORK/rss.peak.$round"
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
| Agora / client alone     | $(printf '%16s' "$(median "${UP_OVER_CLIENT[@]}")") | ${UP_OVER_CLIENT[*]} |

Goals: Agora/nginx >= 0.9 for 1 and $STREAMS streams; upload Agora/baseline <= 1.3.
EOF
