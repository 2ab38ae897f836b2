#!/usr/bin/env bash
# Holding a latency objective under overload (issue 24, section 2): the same model served (a)
# dense and (b) with `--slo-ms` at twice the dense single-request latency, each under open-loop
# Poisson load at 0.5, 1, 2 and 4 times the dense server's capacity (tools/bench/serve_load.mjs).
# Prints one JSON line per run and a markdown table at the end.
#
#   tools/bench/serve_slo.sh --model models/default --data data/spam/test.jsonl \
#     [--route predict|completions] [--text-field text] [--label-field label] [--duration 20]
#     [--levels "0.5 1 2 4"] [--slo-factor 2] [--threads 1] [--workers 1] [--max-tokens 8]
#     [--arms "dense slo"] [--max-speedup S] [--max-stall-ms MS] [--server-cpus LIST --client-cpus LIST]
# Arms: dense (the default server: concurrent requests packed into one pass), slo (the same with
# --slo-ms), slo-capped (slo with --max-speedup S: a quality cap such as latte tune --max-drop's),
# unpacked (dense, one request a pass: --max-batch-tokens 0), slo-unpacked, slo-chunked (slo with
# --max-stall-ms MS: decoders' prefills joining decoding streams run in pieces, chunked prefill).
# --server-cpus / --client-cpus (taskset lists, e.g. 0 and 1): the server and the load generator
# each on cores of their own, so that neither takes the other's (a client on another machine).
# Environment: LATTE (default build/latte).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
latte=${LATTE:-$root/build/latte}
model="" data="" route=predict text_field=text label_field=label duration=20 levels="0.5 1 2 4"
slo_factor=2 threads=1 workers=1 max_tokens=8 closed=40 arms="dense slo" max_speedup="" max_stall_ms="" server_cpus="" client_cpus=""
while (($#)); do
  case $1 in
    --model) model=$2 ;; --data) data=$2 ;; --route) route=$2 ;; --text-field) text_field=$2 ;;
    --label-field) label_field=$2 ;; --duration) duration=$2 ;; --levels) levels=$2 ;;
    --slo-factor) slo_factor=$2 ;; --threads) threads=$2 ;; --workers) workers=$2 ;;
    --max-tokens) max_tokens=$2 ;; --closed) closed=$2 ;; --arms) arms=$2 ;; --max-speedup) max_speedup=$2 ;;
    --max-stall-ms) max_stall_ms=$2 ;;
    --server-cpus) server_cpus=$2 ;; --client-cpus) client_cpus=$2 ;;
    *) echo "serve_slo: unknown flag $1" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -n $model && -n $data ]] || { echo "serve_slo: --model and --data are required" >&2; exit 2; }
server_pin=() client_pin=()
[[ -n $server_cpus ]] && server_pin=(taskset -c "$server_cpus")
[[ -n $client_cpus ]] && client_pin=(taskset -c "$client_cpus")
load=("${client_pin[@]}" node "$root/tools/bench/serve_load.mjs" --route "$route" --data "$data" --text-field "$text_field"
      --label-field "$label_field" --max-tokens "$max_tokens")
work=$(mktemp -d)
server_pid=""
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Starts a server with the extra flags given; sets server_pid and url.
start_server() {
  "${server_pin[@]}" "$latte" serve --model "$model" --port 0 --threads "$threads" --workers "$workers" --max-queue 4096 "$@" \
    > "$work/server.out" 2> "$work/server.err" &
  server_pid=$!
  for _ in $(seq 600); do
    if grep -q "latte: serving" "$work/server.out"; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; exit 1; }
    sleep 0.1
  done
  url=$(grep -o 'http://[0-9.:]*' "$work/server.out")
}
stop_server() { kill "$server_pid"; wait "$server_pid" || true; server_pid=""; }
field() { node -e "const r=JSON.parse(require('fs').readFileSync(0,'utf8'));console.log(r['$1'])"; }

echo "serve_slo: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; model $model; --threads $threads --workers $workers; server CPUs ${server_cpus:-any}, client CPUs ${client_cpus:-any}" >&2
start_server
"${load[@]}" --url "$url" --closed 5 > /dev/null  # warm the connection and caches
single=$("${load[@]}" --url "$url" --closed "$closed")
echo "$single"
single_ms=$(echo "$single" | field p50_ms)
mean_ms=$(echo "$single" | field mean_ms)
capacity=$(node -e "console.log(($workers * 1000 / $mean_ms).toFixed(3))")
slo_ms=$(node -e "console.log(($slo_factor * $single_ms).toFixed(1))")
echo "serve_slo: dense single request p50 $single_ms ms, mean $mean_ms ms: capacity $capacity requests/s; objective $slo_ms ms" >&2

rows=()
for arm in $arms; do
  case $arm in
    dense) flags=() ;; slo) flags=(--slo-ms "$slo_ms") ;; unpacked) flags=(--max-batch-tokens 0) ;;
    slo-unpacked) flags=(--slo-ms "$slo_ms" --max-batch-tokens 0) ;;
    slo-capped)
      [[ -n $max_speedup ]] || { echo "serve_slo: arm slo-capped needs --max-speedup" >&2; exit 2; }
      flags=(--slo-ms "$slo_ms" --max-speedup "$max_speedup") ;;
    slo-chunked)
      [[ -n $max_stall_ms ]] || { echo "serve_slo: arm slo-chunked needs --max-stall-ms" >&2; exit 2; }
      flags=(--slo-ms "$slo_ms" --max-stall-ms "$max_stall_ms") ;;
    *) echo "serve_slo: unknown arm $arm (dense, slo, slo-capped, unpacked, slo-unpacked, slo-chunked)" >&2; exit 2 ;;
  esac
  stop_server; start_server "${flags[@]}"; "${load[@]}" --url "$url" --closed 5 > /dev/null
  for level in $levels; do
    rate=$(node -e "console.log(($level * $capacity).toFixed(3))")
    count=$(node -e "console.log(Math.max(20, Math.ceil($rate * $duration)))")
    result=$("${load[@]}" --url "$url" --rate "$rate" --count "$count" --duration "$duration" --seed 7)
    echo "{\"arm\":\"$arm\",\"level\":$level,${result:1}"
    rows+=("$(echo "$result" | node -e "
      const r=JSON.parse(require('fs').readFileSync(0,'utf8'));
      console.log(['$arm', '${level}x', r.rate, r.sent, r.p50_ms, r.p95_ms, r.p99_ms, r.server_p99_ms, r.throughput, r.shed, r.accuracy, r.mean_speedup].join(' | '))")")
  done
done
echo
echo "objective: $slo_ms ms ($slo_factor x the dense single-request p50 of $single_ms ms); capacity $capacity requests/s"
echo
echo "| server | load | rate (req/s) | sent | p50 ms | p95 ms | p99 ms | server's p99 ms | answered/s | shed | accuracy % | mean speedup |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do echo "| $row |"; done
