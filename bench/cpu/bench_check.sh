# Sourced by isa_check.sh and random_check.sh: one `sparsa bench --check`
# run, counted. The sourcing script sets tool (the CLI) and runner (an
# array of words run before it, e.g. an emulator; may be empty).
# check_run ISA THREADS FLAGS...: runs the check on CPU path ISA (empty:
# the default path) with THREADS threads; adds it to passed or failed and
# prints a line naming a failure.
passed=0
failed=0
check_run() {
  local isa="$1" threads="$2" out
  shift 2
  if out="$(SPARSA_CPU_ISA="$isa" "${runner[@]}" "$tool" bench --check --reps 1 --threads "$threads" "$@" 2>&1)" &&
    grep -q "check *passed" <<<"$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED (${isa:-default path}): sparsa bench --check $* :: $(grep -m1 -E "^ *check|error|unsupported" <<<"$out")"
  fi
}
