#!/usr/bin/env bash
# This machine's Ray node for the cluster launcher recipes (aws.yaml, gcp.yaml), ended by the PID it recorded.
#
#   ray_node.sh ray start ARGS...   end the node this script started last, then `ray start ARGS... --block` in
#                                   the background, recording its PID; returns once Ray says it started
#   ray_node.sh stop                end the node this script started last
#
# `ray start --block` ends the processes it started (GCS, raylet, workers) when it gets SIGTERM, so a restart
# (`ray up --restart-only`) ends exactly this node, where `ray stop` would end every Ray process on the machine.
# Like `ray stop`, ending the node also removes the address `ray.init()` on this machine would connect to (the
# node's ray_current_cluster), but only while it still names this node's cluster.
# RAY_NODE_PIDFILE and RAY_NODE_LOG move the PID file (default ~/ray-node.pid) and the node's log (~/ray-node.log).
set -euo pipefail

PIDFILE=${RAY_NODE_PIDFILE:-$HOME/ray-node.pid}
CLUSTER=$PIDFILE.cluster  # the node's ray_current_cluster file, then the address it held once the node was up
LOG=${RAY_NODE_LOG:-$HOME/ray-node.log}
STOP_WAIT=120  # seconds the node has to drain and end before the script gives up

# The ray_current_cluster file `ray start ARGS...` writes: in its --temp-dir, else in Ray's default temp dir.
pointer_file() {
  local temp=${RAY_TMPDIR:-${TMPDIR:-/tmp}}/ray previous=""
  for arg in "$@"; do
    case $arg in --temp-dir=*) temp=${arg#--temp-dir=} ;; esac
    if [ "$previous" = --temp-dir ]; then temp=$arg; fi
    previous=$arg
  done
  echo "$temp/ray_current_cluster"
}

forget_address() {
  [ -f "$CLUSTER" ] || return 0
  local file address
  { read -r file; read -r address; } < "$CLUSTER"
  if [ -f "$file" ] && [ "$(cat "$file")" = "$address" ]; then rm -f "$file"; fi
}

stop_node() {
  [ -f "$PIDFILE" ] || return 0
  local pid
  pid=$(cat "$PIDFILE")
  # After a reboot the recorded PID may belong to another program: end it only if it is still our `ray start`.
  if ps -o args= -p "$pid" | grep -q "ray start"; then
    kill "$pid"
    for _ in $(seq "$STOP_WAIT"); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "ray_node.sh: the Ray node (PID $pid) did not end within $STOP_WAIT s of SIGTERM" >&2
      exit 1
    fi
    forget_address
  fi
  rm -f "$PIDFILE" "$CLUSTER"
}

stop_node
[ "${1:-}" = stop ] && exit 0
if [ "${1:-} ${2:-}" != "ray start" ]; then
  echo "ray_node.sh: expected 'ray start ARGS...' or 'stop', got '$*'" >&2
  exit 2
fi

nohup "$@" --block > "$LOG" 2>&1 &
echo $! > "$PIDFILE"
# Printed once Ray has written its address: the node is up.
until grep -q "will now block forever" "$LOG"; do
  if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "ray_node.sh: $* ended before the node started; its log, $LOG:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 1
done
pointer=$(pointer_file "$@")
if [ -f "$pointer" ]; then printf '%s\n%s\n' "$pointer" "$(cat "$pointer")" > "$CLUSTER"; fi
