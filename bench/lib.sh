# Shared by the bench scripts (source it): a fresh 3-node coffer cluster on
# free loopback ports, TLS with certificates from a CA made for the run.
# The caller sets $bin (the coffer binary) and $work (a scratch directory).
#
#   coffer_prepare           ports, certificates; exports COFFER_ADDR, COFFER_CACERT
#   coffer_start [config]    starts the nodes (data in $work/coffer<i>, log filter
#                            $COFFER_LOG, default error), waits (up to 180 s) for
#                            a leader and two followers; unseals if $share is set
#   coffer_init              initializes and unseals; sets $share, exports COFFER_TOKEN
#   coffer_leader_pid        the process id of the current leader
#   coffer_seed              writes the vault and the 1,000 keys the read workloads read
#   coffer_stop              stops the nodes (their data stays)
#   etcd_start [plaintext]   a fresh 3-member etcd cluster (data in $work/<target><i>),
#                            as in production: TLS for clients, mutual TLS between
#                            members, with the certificates of coffer_prepare (call
#                            it first); or all plaintext. Sets $etcd_addr and
#                            $etcd_target (the `coffer bench --target` for it), adds
#                            its members to $etcd_pids. Call it once for each kind to
#                            run a TLS and a plaintext cluster side by side
#   etcd_stop                stops every etcd member started

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

coffer_pids=()

coffer_prepare() {
  declare -ga coffer_api coffer_raft
  for i in 1 2 3; do coffer_api[$i]=$(free_port); coffer_raft[$i]=$(free_port); done
  coffer_addr="127.0.0.1:${coffer_api[1]},127.0.0.1:${coffer_api[2]},127.0.0.1:${coffer_api[3]}"
  "$bin" cert ca --out "$work/tls" >/dev/null
  for i in 1 2 3; do
    "$bin" cert node --ca-dir "$work/tls" --node-id "$i" --host 127.0.0.1 --out "$work/tls/n$i" >/dev/null
  done
  export COFFER_ADDR="$coffer_addr" COFFER_CACERT="$work/tls/ca.pem"
}

coffer_start() {
  local config=()
  [ -n "${1:-}" ] && config=(--config "$1")
  for i in 1 2 3; do
    local role=(--join "127.0.0.1:${coffer_api[1]}")
    [ "$i" = 1 ] && role=(--bootstrap)
    RUST_LOG="${COFFER_LOG:-error}" "$bin" server "${config[@]}" --node-id "$i" --data-dir "$work/coffer$i" \
      --api-listen "127.0.0.1:${coffer_api[$i]}" --raft-listen "127.0.0.1:${coffer_raft[$i]}" "${role[@]}" \
      --tls-ca-file "$work/tls/ca.pem" --tls-cert-file "$work/tls/n$i/node.pem" --tls-key-file "$work/tls/n$i/node.key" \
      >>"$work/coffer$i.log" 2>&1 &
    coffer_pids+=($!)
  done
  # By the clock, not by tries: a status call to a node that cannot commit
  # takes seconds to fail, so 120 tries could take 20 minutes. A restarted
  # node with much data may take a while to open it.
  local n deadline=$((SECONDS + 180))
  while :; do
    n=$("$bin" cluster status --format json 2>/dev/null | grep -c '"role": "follower"' || true)
    [ "$n" = 2 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "the coffer cluster did not form within 180 s; the nodes' logs end:" >&2
      for i in 1 2 3; do echo "--- node $i" >&2; tail -n 5 "$work/coffer$i.log" >&2; done
      return 1
    fi
    sleep 0.5
  done
  if [ -n "${share:-}" ]; then
    # A restarted node with much data may take a while to open it and listen.
    for i in 1 2 3; do
      for try in $(seq 1 240); do
        printf '%s\n' "$share" | "$bin" operator unseal --node "127.0.0.1:${coffer_api[$i]}" >/dev/null 2>"$work/unseal.err" && break
        [ "$try" = 240 ] && { cat "$work/unseal.err" >&2; return 1; }
        sleep 0.5
      done
    done
  fi
}

coffer_init() {
  local init
  init=$("$bin" operator init --key-shares 1 --key-threshold 1 --format json)
  share=$(printf '%s' "$init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_shares"][0])')
  COFFER_TOKEN=$(printf '%s' "$init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_token"])')
  export COFFER_TOKEN
  printf '%s\n' "$share" | "$bin" operator unseal >/dev/null
}

coffer_seed() {
  "$bin" bench --workload write --concurrency 8 --duration 2 --warmup 0 --keys 1000 --value-size 256 --vault bench \
    --format json >/dev/null
}

coffer_leader_pid() {
  local leader
  leader=$("$bin" cluster status --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])')
  echo "${coffer_pids[$((leader - 1))]}"
}

coffer_stop() {
  for p in "${coffer_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${coffer_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  coffer_pids=()
}

etcd_pids=()

etcd_start() {
  local cluster="" i scheme=https
  declare -ga etcd_client etcd_peer
  etcd_addr="" etcd_target=etcd
  [ "${1:-}" = plaintext ] && scheme=http etcd_target=etcd-plaintext
  for i in 1 2 3; do etcd_client[$i]=$(free_port); etcd_peer[$i]=$(free_port); done
  for i in 1 2 3; do
    cluster+="${cluster:+,}e$i=$scheme://127.0.0.1:${etcd_peer[$i]}"
    etcd_addr+="${etcd_addr:+,}127.0.0.1:${etcd_client[$i]}"
  done
  for i in 1 2 3; do
    local tls=()
    [ "$scheme" = https ] && tls=(--cert-file "$work/tls/n$i/node.pem" --key-file "$work/tls/n$i/node.key"
      --peer-cert-file "$work/tls/n$i/node.pem" --peer-key-file "$work/tls/n$i/node.key"
      --peer-trusted-ca-file "$work/tls/ca.pem" --peer-client-cert-auth)
    rm -rf "$work/$etcd_target$i"
    etcd --name "e$i" --data-dir "$work/$etcd_target$i" "${tls[@]}" \
      --listen-client-urls "$scheme://127.0.0.1:${etcd_client[$i]}" --advertise-client-urls "$scheme://127.0.0.1:${etcd_client[$i]}" \
      --listen-peer-urls "$scheme://127.0.0.1:${etcd_peer[$i]}" --initial-advertise-peer-urls "$scheme://127.0.0.1:${etcd_peer[$i]}" \
      --initial-cluster "$cluster" --initial-cluster-token "coffer-bench-$scheme" --initial-cluster-state new \
      >"$work/$etcd_target$i.log" 2>&1 &
    etcd_pids+=($!)
  done
  for i in 1 2 3; do
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/${etcd_client[$i]}") 2>/dev/null && break; sleep 0.1; done
  done
}

etcd_stop() {
  for p in "${etcd_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${etcd_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  etcd_pids=()
}
