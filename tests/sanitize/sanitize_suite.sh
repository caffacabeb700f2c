#!/usr/bin/env bash
# A sanitizer job of `make test`: configures a second build tree with the
# sanitizers, builds only the test executables it will run, and runs them.
#   asan  ASan + UBSan (with LeakSanitizer) over the whole C suite
#   tsan  ThreadSanitizer over the tests labelled `concurrency`
# usage: sanitize_suite.sh asan|tsan SOURCE_DIR TREE_DIR
set -euo pipefail
mode="$1"
src="$2"
tree="$3"
here="$(cd "$(dirname "$0")" && pwd)"

# Suites that do not belong in a sanitized C run: the release/packaging and
# binding checks (other languages' runtimes), these jobs themselves, the
# multi-GiB large-index test, GPU tests, the reruns of the execute tests
# on each CPU kernel path (`isa`: the sanitized trees build one path), and
# the aarch64 build under emulation (`cross`).
exclude="release,bindings,python,java,go,rust,sanitize,large,gpu,isa,cross"
case "$mode" in
  asan)
    # float-cast-overflow: GCC leaves it out of "undefined" (clang does not).
    sanitize="address,undefined,float-cast-overflow"
    include=""
    # One instruction-set path of the CPU kernels instead of three: they
    # come from the same source, and compiling them under ASan is most of
    # this tree's build time.
    c_flags="-DSPARSA_NO_MULTIVERSIONING"
    kernel_isas="generic"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    export LSAN_OPTIONS="print_suppressions=0"
    # Fewer random configurations than the release run: ASan costs ~3x.
    export SPARSA_TEST_CASES="${SPARSA_TEST_CASES:-300}"
    export SPARSA_FUZZ_REPLAY_RANDOM="${SPARSA_FUZZ_REPLAY_RANDOM:-300}"
    ;;
  tsan)
    sanitize="thread"
    include="concurrency"
    # GCC function multi-versioning (the estimator's kernels) resolves its
    # clones through ifuncs that run while the library is being relocated,
    # before the TSan runtime is up; instrumented, they crash at load. The
    # TSan tree checks the default clone only, and one attention kernel path
    # (the threading around them is the same for all).
    c_flags="-DSPARSA_NO_MULTIVERSIONING"
    kernel_isas="generic"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4"
    ;;
  *)
    echo "usage: sanitize_suite.sh asan|tsan SOURCE_DIR TREE_DIR" >&2
    exit 2
    ;;
esac

# Timing bounds in tests measure the sanitizer's runtime, not the library.
export SPARSA_TEST_UNTIMED=1

# Check forks each test by default; with sanitizers a failure in the forked
# child is still reported, but one process per suite is faster.
export CK_FORK=no

# Configuring an existing tree again only refreshes it (source globs).
cmake -S "$src" -B "$tree" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPARSA_SANITIZE="$sanitize" \
  -DCMAKE_C_FLAGS="$c_flags" -DSPARSA_CPU_KERNEL_ISAS="$kernel_isas" -DSPARSA_CUDA=OFF -DSPARSA_BUILD_TOOLS=OFF \
  >"$tree.configure.log" 2>&1 || { cat "$tree.configure.log"; exit 1; }

targets=$(python3 "$here/list_tests.py" "$tree" --include-labels "$include" \
  --exclude-labels "$exclude" --targets)
if [[ -z "$targets" ]]; then
  echo "sanitize_suite: no tests selected in $tree" >&2
  exit 1
fi
echo "sanitize_suite ($mode): building $targets"
# shellcheck disable=SC2086
cmake --build "$tree" -j 2 --target $targets >"$tree.build.log" 2>&1 ||
  { tail -n 60 "$tree.build.log"; exit 1; }

args=(--output-on-failure -j 2 --timeout 900 -LE "^($(tr ',' '|' <<<"$exclude"))$")
[[ -n "$include" ]] && args+=(-L "^($include)$")
cd "$tree"
ctest "${args[@]}"
