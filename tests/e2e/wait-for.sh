# Sourced by the e2e scripts. wait_for FILE REGEX WHAT [SECONDS] [PID]: until FILE has a line
# matching REGEX (grep -E); after SECONDS (default 120: emulation and loaded machines are slow)
# or once PID has exited, print what was waited for and FILE, and exit 1. Tests wait for
# events, never for a fixed time.
wait_for() {
  local file=$1 regex=$2 what=$3 seconds=${4:-120} pid=${5:-}
  local end=$((SECONDS + seconds))
  until grep -Eq -- "$regex" "$file" 2>/dev/null; do
    if [ $SECONDS -ge $end ] || { [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; }; then
      if [ $SECONDS -ge $end ]; then
        echo "FAILED: timed out after ${seconds} s waiting for $what"
      else
        echo "FAILED: the process exited while waiting for $what"
      fi
      echo "--- $file"; cat "$file"
      exit 1
    fi
    sleep 0.05
  done
}

# until_idle LOG PID [SECONDS]: asks the perf_msgr_server PID for its census (kill -USR1, printed
# to LOG) until one shows no connection, no session waiting, no partial frame, no queue pair and
# no buffer held by a connection (every lcore, every pool); prints that census. After SECONDS
# (default 60), or if the server exits, prints what was waited for and the last census, and
# exits 1.
until_idle() {
  local log=$1 pid=$2 seconds=${3:-60}
  local end=$((SECONDS + seconds)) before last="(none)"
  census_count() { grep -c "^census: lcore" "$log"; }
  while [ $SECONDS -lt $end ] && kill -0 "$pid" 2>/dev/null; do
    before=$(census_count)
    kill -USR1 "$pid"
    while [ "$(census_count)" -le "$before" ] && [ $SECONDS -lt $end ] && kill -0 "$pid" 2>/dev/null; do
      sleep 0.05
    done
    if [ "$(census_count)" -gt "$before" ]; then
      # The last census: its lines up to the last lcore's (they come together, one print per lcore).
      last=$(awk '/^census:/ { if (!open) block = ""; open = 1; block = block $0 "\n"
                               if ($0 ~ /^census: lcore/) open = 0; next } { open = 0 }
                  END { printf "%s", block }' "$log")
      if ! grep -Eq "[1-9][0-9]* (connections|sessions waiting|bytes of partial frames|held by connections|queue pairs)" <<<"$last"; then
        echo "the server is idle again; its census:"; echo "$last"
        return 0
      fi
    fi
    sleep 0.2
  done
  echo "FAILED: waited ${seconds} s for the server's census (kill -USR1) to show nothing held" \
       "(or the server exited); the last census:"
  echo "$last"; echo "--- the end of $log"; tail -n 20 "$log"
  exit 1
}
