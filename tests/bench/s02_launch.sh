#!/usr/bin/env bash
# S02 launch latency end to end: POST /api/v1/apps/fund-position/launch on
# loopback, sequentially, as a 二级单位 leader (leader.3300: every account)
# and as a 供电所 user (user.330101), against a warehouse whose S02 models
# are built. Prints p50/p95/p99 in ms per user.
#
#   tests/bench/s02_launch.sh <warehouse-url> [launches] [binary]
#
# The warehouse: `zhiyun ingest <batch> --warehouse <url> --table dim_org
# --table code_map_bank --table bank_account --table bank_balance_daily
# --table bank_txn` then `zhiyun models build --warehouse <url>`.
# Needs ./dev apps (the demo set-up signs and approves the sample apps).
set -euo pipefail
cd "$(dirname "$0")/../.."
url=$1
launches=${2:-200}
bin=${3:-./target/debug/zhiyun}
port=18191
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export ZHIYUN_LOG=warn
"$bin" demo --setup-only --no-data --listen 127.0.0.1:0 --data-dir "$work/data" >/dev/null 2>&1
"$bin" serve --seed-demo --listen 127.0.0.1:$port --data-dir "$work/data" \
  --warehouse-url "$url" --models plugins/models >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
for who in leader.3300:Lead#City2026 user.330101:Biz#Station2026; do
  user=${who%%:*}; pass=${who#*:}
  csrf=$(curl -s -c "$work/c" -H 'content-type: application/json' \
    -d "{\"username\":\"$user\",\"password\":\"$pass\"}" http://127.0.0.1:$port/api/v1/login |
    python3 -c 'import sys,json;print(json.load(sys.stdin)["csrf_token"])')
  # One warm-up launch, then the measured ones (no date: the app asks for
  # the latest day first, as a user opening it does).
  for i in $(seq 0 "$launches"); do
    curl -s -o "$work/out.json" -w '%{time_total}\n' -b "$work/c" -H "x-csrf-token: $csrf" \
      -H 'content-type: application/json' -d '{"params":{}}' \
      http://127.0.0.1:$port/api/v1/apps/fund-position/launch
  done | tail -n +2 | python3 -c '
import sys
v = sorted(float(x) * 1000 for x in sys.stdin)
p = lambda q: v[round((len(v) - 1) * q)]
print(f"'"$user"': {len(v)} launches  p50 {p(.5):.1f} ms  p95 {p(.95):.1f} ms  p99 {p(.99):.1f} ms")'
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); k=d["output"]["output"]; print("  ", k["subtitle"], "·", len(k["blocks"]), "blocks")' "$work/out.json"
done
