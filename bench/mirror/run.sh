#!/usr/bin/env bash
# Agora's pull-through mirror benchmark (`npm run bench:mirror`).
#
# An upstream Agora holds a model repository with one large LFS file (random bytes, uploaded once
# with the official JS client). A second Agora, the mirror, runs with `--upstream <upstream URL>`.
# Everything is on 127.0.0.1; curl downloads to /dev/null.
#
# Cold: the mirror does not have the object yet, so its /resolve fetches it from the upstream,
#   verifies it (SHA-256 and size) and stores it while streaming it to the client. Each round
#   starts a mirror on a fresh data directory and mirrors the repository's metadata (one
#   /api/models call, timed separately), then downloads the file through the mirror and directly
#   from the upstream's /resolve, alternating which goes first. Ratio mirror/upstream.
# Warm: the last cold round's mirror now has the object; downloads through the mirror alternate
#   with nginx (sendfile on) serving the very same object file (DATA/lfs/objects/xx/<oid>, same
#   bytes, same disk), and with nginx sendfile off (a server in C copying through user space, as
#   Node must). Ratio mirror/nginx.
# Before the measured rounds, one unmeasured cold download through a fresh mirror and one warm
# download are piped into sha256sum and compared with the file's SHA-256, and the object the
# mirror stored is hashed as well.
#
# Settings (environment): BENCH_SIZE_MIB (1024), BENCH_ROUNDS (5), BENCH_WORKERS (`--workers` of
# both Agoras; default $(nproc)), BENCH_WORK_DIR (bench/.work), BENCH_KEEP=1 keeps the work
# directory. Everything started here is stopped on exit.

set -euo pipefail

# shellcheck disable=SC2034 # read by lib.sh
BENCH_TAG=bench:mirror
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

SIZE_MIB="${BENCH_SIZE_MIB:-1024}"
ROUNDS="${BENCH_ROUNDS:-5}"
WORKERS="${BENCH_WORKERS:-$(nproc)}"
[[ "$SIZE_MIB" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIZE_MIB must be a positive integer"
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || die "BENCH_ROUNDS must be 1..99"
[[ "$WORKERS" =~ ^[1-9][0-9]?$ ]] || die "BENCH_WORKERS must be 1..99"
SIZE=$((SIZE_MIB * 1024 * 1024))
REPO=alice/mirror-bench
FILE_IN_REPO=big.bin

require_tools curl node sha256sum awk getconf
ensure_nginx

# --- work directory and cleanup ------------------------------------------------------------------
WORK_PARENT="${BENCH_WORK_DIR:-$ROOT/bench/.work}"
mkdir -p "$WORK_PARENT"
WORK="$(mktemp -d "$WORK_PARENT/mirror.XXXXXX")"
UPSTREAM_DATA="$WORK/upstream-data"
UPSTREAM_PID=""
MIRROR_PID=""
MIRROR_DATA=""
PEAK_RSS_SAMPLER=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$PEAK_RSS_SAMPLER" ]; then kill "$PEAK_RSS_SAMPLER" 2>/dev/null || true; fi
  nginx_stop "$WORK/nginx"
  stop_tree "$MIRROR_PID"
  stop_tree "$UPSTREAM_PID"
  wait 2>/dev/null || true
  if [ "${BENCH_KEEP:-}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "load average at start: $(load_average)"

# --- the upstream --------------------------------------------------------------------------------
log "writing $SIZE_MIB MiB of random bytes"
head -c "$SIZE" /dev/urandom >"$WORK/big.bin"
OID="$(sha256sum "$WORK/big.bin" | cut -d' ' -f1)"
TOKEN="$(node bin/agora.mjs token create --user alice --data "$UPSTREAM_DATA")"
log "starting the upstream Agora (--workers $WORKERS)"
agora_start UPSTREAM "$WORK/upstream.log" "$UPSTREAM_DATA" --workers "$WORKERS"
UPSTREAM_PIDS="$(tree_pids "$UPSTREAM_PID")"
log "uploading the file to the upstream ($UPSTREAM_URL/$REPO) with @huggingface/hub"
node bench/download/upload.mjs "$UPSTREAM_URL" "$TOKEN" "$REPO" "$WORK/big.bin" "$FILE_IN_REPO" >/dev/null
rm -f "$WORK/big.bin" # the upstream has its own copy; the source is not needed any more
[ -f "$UPSTREAM_DATA/lfs/objects/${OID:0:2}/$OID" ] || die "the upstream did not store the object"
UPSTREAM_FILE_URL="$UPSTREAM_URL/$REPO/resolve/main/$FILE_IN_REPO"

# --- the mirror ----------------------------------------------------------------------------------
# mirror_fresh N: stops the running mirror, removes its data directory, starts a new one on an
# empty data directory, and mirrors the repository's metadata (sets MIRROR_META_S, its seconds).
mirror_fresh() {
  stop_tree "$MIRROR_PID"
  MIRROR_PID=""
  if [ -n "$MIRROR_DATA" ]; then rm -rf "$MIRROR_DATA"; fi
  MIRROR_DATA="$WORK/mirror-data-$1"
  agora_start MIRROR "$WORK/mirror-$1.log" "$MIRROR_DATA" --workers "$WORKERS" --upstream "$UPSTREAM_URL"
  MIRROR_PIDS="$(tree_pids "$MIRROR_PID")"
  MIRROR_IDLE_RSS="$(rss_of "$MIRROR_PIDS")"
  MIRROR_OBJECT="$MIRROR_DATA/lfs/objects/${OID:0:2}/$OID"
  local out
  out="$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$MIRROR_URL/api/models/$REPO")"
  [ "${out%% *}" = 200 ] || die "the mirror answered ${out%% *} to /api/models/$REPO"
  MIRROR_META_S="${out#* }"
  [ ! -e "$MIRROR_OBJECT" ] || die "a fresh mirror already has the object"
  MIRROR_FILE_URL="$MIRROR_URL/$REPO/resolve/main/$FILE_IN_REPO"
}

# check_sha256 URL WHAT: downloads URL into sha256sum (unmeasured) and compares with the file's.
check_sha256() {
  local sum
  sum="$(curl -sS --fail "$1" | sha256sum | cut -d' ' -f1)" || die "$2: the download failed"
  [ "$sum" = "$OID" ] || die "$2: SHA-256 $sum, expected $OID"
  log "$2: SHA-256 matches ($OID)"
}

# fetch URL: one download to /dev/null after checking status and size; prints "bytes/s ttfb-s".
fetch() {
  local url="$1" out
  out="$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download} %{time_starttransfer}' "$url")"
  # shellcheck disable=SC2086
  set -- $out
  if [ "$1" != 200 ] || [ "$2" != "$SIZE" ]; then
    [ "$1" = 200 ] || log "the same request again answers: $(curl -s "$url" | head -c 500)"
    die "$url answered HTTP $1 with $2 bytes"
  fi
  echo "$3 $4"
}

# measure URL PIDS_A [PIDS_B]: prints "GB/s ttfb-s cpuA-s/GiB cpuB-s/GiB" (CPU of those server processes).
measure() {
  local a0 b0 a1 b1 out
  a0="$(cpu_ticks "$2")"
  b0="$(cpu_ticks "${3:-}")"
  out="$(fetch "$1")"
  a1="$(cpu_ticks "$2")"
  b1="$(cpu_ticks "${3:-}")"
  echo "$(calc "${out%% *} / 1e9") ${out#* } $(calc "($a1 - $a0) / $TICKS_PER_S / ($SIZE_MIB / 1024)") $(calc "($b1 - $b0) / $TICKS_PER_S / ($SIZE_MIB / 1024)")"
}

declare -A V=()
# record KEY VALUES...: appends each value to V[KEY.1], V[KEY.2], ...
record() {
  local key="$1" i=1 value
  shift
  for value in "$@"; do V[$key.$i]="${V[$key.$i]:-} $value"; i=$((i + 1)); done
}
# med KEY.N: median of the recorded values.
med() {
  # shellcheck disable=SC2086
  median ${V[$1]}
}

# --- correctness check and warm-up (unmeasured) --------------------------------------------------
log "unmeasured cold download through a fresh mirror, checked with sha256sum"
mirror_fresh 0
check_sha256 "$MIRROR_FILE_URL" "cold download through the mirror"
[ "$(sha256sum "$MIRROR_OBJECT" | cut -d' ' -f1)" = "$OID" ] || die "the object the mirror stored has a wrong SHA-256"
log "the object stored by the mirror has the right SHA-256"
fetch "$UPSTREAM_FILE_URL" >/dev/null

# --- cold ----------------------------------------------------------------------------------------
PEAK_COLD=0
for round in $(seq 1 "$ROUNDS"); do
  mirror_fresh "$round"
  record meta "$MIRROR_META_S"
  load="$(load_average)"
  if [ $((round % 2)) -eq 1 ]; then
    peak_rss_start "$WORK/rss.cold" "$MIRROR_PIDS"
    m="$(measure "$MIRROR_FILE_URL" "$MIRROR_PIDS" "$UPSTREAM_PIDS")"
    peak_rss_stop "$WORK/rss.cold"
    u="$(measure "$UPSTREAM_FILE_URL" "$UPSTREAM_PIDS")"
  else
    u="$(measure "$UPSTREAM_FILE_URL" "$UPSTREAM_PIDS")"
    peak_rss_start "$WORK/rss.cold" "$MIRROR_PIDS"
    m="$(measure "$MIRROR_FILE_URL" "$MIRROR_PIDS" "$UPSTREAM_PIDS")"
    peak_rss_stop "$WORK/rss.cold"
  fi
  [ "$(stat -c %s "$MIRROR_OBJECT" 2>/dev/null)" = "$SIZE" ] || die "the mirror did not store the object in round $round"
  peak="$(cat "$WORK/rss.cold")"
  if [ "$peak" -gt "$PEAK_COLD" ]; then PEAK_COLD="$peak"; fi
  # shellcheck disable=SC2086
  set -- $m
  record cold-mirror "$@"
  # shellcheck disable=SC2086
  set -- $u
  record cold-upstream "$@"
  record cold-ratio "$(calc "${m%% *} / ${u%% *}")"
  log "cold round $round (load $load): mirror ${m%% *} GB/s, upstream ${u%% *} GB/s, ratio $(calc "${m%% *} / ${u%% *}"); metadata ${MIRROR_META_S} s"
done
MIRROR_IDLE_RSS_LAST="$MIRROR_IDLE_RSS"

# --- warm ----------------------------------------------------------------------------------------
NGINX_PORT="$(free_port)"
NGINX_COPY_PORT="$(free_port)"
while [ "$NGINX_COPY_PORT" = "$NGINX_PORT" ]; do NGINX_COPY_PORT="$(free_port)"; done
nginx_static_start "$WORK/nginx" "$MIRROR_DATA/lfs" "$NGINX_PORT" "$NGINX_COPY_PORT"
NGINX_PIDS="$(nginx_pids "$WORK/nginx")"
NGINX_URL="http://127.0.0.1:$NGINX_PORT/objects/${OID:0:2}/$OID"
NGINX_COPY_URL="http://127.0.0.1:$NGINX_COPY_PORT/objects/${OID:0:2}/$OID"
log "nginx on 127.0.0.1:$NGINX_PORT (sendfile on) and :$NGINX_COPY_PORT (sendfile off) serving $MIRROR_OBJECT"
check_sha256 "$MIRROR_FILE_URL" "warm download through the mirror"
fetch "$NGINX_URL" >/dev/null
fetch "$NGINX_COPY_URL" >/dev/null

PEAK_WARM=0
for round in $(seq 1 "$ROUNDS"); do
  load="$(load_average)"
  order=(mirror nginx copy)
  if [ $((round % 2)) -eq 0 ]; then order=(copy nginx mirror); fi
  for who in "${order[@]}"; do
    case "$who" in
      mirror)
        peak_rss_start "$WORK/rss.warm" "$MIRROR_PIDS"
        w="$(measure "$MIRROR_FILE_URL" "$MIRROR_PIDS")"
        peak_rss_stop "$WORK/rss.warm"
        peak="$(cat "$WORK/rss.warm")"
        if [ "$peak" -gt "$PEAK_WARM" ]; then PEAK_WARM="$peak"; fi
        ;;
      nginx) n="$(measure "$NGINX_URL" "$NGINX_PIDS")" ;;
      copy) c="$(measure "$NGINX_COPY_URL" "$NGINX_PIDS")" ;;
    esac
  done
  # shellcheck disable=SC2086
  set -- $w
  record warm-mirror "$@"
  # shellcheck disable=SC2086
  set -- $n
  record warm-nginx "$@"
  # shellcheck disable=SC2086
  set -- $c
  record warm-copy "$@"
  record warm-ratio "$(calc "${w%% *} / ${n%% *}")"
  record warm-ratio-copy "$(calc "${w%% *} / ${c%% *}")"
  log "warm round $round (load $load): mirror ${w%% *} GB/s, nginx ${n%% *} GB/s, nginx sendfile off ${c%% *} GB/s, ratio $(calc "${w%% *} / ${n%% *}")"
done

# --- the hashing ceiling -------------------------------------------------------------------------
# A verified pull-through hashes every byte once on one core: Node's SHA-256 over the stored
# object (page cache) bounds the cold throughput on this machine.
HASH_GBS="$(node -e '
  const fs = require("node:fs"), crypto = require("node:crypto");
  const fd = fs.openSync(process.argv[1], "r"), buffer = Buffer.allocUnsafe(1 << 20), hash = crypto.createHash("sha256");
  const started = process.hrtime.bigint();
  let total = 0, n;
  while ((n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0) { hash.update(buffer.subarray(0, n)); total += n; }
  if (hash.digest("hex") !== process.argv[2]) throw new Error("wrong SHA-256");
  console.log((total / (Number(process.hrtime.bigint() - started) / 1e9) / 1e9).toFixed(3));
' "$MIRROR_OBJECT" "$OID")"

# --- report --------------------------------------------------------------------------------------
cat <<EOF

Mirror benchmark, $(date -u +%Y-%m-%d), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM
file of $SIZE_MIB MiB, both Agoras with --workers $WORKERS, node $(node --version), nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), curl $(curl --version | head -1 | cut -d' ' -f2)
load average at the end: $(load_average)
GB/s are 10^9 bytes per second (curl's average over the whole download); medians of $ROUNDS alternating rounds.
Server CPU: user + system seconds of the server's processes per GiB downloaded.

| cold (object not on the mirror) | GB/s | time to first byte, s | server CPU s/GiB |
|---|---:|---:|---|
| through the mirror | $(med cold-mirror.1) | $(med cold-mirror.2) | mirror $(med cold-mirror.3), upstream $(med cold-mirror.4) |
| from the upstream directly | $(med cold-upstream.1) | $(med cold-upstream.2) | upstream $(med cold-upstream.3) |
| **mirror / upstream** | **$(med cold-ratio.1)** | | goal >= 0.85 |

| warm (object on the mirror) | GB/s | time to first byte, s | server CPU s/GiB |
|---|---:|---:|---:|
| through the mirror | $(med warm-mirror.1) | $(med warm-mirror.2) | $(med warm-mirror.3) |
| nginx, sendfile on, same file | $(med warm-nginx.1) | $(med warm-nginx.2) | $(med warm-nginx.3) |
| nginx, sendfile off, same file | $(med warm-copy.1) | $(med warm-copy.2) | $(med warm-copy.3) |
| **mirror / nginx** | **$(med warm-ratio.1)** | | goal >= 0.9 |
| mirror / nginx sendfile off | $(med warm-ratio-copy.1) | | |

Per round, cold mirror/upstream:${V[cold-ratio.1]}; warm mirror/nginx:${V[warm-ratio.1]}
Per round GB/s, cold mirror:${V[cold-mirror.1]}; upstream:${V[cold-upstream.1]}; warm mirror:${V[warm-mirror.1]}; nginx:${V[warm-nginx.1]}
Mirroring the repository's metadata (first /api/models call on a fresh mirror): median $(med meta.1) s (${V[meta.1]# })
Mirror resident memory (all its processes): idle $((MIRROR_IDLE_RSS_LAST / 1024)) MiB, peak during a cold download $((PEAK_COLD / 1024)) MiB, during a warm download $((PEAK_WARM / 1024)) MiB
SHA-256 in Node on one core over the stored object: $HASH_GBS GB/s (the ceiling of a verified cold download)
EOF
