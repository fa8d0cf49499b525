#!/usr/bin/env bash
# expect_run.sh --status N [--match REGEX]... [--no-match REGEX]... [--timeout S] -- COMMAND...
# Runs COMMAND (stdout and stderr together) and fails unless it exits with status N and its
# output matches every --match (grep -E) and none of the --no-match. Prints the output on failure.
set -u
status=0; timeout_s=60; matches=(); nomatches=()
while [ $# -gt 0 ]; do
  case "$1" in
    --status) status=$2; shift 2 ;;
    --match) matches+=("$2"); shift 2 ;;
    --no-match) nomatches+=("$2"); shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "expect_run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
out=$(timeout "$timeout_s" "$@" 2>&1); rc=$?
fail=""
[ "$rc" -eq "$status" ] || fail+="exit status $rc, expected $status; "
for m in "${matches[@]}"; do
  grep -Eq -- "$m" <<<"$out" || fail+="output lacks /$m/; "
done
for m in "${nomatches[@]}"; do
  grep -Eq -- "$m" <<<"$out" && fail+="output has /$m/; "
done
if [ -n "$fail" ]; then
  printf 'FAILED: %s\ncommand: %s\n--- output ---\n%s\n' "$fail" "$*" "$out"
  exit 1
fi
echo "ok: $*"
