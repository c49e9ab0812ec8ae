#!/usr/bin/env bash
# Compile android_demo/iqa-core (pure Kotlin/JVM) and run its JUnit 5 tests against the SAME golden files that
# pytest reads (tests/goldens/decision/*.json, tests/goldens/spec/*.json). Works on a fresh Debian machine as
# root: installs what is missing (Java 17, npm, Debian's junit5; the Kotlin compiler from npm into
# android_demo/.tools), no Gradle. Cold (nothing cached) about 50 s on 2 cores; warm (sources unchanged) ~3 s.
#
#   android_demo/run_jvm_tests.sh            # exit 0 when every test passes, non-zero otherwise
#
# Environment:
#   FETALEDGE_GOLDENS   golden root holding decision/ and spec/ (default: <repo>/tests/goldens)
#   FETALEDGE_TOOLS     toolchain cache (default: android_demo/.tools)
#   KOTLIN_VERSION      npm kotlin-compiler version (default: pinned below)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TOOLS="${FETALEDGE_TOOLS:-$HERE/.tools}"
GOLDENS="${FETALEDGE_GOLDENS:-$ROOT/tests/goldens}"
KOTLIN_VERSION="${KOTLIN_VERSION:-2.4.20}"
JUNIT_DIR="/usr/share/java"
MODULE="$HERE/iqa-core"
OUT="$HERE/build/jvm"

say() { printf '[run_jvm_tests] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 2; }

apt_install() {
    # Install Debian packages when missing; only possible as root.
    if [ "$(id -u)" != "0" ]; then
        die "missing $*; run as root or: sudo apt-get install -y --no-install-recommends $*"
    fi
    say "apt-get install $*"
    if ! apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; then
        apt-get update >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null
    fi
}

# 1. Java 17+ (the Kotlin compiler and the JUnit console launcher run on it; classes target 17).
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
    apt_install openjdk-17-jdk-headless
fi
[ "$(java_major)" -ge 17 ] || die "Java 17 or newer is needed, found: $(java -version 2>&1 | head -n1)"
# 2. JUnit 5 from Debian: the console launcher plus the Jupiter API the tests compile against.
[ -f "$JUNIT_DIR/junit-platform-console-standalone.jar" ] || apt_install junit5
for jar in junit-platform-console-standalone.jar junit-jupiter-api.jar apiguardian-api.jar opentest4j.jar; do
    [ -f "$JUNIT_DIR/$jar" ] || die "$JUNIT_DIR/$jar not found after installing junit5"
done
# 3. The Kotlin compiler from npm, cached under $TOOLS.
KPKG="$TOOLS/kotlin-$KOTLIN_VERSION/node_modules/kotlin-compiler"
if [ ! -f "$KPKG/lib/kotlin-compiler.jar" ]; then
    command -v npm >/dev/null 2>&1 || apt_install npm
    say "npm install kotlin-compiler@$KOTLIN_VERSION into $TOOLS"
    mkdir -p "$TOOLS/kotlin-$KOTLIN_VERSION"
    npm install --prefix "$TOOLS/kotlin-$KOTLIN_VERSION" --no-audit --no-fund --loglevel=error \
        "kotlin-compiler@$KOTLIN_VERSION" >/dev/null
    [ -f "$KPKG/lib/kotlin-compiler.jar" ] || die "kotlin-compiler.jar missing in $KPKG/lib"
fi
KLIB="$KPKG/lib"
STDLIB="$KLIB/kotlin-stdlib.jar"

kotlinc() {
    # C1-only JIT and the serial GC halve the compile time of this short-lived compiler run on 2 cores.
    java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss8m -cp "$KLIB/kotlin-compiler.jar:$STDLIB" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
        -no-reflect -kotlin-home "$KPKG" -jvm-target 17 -Werror "$@"
}

# 4. Compile main, then tests (main must not see JUnit). Skipped when sources and compiler are unchanged.
STAMP="$(cd "$MODULE" && find src -name '*.kt' -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-64)"
STAMP="$STAMP-$KOTLIN_VERSION-$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
if [ "$(cat "$OUT/.stamp" 2>/dev/null || true)" != "$STAMP" ]; then
    rm -rf "$OUT"
    mkdir -p "$OUT/main" "$OUT/test"
    say "compiling iqa-core (main)"
    kotlinc "$MODULE/src/main/kotlin" -d "$OUT/main"
    say "compiling iqa-core (test)"
    kotlinc "$MODULE/src/test/kotlin" \
        -cp "$OUT/main:$JUNIT_DIR/junit-jupiter-api.jar:$JUNIT_DIR/apiguardian-api.jar:$JUNIT_DIR/opentest4j.jar" \
        -d "$OUT/test"
    echo "$STAMP" > "$OUT/.stamp"
else
    say "sources unchanged since the last compile: reusing $OUT"
fi

# 5. Run every test; the launcher exits 1 on any failure and (with --fail-if-no-tests) 2 when none ran.
[ -d "$GOLDENS" ] || die "golden folder not found: $GOLDENS (set FETALEDGE_GOLDENS)"
say "running JUnit on goldens in $GOLDENS"
java -Dfetaledge.goldens="$GOLDENS" -jar "$JUNIT_DIR/junit-platform-console-standalone.jar" \
    --class-path "$OUT/main:$OUT/test:$STDLIB" --scan-classpath "$OUT/test" \
    --fail-if-no-tests --disable-banner --disable-ansi-colors --details=tree
