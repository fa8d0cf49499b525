# Sourced by the e2e scripts: MODE=poll|event|event-handoff (default poll) as perf-app flags, so
# every end-to-end run can be repeated in each wait mode; TRANSPORT_FLAGS (e.g. the rdma pool's
# size) go to the server and every client too.
case "${MODE:-poll}" in
  poll) mode_flags=(--mode poll) ;;
  event) mode_flags=(--mode event) ;;
  event-handoff) mode_flags=(--mode event --event-handoff) ;;
  *) echo "MODE must be poll, event or event-handoff, not '$MODE'" >&2; exit 2 ;;
esac
read -ra transport_flags <<<"${TRANSPORT_FLAGS:-}"
mode_flags+=("${transport_flags[@]}")
