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
