#!/usr/bin/env bash
# Compile the app module's PURE-KOTLIN helpers (android_demo/app/src/main/kotlin/org/fetaledge/demo/core: every .kt
# file there: .npy reader, tensor codec, frame sources, probe adapter, simulated probe, sweep runner, self-check,
# model selection, controls, export record, bundle checks) together with iqa-core, and run their JUnit 5 tests
# (every file in app/src/test/kotlin; some read the shared goldens in <repo>/tests/goldens) on the JVM. No Android
# SDK is needed: nothing under core/ imports android.* or LiteRT. The rest of the app is type-checked by
# compile_app_here.sh and built by Gradle on a workstation; see android_demo/README.md.
#
#   android_demo/run_app_jvm_tests.sh        # exit 0 when every test passes, non-zero otherwise
#
# The toolchain is the one run_jvm_tests.sh installs (Java 17, Debian's junit5, the npm Kotlin compiler in
# android_demo/.tools); when it is missing, this script runs run_jvm_tests.sh first, which installs it and also
# runs iqa-core's own tests.
#
# Environment: FETALEDGE_TOOLS, KOTLIN_VERSION and FETALEDGE_GOLDENS (the shared goldens, default <repo>/tests/goldens)
# as in run_jvm_tests.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="${FETALEDGE_TOOLS:-$HERE/.tools}"
KOTLIN_VERSION="${KOTLIN_VERSION:-$(sed -n 's/^KOTLIN_VERSION="\${KOTLIN_VERSION:-\([^}]*\)}"$/\1/p' "$HERE/run_jvm_tests.sh")}"
JUNIT_DIR="/usr/share/java"
CORE="$HERE/iqa-core/src/main/kotlin"
APP_MAIN="$HERE/app/src/main/kotlin/org/fetaledge/demo/core"
APP_TEST="$HERE/app/src/test/kotlin"
APP_RES="$HERE/app/src/test/resources"
GOLDENS="${FETALEDGE_GOLDENS:-$(cd "$HERE/.." && pwd)/tests/goldens}"
OUT="$HERE/build/app-jvm"

say() { printf '[run_app_jvm_tests] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 2; }

[ -n "$KOTLIN_VERSION" ] || die "cannot read the pinned KOTLIN_VERSION from run_jvm_tests.sh; set KOTLIN_VERSION"
KPKG="$TOOLS/kotlin-$KOTLIN_VERSION/node_modules/kotlin-compiler"
if [ ! -f "$KPKG/lib/kotlin-compiler.jar" ] || [ ! -f "$JUNIT_DIR/junit-platform-console-standalone.jar" ] \
    || ! command -v java >/dev/null 2>&1; then
    say "toolchain missing: running run_jvm_tests.sh to install it (and run iqa-core's tests)"
    FETALEDGE_TOOLS="$TOOLS" KOTLIN_VERSION="$KOTLIN_VERSION" bash "$HERE/run_jvm_tests.sh"
fi
[ -f "$KPKG/lib/kotlin-compiler.jar" ] || die "kotlin-compiler.jar missing in $KPKG/lib"
KLIB="$KPKG/lib"
STDLIB="$KLIB/kotlin-stdlib.jar"
TEST_CP="$JUNIT_DIR/junit-jupiter-api.jar:$JUNIT_DIR/apiguardian-api.jar:$JUNIT_DIR/opentest4j.jar"

# The pure-Kotlin rule, enforced: core/ must not import Android or LiteRT (or it would not run here, nor in
# plain JVM unit tests on a workstation).
if grep -rnE '^import (android|androidx|org\.tensorflow|kotlinx\.coroutines)\.' "$APP_MAIN"; then
    die "app/src/main/kotlin/org/fetaledge/demo/core must stay pure Kotlin (no android/androidx/LiteRT/coroutines imports)"
fi

kotlinc() {
    java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss8m -cp "$KLIB/kotlin-compiler.jar:$STDLIB" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
        -no-reflect -kotlin-home "$KPKG" -jvm-target 17 -Werror "$@"
}

# Compile iqa-core main (as a separate module, as Gradle does), the app's core helpers, then the tests.
# Skipped when the sources and the compiler are unchanged.
STAMP="$( (cd "$HERE" && find iqa-core/src/main/kotlin app/src/main/kotlin/org/fetaledge/demo/core app/src/test/kotlin \
    -name '*.kt' -type f | LC_ALL=C sort | xargs sha256sum; sha256sum run_app_jvm_tests.sh) | sha256sum | cut -c1-64)-$KOTLIN_VERSION"
if [ "$(cat "$OUT/.stamp" 2>/dev/null || true)" != "$STAMP" ]; then
    rm -rf "$OUT"
    mkdir -p "$OUT/iqa-core" "$OUT/main" "$OUT/test"
    say "compiling iqa-core (main)"
    kotlinc "$CORE" -module-name iqa-core -d "$OUT/iqa-core"
    say "compiling app core helpers ($(find "$APP_MAIN" -name '*.kt' | wc -l) files, pure Kotlin)"
    kotlinc "$APP_MAIN" -module-name app -cp "$OUT/iqa-core" -d "$OUT/main"
    say "compiling app tests"
    kotlinc "$APP_TEST" -module-name app-test -Xfriend-paths="$OUT/main" \
        -cp "$OUT/iqa-core:$OUT/main:$TEST_CP" -d "$OUT/test"
    echo "$STAMP" > "$OUT/.stamp"
else
    say "sources unchanged since the last compile: reusing $OUT"
fi

say "running JUnit (app core helpers)"
[ -d "$GOLDENS" ] || die "golden folder not found: $GOLDENS (set FETALEDGE_GOLDENS)"
java -Dfetaledge.goldens="$GOLDENS" -jar "$JUNIT_DIR/junit-platform-console-standalone.jar" \
    --class-path "$OUT/iqa-core:$OUT/main:$OUT/test:$APP_RES:$STDLIB" --scan-classpath "$OUT/test" \
    --fail-if-no-tests --disable-banner --disable-ansi-colors --details=tree
