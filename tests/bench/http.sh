#!/usr/bin/env bash
# HTTP launch benchmark: a release `zhiyun serve` on SQLite or PostgreSQL,
# the trivial test app signed, submitted and approved through the CLI, then
# wrk against POST /api/v1/apps/trivial/launch on loopback, bounded in time.
#
#   tests/bench/http.sh sqlite|postgres [seconds] [connections]
#
# Needs: ./dev apps, cargo build --release -p zhiyun-server, wrk (apt-get install wrk).
# Each request authenticates a personal API token, passes the permission
# table and the casbin check (the app on the user's menu), and is audited.
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-sqlite}
seconds=${2:-10}
connections=${3:-32}
bin=./target/release/zhiyun
port=18190
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "${pgdb:-}" ] && psql -h 127.0.0.1 -U postgres -qc "drop database if exists $pgdb with (force)" test || true
  rm -rf "$work"
}
trap cleanup EXIT

export ZHIYUN_LOG=warn
if [ "$backend" = postgres ]; then
  pgdb="zhiyun_bench_$$"
  psql -h 127.0.0.1 -U postgres -qc "create database $pgdb" test
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$pgdb"
else
  unset DATABASE_URL || true
fi
$bin serve --seed-demo --listen 127.0.0.1:$port --data-dir "$work/data" > "$work/server.out" &
server_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

base="http://127.0.0.1:$port"
export ZHIYUN_SERVER="$base"
# Demo accounts (zhiyun_authz::identity::DEMO_USERS).
$bin app keygen --key-id bench --department 财务部 --out "$work" >/dev/null 2>&1
$bin admin register-key "$work/bench.pub" --user secadmin --password 'Sec#Admin2026' >/dev/null
mkdir -p "$work/pkg"
$bin app pack tests/apps/trivial --key "$work/bench.key" --out "$work/pkg" >/dev/null 2>&1
$bin app submit "$work"/pkg/*.zyapp --user dev.cw --password 'Dev#Finance2026' >/dev/null 2>&1

version=$(sed -n 's/^version = "\(.*\)"/\1/p' tests/apps/trivial/app.toml | head -1)
$bin admin approve trivial "$version" --user reviewer --password 'Rev#Check2026' >/dev/null

# login USER PASSWORD: a cookie jar in $work/USER.jar; prints the CSRF token.
login() {
  curl -sf -c "$work/$1.jar" "$base/api/v1/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" | sed 's/.*"csrf_token":"\([^"]*\)".*/\1/'
}
# as USER CSRF METHOD PATH [BODY]
as() {
  curl -sf -b "$work/$1.jar" -H "x-csrf-token: $2" -H 'content-type: application/json' \
    -X "$3" "$base$4" ${5:+-d "$5"}
}
# Put the app on the 资金管理 menu (system admin files, security admin approves).
sys_csrf=$(login sysadmin 'Sys#Admin2026')
sec_csrf=$(login secadmin 'Sec#Admin2026')
change=$(as sysadmin "$sys_csrf" POST /api/v1/changes \
  '{"kind":"menu-change","payload":{"op":"add","menu_id":"finance.trivial","parent_id":"finance","title":"trivial","app_id":"trivial"}}' \
  | sed 's/.*"id":\([0-9]*\),.*/\1/')
as secadmin "$sec_csrf" POST "/api/v1/changes/$change/approve" '{}' >/dev/null
# The business user's personal API token, scope launch.
user_csrf=$(login user.3301 'Biz#East2026')
token=$(as user.3301 "$user_csrf" POST /api/v1/tokens '{"name":"bench","scopes":["launch"]}' \
  | sed 's/.*"token":"\([^"]*\)".*/\1/')
cat > "$work/launch.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"params":{}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
# Warm up (loads and caches the component), then measure.
curl -sf -X POST "http://127.0.0.1:$port/api/v1/apps/trivial/launch" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{}' >/dev/null
wrk -t2 -c"$connections" -d2s -s "$work/launch.lua" "http://127.0.0.1:$port/api/v1/apps/trivial/launch" >/dev/null
echo "== $backend: wrk -t2 -c$connections -d${seconds}s POST /api/v1/apps/trivial/launch"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/launch.lua" \
  "http://127.0.0.1:$port/api/v1/apps/trivial/launch"
echo "== $backend: one connection (unloaded latency: HTTP + auth + store check + sandbox)"
wrk -t1 -c1 -d"${seconds}s" --latency -s "$work/launch.lua" \
  "http://127.0.0.1:$port/api/v1/apps/trivial/launch" | sed -n '/Latency Distribution/,/Requests\/sec/p'
