# Sourced by the bench scripts that run on a real broker.
# start_tansu TOOLS LOG: starts Tansu (from TOOLS, as Tests/broker/fetch.sh prints it; in-memory
# storage) on a free loopback port, its output in LOG, and waits until it accepts connections.
# Sets TANSU_PORT and TANSU_PID (the caller's EXIT trap kills it).
start_tansu() {
  local tools=$1 log=$2
  TANSU_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$tools/bin/tansu" broker --listener-url "tcp://127.0.0.1:$TANSU_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$TANSU_PORT" --storage-engine memory://tansu/ >"$log" 2>&1 &
  TANSU_PID=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$TANSU_PORT") 2>/dev/null && return 0
    kill -0 "$TANSU_PID" 2>/dev/null || { cat "$log" >&2; echo "the broker exited" >&2; return 1; }
    sleep 0.1
  done
  echo "the broker did not accept connections within 10 s" >&2
  return 1
}
