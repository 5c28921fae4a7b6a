# Shared by the bench scripts (sourced, not run). The caller defines die(), sets
# WATCHDOG_SECONDS and WATCHDOGS=() (its EXIT trap kills what is in WATCHDOGS).

stop_pid() {  # stop_pid PID SECONDS: SIGTERM, wait, SIGKILL; only a PID the script started
  local pid=$1 seconds=$2 i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < seconds * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

watchdog() {  # watchdog PID: kill PID after WATCHDOG_SECONDS whatever happens
  local pid=$1
  (
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$WATCHDOG_SECONDS" &
    sleeper=$!
    wait "$sleeper"
    kill -KILL "$pid" 2>/dev/null
  ) &
  WATCHDOGS+=($!)
}

# start_agent VIGIL CONFIG STATE_DIR OUTPUT: starts `vigil agent` under a watchdog, sets
# AGENT_PID, and returns once STATE_DIR/agent.ready exists (dies if the agent exits or is not
# ready within 15 s).
start_agent() {
  "$1" agent --config "$2" >"$4" 2>&1 &
  AGENT_PID=$!
  watchdog "$AGENT_PID"
  local i
  for ((i = 0; i < 150; i++)); do
    [[ -f $3/agent.ready ]] && return 0
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$4" >&2; die "vigil agent exited"; }
    sleep 0.1
  done
  cat "$4" >&2
  die "vigil agent not ready after 15 s"
}

# status_json STATE_DIR: asks the agent (AGENT_PID) for status.json (SIGUSR1) and prints it.
status_json() {
  rm -f "$1/status.json"
  kill -USR1 "$AGENT_PID"
  local i
  for ((i = 0; i < 100; i++)); do [[ -s $1/status.json ]] && break; sleep 0.05; done
  cat "$1/status.json"
}
