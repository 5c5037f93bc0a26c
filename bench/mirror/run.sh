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
#   from the upstream's /resolve, alternating which goes first. Ratio mirror/direct.
#   One cold row per entry of BENCH_UPSTREAM_RATE: `off` reaches the upstream on loopback as is
#   (2-3 GB/s); a rate (nginx limit_rate syntax, 100m = 100 MiB/s) puts an nginx reverse proxy
#   sending each response at most that fast in front of the upstream, as a network link would,
#   and BOTH paths go through it: the mirror runs with --upstream <proxy URL> (its git fetch of
#   the metadata, /api calls and LFS downloads all pass the proxy) and the direct download is
#   made from the proxy too. A ranged request through the proxy is checked against the upstream's
#   answer, and the proxy's access log must show the mirror's git fetch.
# Warm: the last cold round's mirror now has the object; downloads through the mirror alternate
#   with nginx (sendfile on) serving the very same object file (DATA/lfs/objects/xx/<oid>, same
#   bytes, same disk), and with nginx sendfile off (a server in C copying through user space, as
#   Node must). Ratio mirror/nginx.
# Before the measured rounds, one unmeasured cold download through a fresh mirror and one warm
# download are piped into sha256sum and compared with the file's SHA-256, and the object the
# mirror stored is hashed as well.
#
# Settings (environment): BENCH_SIZE_MIB (1024), BENCH_ROUNDS (5), BENCH_WORKERS (`--workers` of
# both Agoras; default 1, Agora's own default), BENCH_UPSTREAM_RATE (the cold rows, space-separated: `off` and/or
# rates; default "off 119m 200m": 1 and ~1.7 Gbit/s), BENCH_WORK_DIR (bench/.work), BENCH_KEEP=1 keeps the work
# directory. Everything started here is stopped on exit.

set -euo pipefail

# shellcheck disable=SC2034 # read by lib.sh
BENCH_TAG=bench:mirror
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

SIZE_MIB="${BENCH_SIZE_MIB:-1024}"
ROUNDS="${BENCH_ROUNDS:-5}"
WORKERS="${BENCH_WORKERS:-1}"
[[ "$SIZE_MIB" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIZE_MIB must be a positive integer"
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || die "BENCH_ROUNDS must be 1..99"
[[ "$WORKERS" =~ ^[1-9][0-9]?$ ]] || die "BENCH_WORKERS must be 1..99"
read -r -a RATES <<<"${BENCH_UPSTREAM_RATE-off 119m 200m}"
[ "${#RATES[@]}" -gt 0 ] || die "BENCH_UPSTREAM_RATE must name at least one row (off, or a rate such as 100m)"
for rate in "${RATES[@]}"; do
  [[ "$rate" = off || "$rate" =~ ^[1-9][0-9]*[kKmMgG]?$ ]] || die "BENCH_UPSTREAM_RATE: '$rate' is neither off nor a rate such as 100m"
done
SIZE=$((SIZE_MIB * 1024 * 1024))
REPO=alice/mirror-bench
FILE_IN_REPO=big.bin

require_tools curl node sha256sum awk getconf
ensure_nginx

# --- work directory and cleanup ------------------------------------------------------------------
make_work_dir mirror
UPSTREAM_DATA="$WORK/upstream-data"
UPSTREAM_PID=""
MIRROR_PID=""
MIRROR_DATA=""
PEAK_RSS_SAMPLER=""
PROXY_DIRS=()

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$PEAK_RSS_SAMPLER" ]; then kill "$PEAK_RSS_SAMPLER" 2>/dev/null || true; fi
  nginx_stop "$WORK/nginx"
  local dir
  for dir in "${PROXY_DIRS[@]}"; do nginx_stop "$dir"; done
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
# mirror_fresh NAME UPSTREAM: stops the running mirror, removes its data directory, starts a new
# one on an empty data directory with --upstream UPSTREAM, and mirrors the repository's metadata
# (sets MIRROR_META_S, its seconds).
mirror_fresh() {
  stop_tree "$MIRROR_PID"
  MIRROR_PID=""
  if [ -n "$MIRROR_DATA" ]; then rm -rf "$MIRROR_DATA"; fi
  MIRROR_DATA="$WORK/mirror-data-$1"
  agora_start MIRROR "$WORK/mirror-$1.log" "$MIRROR_DATA" --workers "$WORKERS" --upstream "$2"
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

# rate_bytes RATE: bytes per second of an nginx size (100m = 100 * 2^20).
rate_bytes() {
  local number="${1%[kKmMgG]}" factor=1
  case "${1: -1}" in k | K) factor=1024 ;; m | M) factor=1048576 ;; g | G) factor=1073741824 ;; esac
  echo $((number * factor))
}

# check_range BASE WHAT: a ranged request of the file from BASE must answer 206 with the same
# Content-Range and bytes as the upstream itself.
check_range() {
  local path="/$REPO/resolve/main/$FILE_IN_REPO" range="bytes=1000000-1999999" expected got status
  expected="$(curl -sS --fail -H "Range: $range" -o "$WORK/range.upstream" -w '%header{content-range}' "$UPSTREAM_URL$path")"
  got="$(curl -sS -H "Range: $range" -o "$WORK/range.got" -w '%{http_code} %header{content-range}' "$1$path")"
  status="${got%% *}"
  got="${got#* }"
  [ -n "$expected" ] || die "the upstream answered a ranged request without Content-Range"
  [ "$status" = 206 ] || die "$2: a ranged request answered HTTP $status"
  [ "$got" = "$expected" ] || die "$2: Content-Range '$got', the upstream's '$expected'"
  cmp -s "$WORK/range.upstream" "$WORK/range.got" || die "$2: the ranged bytes differ from the upstream's"
  log "$2: a ranged request passes unchanged (206, Content-Range $expected)"
}

PEAK_COLD=0
# cold_rows KEY MIRROR_UPSTREAM DIRECT_URL: one unmeasured cold download through a fresh mirror
# (checked with sha256sum, as is the object it stored) and one direct, then ROUNDS alternating
# rounds, each on a fresh mirror whose --upstream is MIRROR_UPSTREAM; records cold-KEY-*.
cold_rows() {
  local key="$1" mirror_upstream="$2" direct_url="$3" round load m u peak
  log "[$key] unmeasured cold download through a fresh mirror, checked with sha256sum"
  mirror_fresh "$key-0" "$mirror_upstream"
  check_sha256 "$MIRROR_FILE_URL" "[$key] cold download through the mirror"
  [ "$(sha256sum "$MIRROR_OBJECT" | cut -d' ' -f1)" = "$OID" ] || die "[$key] the object the mirror stored has a wrong SHA-256"
  log "[$key] the object stored by the mirror has the right SHA-256"
  fetch "$direct_url" >/dev/null
  local load_start
  load_start="$(load_average)"
  for round in $(seq 1 "$ROUNDS"); do
    mirror_fresh "$key-$round" "$mirror_upstream"
    record "meta-$key" "$MIRROR_META_S"
    load="$(load_average)"
    if [ $((round % 2)) -eq 1 ]; then
      peak_rss_start "$WORK/rss.cold" "$MIRROR_PIDS"
      m="$(measure "$MIRROR_FILE_URL" "$MIRROR_PIDS" "$UPSTREAM_PIDS")"
      peak_rss_stop "$WORK/rss.cold"
      u="$(measure "$direct_url" "$UPSTREAM_PIDS")"
    else
      u="$(measure "$direct_url" "$UPSTREAM_PIDS")"
      peak_rss_start "$WORK/rss.cold" "$MIRROR_PIDS"
      m="$(measure "$MIRROR_FILE_URL" "$MIRROR_PIDS" "$UPSTREAM_PIDS")"
      peak_rss_stop "$WORK/rss.cold"
    fi
    [ "$(stat -c %s "$MIRROR_OBJECT" 2>/dev/null)" = "$SIZE" ] || die "[$key] the mirror did not store the object in round $round"
    peak="$(cat "$WORK/rss.cold")"
    if [ "$peak" -gt "$PEAK_COLD" ]; then PEAK_COLD="$peak"; fi
    # shellcheck disable=SC2086
    set -- $m
    record "cold-$key-mirror" "$@"
    # shellcheck disable=SC2086
    set -- $u
    record "cold-$key-direct" "$@"
    record "cold-$key-ratio" "$(calc "${m%% *} / ${u%% *}")"
    log "[$key] cold round $round (load $load): mirror ${m%% *} GB/s, direct ${u%% *} GB/s, ratio $(calc "${m%% *} / ${u%% *}"); metadata ${MIRROR_META_S} s"
  done
  ROW_LOAD[$key]="${load_start%% *}-$(load_average | cut -d' ' -f1)"
}

declare -A ROW_LOAD=()
for rate in "${RATES[@]}"; do
  if [ "$rate" = off ]; then
    log "cold rows, upstream on loopback as is ($UPSTREAM_URL)"
    cold_rows off "$UPSTREAM_URL" "$UPSTREAM_FILE_URL"
    continue
  fi
  proxy_dir="$WORK/proxy-$rate"
  proxy_port="$(free_port)"
  PROXY_DIRS+=("$proxy_dir")
  nginx_proxy_start "$proxy_dir" "$UPSTREAM_URL" "$proxy_port" "$rate"
  proxy_url="http://127.0.0.1:$proxy_port"
  log "cold rows, upstream behind nginx limit_rate $rate ($(calc "$(rate_bytes "$rate") / 1e9") GB/s per response) at $proxy_url"
  check_range "$proxy_url" "[$rate] proxy"
  cold_rows "$rate" "$proxy_url" "$proxy_url/$REPO/resolve/main/$FILE_IN_REPO"
  grep -q "git-upload-pack" "$proxy_dir/access.log" || die "[$rate] the mirror's git fetch did not pass the proxy"
  grep -q "/api/models/$REPO" "$proxy_dir/access.log" || die "[$rate] the mirror's /api call did not pass the proxy"
  log "[$rate] the proxy logged the mirror's git fetch ($(grep -c 'git-upload-pack' "$proxy_dir/access.log") upload-pack requests) and /api calls"
  nginx_stop "$proxy_dir"
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

Cold rows: the upstream on loopback as is (off), or behind an nginx reverse proxy sending each response at
most the given rate (limit_rate; 100m = 100 MiB/s), which both the mirror (--upstream) and the direct download use.
Server CPU: mirror (and the upstream Agora feeding it) / upstream Agora serving the direct download.

| cold (object not on the mirror), upstream link | load | through the mirror GB/s | directly GB/s | **mirror / direct** | time to first byte, mirror / direct, s | server CPU s/GiB | first /api/models s |
|---|---|---:|---:|---:|---:|---|---:|
$(for rate in "${RATES[@]}"; do
  if [ "$rate" = off ]; then link="loopback, unthrottled"; else link="limit_rate $rate ($(calc "$(rate_bytes "$rate") / 1e9") GB/s)"; fi
  echo "| $link | ${ROW_LOAD[$rate]} | $(med "cold-$rate-mirror.1") | $(med "cold-$rate-direct.1") | **$(med "cold-$rate-ratio.1")** | $(calc "$(med "cold-$rate-mirror.2")") / $(calc "$(med "cold-$rate-direct.2")") | $(med "cold-$rate-mirror.3") ($(med "cold-$rate-mirror.4")) / $(med "cold-$rate-direct.3") | $(calc "$(med "meta-$rate.1")") |"
done)

| warm (object on the mirror) | GB/s | time to first byte, s | server CPU s/GiB |
|---|---:|---:|---:|
| through the mirror | $(med warm-mirror.1) | $(med warm-mirror.2) | $(med warm-mirror.3) |
| nginx, sendfile on, same file | $(med warm-nginx.1) | $(med warm-nginx.2) | $(med warm-nginx.3) |
| nginx, sendfile off, same file | $(med warm-copy.1) | $(med warm-copy.2) | $(med warm-copy.3) |
| **mirror / nginx** | **$(med warm-ratio.1)** | | goal >= 0.9 |
| mirror / nginx sendfile off | $(med warm-ratio-copy.1) | | |

Goal for mirror / direct: >= 0.85.
$(for rate in "${RATES[@]}"; do
  echo "Per round [$rate], cold mirror/direct:${V[cold-$rate-ratio.1]}; GB/s mirror:${V[cold-$rate-mirror.1]}; direct:${V[cold-$rate-direct.1]}; metadata s:${V[meta-$rate.1]}"
done)
Per round, warm mirror/nginx:${V[warm-ratio.1]}; GB/s warm mirror:${V[warm-mirror.1]}; nginx:${V[warm-nginx.1]}
Mirror resident memory (all its processes): idle $((MIRROR_IDLE_RSS_LAST / 1024)) MiB, peak during a cold download $((PEAK_COLD / 1024)) MiB, during a warm download $((PEAK_WARM / 1024)) MiB
SHA-256 in Node on one core over the stored object: $HASH_GBS GB/s (the ceiling of a verified cold download)
EOF
