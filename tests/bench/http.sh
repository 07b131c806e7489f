#!/usr/bin/env bash
# HTTP launch benchmark: a release `zhiyun serve` on SQLite or PostgreSQL,
# the trivial test app signed, submitted and approved through the CLI, then
# wrk against POST /api/v1/apps/trivial/launch on loopback, bounded in time.
#
#   tests/bench/http.sh sqlite|postgres [seconds] [connections]
#
# Needs: ./dev apps, cargo build --release -p zhiyun-server, wrk (apt-get install wrk).
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
$bin serve --listen 127.0.0.1:$port --data-dir "$work/data" > "$work/server.out" &
server_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

export ZHIYUN_SERVER="http://127.0.0.1:$port"
$bin app keygen --key-id bench --department 财务部 --out "$work" >/dev/null 2>&1
$bin admin register-key "$work/bench.pub" --user admin --password admin-zhiyun >/dev/null
mkdir -p "$work/pkg"
$bin app pack tests/apps/trivial --key "$work/bench.key" --out "$work/pkg" >/dev/null 2>&1
$bin app submit "$work"/pkg/*.zyapp --user developer --password developer-zhiyun >/dev/null 2>&1

version=$(sed -n 's/^version = "\(.*\)"/\1/p' tests/apps/trivial/app.toml | head -1)
$bin admin approve trivial "$version" --user admin --password admin-zhiyun >/dev/null

token=$(curl -s "http://127.0.0.1:$port/api/v1/login" -H 'content-type: application/json' \
  -d '{"username":"user","password":"user-zhiyun"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
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
