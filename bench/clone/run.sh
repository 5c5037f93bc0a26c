#!/usr/bin/env bash
# Agora's clone benchmark (`npm run bench:clone`).
#
# One bare repository with 2,000 small files and 200 commits (built deterministically with
# git fast-import) is pushed into Agora. The very same bare directory on disk,
# DATA/repos/<_id>.git, is then served
#   (A) by Agora:                      http://127.0.0.1:PORT/alice/clone-bench
#   (B) by git http-backend behind nginx + fcgiwrap:  http://127.0.0.1:PORT/<_id>.git
# and cloned, alternating A and B (and which one goes first), with
#   `git clone URL DIR`          what a user runs (transfer + checkout of the 2,000 files), and
#   `git clone --bare URL DIR`   the transfer alone (no checkout), where server differences show most.
# Prints the median times and the ratio B/A (http-backend time / Agora time: higher is better
# for Agora, 1.0 = same speed) for each.
#
# Settings (environment): BENCH_ROUNDS (5), BENCH_FILES (2000), BENCH_COMMITS (200),
# BENCH_WORK_DIR (bench/.work), BENCH_KEEP=1 keeps the work directory. Everything listens on
# 127.0.0.1 only and everything started here is stopped on exit.

set -euo pipefail

# shellcheck disable=SC2034 # read by lib.sh
BENCH_TAG=bench:clone
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

ROUNDS="${BENCH_ROUNDS:-5}"
FILES="${BENCH_FILES:-2000}"
COMMITS="${BENCH_COMMITS:-200}"

[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || die "BENCH_ROUNDS must be 1..99"
[[ "$FILES" =~ ^[1-9][0-9]*$ && "$COMMITS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_FILES and BENCH_COMMITS must be positive integers"
[ $((FILES % COMMITS)) -eq 0 ] || die "BENCH_FILES must be a multiple of BENCH_COMMITS"

# --- tools -------------------------------------------------------------------------------------
require_tools git node curl awk
ensure_nginx
FCGIWRAP="$(command -v fcgiwrap || echo /usr/sbin/fcgiwrap)"
if [ ! -x "$FCGIWRAP" ]; then
  log "installing fcgiwrap"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y fcgiwrap
  FCGIWRAP="$(command -v fcgiwrap || echo /usr/sbin/fcgiwrap)"
fi
HTTP_BACKEND="$(git --exec-path)/git-http-backend"
[ -x "$HTTP_BACKEND" ] || die "git-http-backend not found at $HTTP_BACKEND"

# --- work directory and cleanup ----------------------------------------------------------------
make_work_dir clone
DATA="$WORK/agora-data"
AGORA_PID=""
FCGI_PID=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  nginx_stop "$WORK/nginx"
  stop_tree "$FCGI_PID"
  stop_tree "$AGORA_PID"
  wait 2>/dev/null || true
  if [ "${BENCH_KEEP:-}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# git as a fresh user: no system or global configuration, no prompts, no git-lfs filters.
mkdir -p "$WORK/home"
: >"$WORK/home/.gitconfig"
export HOME="$WORK/home" GIT_CONFIG_GLOBAL="$WORK/home/.gitconfig" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 LC_ALL=C
unset GIT_ASKPASS SSH_ASKPASS GIT_DIR GIT_WORK_TREE

# --- the repository ----------------------------------------------------------------------------
# Commit c (1..COMMITS) adds FILES/COMMITS new files and, from the second commit on, rewrites 5
# earlier ones. Contents, dates and names come from a fixed-seed Park–Miller generator, so
# every run builds the same commits (the same head id on every machine).
log "building a repository with $FILES files and $COMMITS commits"
start="$(now)"
git init --quiet --bare "$WORK/source.git"
awk -v files="$FILES" -v commits="$COMMITS" '
  function rnd() { seed = (seed * 16807) % 2147483647; return seed }
  function content(i, rev,    lines, n, s, l, w) {
    n = 10 + rnd() % 50
    s = sprintf("# file %d, revision %d\n", i, rev)
    for (l = 0; l < n; l++) {
      s = s sprintf("%04d", l)
      for (w = 0; w < 6; w++) s = s " " words[rnd() % nwords]
      s = s "\n"
    }
    return s
  }
  function emit(i, rev,    body) {
    body = content(i, rev)
    printf "M 100644 inline src/group-%02d/file-%05d.txt\ndata %d\n%s\n", i % 40, i, length(body), body
  }
  BEGIN {
    seed = 42
    nwords = split("tensor layer weight bias token vocab embed attention head norm scale shard config model dataset split train eval loss step", words, " ")
    for (i = 1; i <= nwords; i++) words[i - 1] = words[i]
    per = files / commits
    for (c = 1; c <= commits; c++) {
      msg = sprintf("Commit %d: add files %d to %d", c, (c - 1) * per, c * per - 1)
      printf "commit refs/heads/main\ncommitter Agora Bench <bench@agora.invalid> %d +0000\ndata %d\n%s\n", 1700000000 + c * 3600, length(msg), msg
      for (k = 0; k < per; k++) emit((c - 1) * per + k, 0)
      if (c > 1) for (m = 0; m < 5; m++) emit(rnd() % ((c - 1) * per), c)
      print ""
    }
  }' | git --git-dir="$WORK/source.git" fast-import --quiet
SOURCE_HEAD="$(git --git-dir="$WORK/source.git" rev-parse main)"
SOURCE_FILES="$(git --git-dir="$WORK/source.git" ls-tree -r --name-only main | wc -l)"
SOURCE_COMMITS="$(git --git-dir="$WORK/source.git" rev-list --count main)"
[ "$SOURCE_FILES" -eq "$FILES" ] && [ "$SOURCE_COMMITS" -eq "$COMMITS" ] || die "built $SOURCE_FILES files / $SOURCE_COMMITS commits"
log "built in $(calc "$(now) - $start") s: head $SOURCE_HEAD, $(du -sk "$WORK/source.git" | cut -f1) KiB"

# --- Agora ---------------------------------------------------------------------------------------
TOKEN="$(node bin/agora.mjs token create --user alice --data "$DATA")"
node bin/agora.mjs repo create alice/clone-bench --data "$DATA" >/dev/null
log "starting Agora"
agora_start AGORA "$WORK/agora.log" "$DATA"
HUB="$AGORA_URL"

# The built history replaces the repository's initial commit (hence --force), pushed the way
# a user would: git over smart HTTP with the token from a credential helper.
log "pushing the history into Agora"
start="$(now)"
git --git-dir="$WORK/source.git" \
  -c credential.helper="!f() { test \"\$1\" = get && echo username=alice && echo password=$TOKEN; }; f" \
  push --quiet --force "$HUB/alice/clone-bench" main
log "pushed in $(calc "$(now) - $start") s"
REPO_ID="$(curl -fsS "$HUB/api/models/alice/clone-bench" | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { const r = JSON.parse(s); if (!/^[0-9a-f]{24}$/.test(r._id)) process.exit(1); console.log(r._id + " " + r.sha); })')"
AGORA_SHA="${REPO_ID#* }"
REPO_ID="${REPO_ID% *}"
[ "$AGORA_SHA" = "$SOURCE_HEAD" ] || die "Agora reports head $AGORA_SHA, expected $SOURCE_HEAD"
BARE="$DATA/repos/$REPO_ID.git"
[ -d "$BARE" ] || die "no bare repository at $BARE"

# --- git http-backend behind nginx + fcgiwrap -----------------------------------------------------
mkdir -p "$WORK/nginx/tmp"
SOCKET="$WORK/fcgiwrap.sock"
log "starting fcgiwrap on $SOCKET"
"$FCGIWRAP" -c "$(nproc)" -s "unix:$SOCKET" >"$WORK/fcgiwrap.log" 2>&1 &
FCGI_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCKET" ] && break; kill -0 "$FCGI_PID" 2>/dev/null || die "fcgiwrap did not start"; sleep 0.1; done
[ -S "$SOCKET" ] || die "fcgiwrap did not create its socket"

NGINX_PORT="$(free_port)"
{
  [ "$(id -u)" -eq 0 ] && echo "user root root;" # workers must reach the socket and read the data directory
  cat <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
$(nginx_temp_paths "$WORK/nginx")
  server {
    listen 127.0.0.1:$NGINX_PORT;
    client_max_body_size 0;
    location / {
      fastcgi_pass unix:$SOCKET;
      fastcgi_buffering off;
      fastcgi_request_buffering off;
      fastcgi_param SCRIPT_FILENAME $HTTP_BACKEND;
      fastcgi_param GIT_PROJECT_ROOT $DATA/repos;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO \$uri;
      fastcgi_param QUERY_STRING \$query_string;
      fastcgi_param REQUEST_METHOD \$request_method;
      fastcgi_param CONTENT_TYPE \$content_type;
      fastcgi_param CONTENT_LENGTH \$content_length;
      fastcgi_param REMOTE_ADDR \$remote_addr;
      fastcgi_param SERVER_PROTOCOL \$server_protocol;
      fastcgi_param GATEWAY_INTERFACE CGI/1.1;
    }
  }
}
EOF
} >"$WORK/nginx/nginx.conf"
log "starting nginx on 127.0.0.1:$NGINX_PORT"
nginx_run "$WORK/nginx"

URL_A="$HUB/alice/clone-bench"
URL_B="http://127.0.0.1:$NGINX_PORT/$REPO_ID.git"

# clone_once MODE URL: prints the seconds one `git clone` (MODE "checkout") or `git clone --bare`
# (MODE "bare") takes, after checking that the clone has the expected head and file count.
clone_once() {
  local mode="$1" url="$2" dir="$WORK/clone" start end args=()
  [ "$mode" = bare ] && args=(--bare)
  rm -rf "$dir"
  sync
  start="$(now)"
  git clone --quiet "${args[@]}" "$url" "$dir" >&2
  end="$(now)"
  [ "$(git -C "$dir" rev-parse HEAD)" = "$SOURCE_HEAD" ] || die "clone of $url is not at $SOURCE_HEAD"
  if [ "$mode" = checkout ]; then
    [ "$(git -C "$dir" ls-files | wc -l)" -eq "$FILES" ] && [ -z "$(git -C "$dir" status --porcelain)" ] || die "checkout of $url is incomplete"
  fi
  rm -rf "$dir"
  calc "$end - $start"
}

log "warm-up clone from each server (not counted)"
for mode in checkout bare; do clone_once "$mode" "$URL_A" >/dev/null; clone_once "$mode" "$URL_B" >/dev/null; done

declare -A TIMES
for round in $(seq 1 "$ROUNDS"); do
  for mode in checkout bare; do
    # Alternate which server goes first, so neither always benefits from the other's warm-up.
    if [ $((round % 2)) -eq 1 ]; then
      a="$(clone_once "$mode" "$URL_A")"; b="$(clone_once "$mode" "$URL_B")"
    else
      b="$(clone_once "$mode" "$URL_B")"; a="$(clone_once "$mode" "$URL_A")"
    fi
    TIMES[A_$mode]="${TIMES[A_$mode]:-} $a"
    TIMES[B_$mode]="${TIMES[B_$mode]:-} $b"
    log "round $round, $mode: Agora ${a} s, http-backend ${b} s"
  done
done

PACK_KIB="$(du -sk "$BARE/objects" | cut -f1)"
cat <<EOF

Clone benchmark: $FILES files, $COMMITS commits (objects ${PACK_KIB} KiB on disk), $ROUNDS rounds, loopback
machine: $(nproc) CPU ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -sr), $(git --version), nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), node $(node --version)
EOF
for mode in checkout bare; do
  # shellcheck disable=SC2086
  med_a="$(median ${TIMES[A_$mode]})"
  # shellcheck disable=SC2086
  med_b="$(median ${TIMES[B_$mode]})"
  label="git clone"
  [ "$mode" = bare ] && label="git clone --bare"
  cat <<EOF
$label
  Agora                          median $med_a s  (${TIMES[A_$mode]# })
  git http-backend (nginx+fcgi)  median $med_b s  (${TIMES[B_$mode]# })
  ratio http-backend/Agora       $(calc "$med_b / $med_a")  (higher is better for Agora; goal >= 0.8)
EOF
done
