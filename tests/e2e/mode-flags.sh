# Sourced by the e2e scripts: MODE=poll|event|event-handoff (default poll) as perf-app flags, so
# every end-to-end run can be repeated in each wait mode.
case "${MODE:-poll}" in
  poll) mode_flags=(--mode poll) ;;
  event) mode_flags=(--mode event) ;;
  event-handoff) mode_flags=(--mode event --event-handoff) ;;
  *) echo "MODE must be poll, event or event-handoff, not '$MODE'" >&2; exit 2 ;;
esac
