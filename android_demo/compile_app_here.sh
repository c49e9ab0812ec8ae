#!/usr/bin/env bash
# Compile-check the Android app WITHOUT the Android SDK (CI runs it):
#   1. link the app's resources and manifest with Debian's aapt against android-framework-res (R.java + a resource
#      table, as the real build's resource step does);
#   2. type-check EVERY Kotlin file of the app (activity, view model, LiteRT wrapper, views, and core/) with the
#      Kotlin compiler, -Werror, against: android.* declarations generated from PyPI's chaquopy-stubs-android
#      (stubs of the real android.jar, API 36; tools/pyi_to_java_stubs.py), the real kotlinx-coroutines-core-jvm.jar
#      that the npm kotlin-compiler ships, the generated R.java, iqa-core, and for what no reachable registry has
#      (AndroidX, LiteRT's Java API) the minimal declarations in stubs/ (one line each, naming the real API).
# What this does NOT do (a workstation with the Android SDK does): dex, the APK, aapt2 with the real AGP, lint, a
# device. See android_demo/README.md.
#
#   android_demo/compile_app_here.sh      # exit 0 when resources link and every app Kotlin file type-checks
#
# Cold (nothing cached) about 1.5 min on 2 cores (downloads a 1 MB wheel, generates ~2,700 Java stub types, compiles);
# warm (inputs unchanged) ~1 s. Environment: FETALEDGE_TOOLS, KOTLIN_VERSION as in run_jvm_tests.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TOOLS="${FETALEDGE_TOOLS:-$HERE/.tools}"
KOTLIN_VERSION="${KOTLIN_VERSION:-$(sed -n 's/^KOTLIN_VERSION="\${KOTLIN_VERSION:-\([^}]*\)}"$/\1/p' "$HERE/run_jvm_tests.sh")}"
STUBS_PKG="chaquopy-stubs-android"
STUBS_VERSION="36.20260406"
FRAMEWORK_RES="/usr/share/android-framework-res/framework-res.apk"
APP="$HERE/app/src/main"
OUT="$HERE/build/app-android"

say() { printf '[compile_app_here] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 2; }
apt_install() {
    if [ "$(id -u)" != "0" ]; then
        die "missing $*; run as root or: sudo apt-get install -y --no-install-recommends $*"
    fi
    say "apt-get install $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; then
        apt-get update >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null
    fi
}

# 0. Tools: the Kotlin toolchain of run_jvm_tests.sh (which installs it), aapt + the framework resources, python3.
[ -n "$KOTLIN_VERSION" ] || die "cannot read the pinned KOTLIN_VERSION from run_jvm_tests.sh; set KOTLIN_VERSION"
KPKG="$TOOLS/kotlin-$KOTLIN_VERSION/node_modules/kotlin-compiler"
if [ ! -f "$KPKG/lib/kotlin-compiler.jar" ] || ! command -v java >/dev/null 2>&1; then
    say "Kotlin toolchain missing: running run_jvm_tests.sh to install it"
    FETALEDGE_TOOLS="$TOOLS" KOTLIN_VERSION="$KOTLIN_VERSION" bash "$HERE/run_jvm_tests.sh" >/dev/null
fi
KLIB="$KPKG/lib"
COROUTINES="$KLIB/kotlinx-coroutines-core-jvm.jar"
[ -f "$COROUTINES" ] || die "$COROUTINES not found (the npm kotlin-compiler ships it)"
command -v aapt >/dev/null 2>&1 || apt_install aapt
[ -f "$FRAMEWORK_RES" ] || apt_install android-framework-res
[ -f "$FRAMEWORK_RES" ] || die "$FRAMEWORK_RES not found after installing android-framework-res"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to generate the android.* stubs"

# 1. android.* as Java declarations, generated once per stub version and generator.
GEN_HASH="$(sha256sum "$HERE/tools/pyi_to_java_stubs.py" | cut -c1-12)"
PYI="$TOOLS/$STUBS_PKG-$STUBS_VERSION"
JAVA_STUBS="$TOOLS/android-java-stubs-$STUBS_VERSION-$GEN_HASH"
if [ ! -f "$JAVA_STUBS/.done" ]; then
    if [ ! -d "$PYI/android-stubs" ]; then
        PIP=("$ROOT/.venv/bin/python" -m pip)
        [ -x "$ROOT/.venv/bin/python" ] || PIP=(python3 -m pip)
        say "pip download $STUBS_PKG==$STUBS_VERSION"
        rm -rf "$PYI.tmp" && mkdir -p "$PYI.tmp"
        "${PIP[@]}" download -q --no-deps --disable-pip-version-check "$STUBS_PKG==$STUBS_VERSION" -d "$PYI.tmp/wheel" 2>&1 \
            | grep -v "WARNING: Location" >&2 || true
        WHEEL="$(ls "$PYI.tmp/wheel/"*.whl 2>/dev/null | head -n1)"
        [ -n "$WHEEL" ] || die "could not download $STUBS_PKG==$STUBS_VERSION from PyPI"
        python3 -m zipfile -e "$WHEEL" "$PYI.tmp"
        rm -rf "$PYI" && mv "$PYI.tmp" "$PYI"
    fi
    say "generating android.* Java declarations from $STUBS_PKG $STUBS_VERSION"
    rm -rf "$JAVA_STUBS.tmp"
    python3 "$HERE/tools/pyi_to_java_stubs.py" "$PYI" "$JAVA_STUBS.tmp" >&2
    touch "$JAVA_STUBS.tmp/.done"
    rm -rf "$JAVA_STUBS" && mv "$JAVA_STUBS.tmp" "$JAVA_STUBS"
fi

# Skip everything below when nothing it reads changed.
STAMP="$( (cd "$HERE" && find app/src/main iqa-core/src/main stubs tools -path app/src/main/assets -prune -o -type f -print \
        | LC_ALL=C sort | xargs sha256sum
    sha256sum compile_app_here.sh app/build.gradle.kts; echo "$KOTLIN_VERSION $STUBS_VERSION $GEN_HASH") | sha256sum | cut -c1-64)"
N_KT="$(find "$APP/kotlin" -name '*.kt' | wc -l)"
N_CORE="$(find "$APP/kotlin/org/fetaledge/demo/core" -name '*.kt' | wc -l)"
N_RES="$(find "$APP/res" -type f | wc -l)"
if [ "$(cat "$OUT/.stamp" 2>/dev/null || true)" = "$STAMP" ]; then
    say "inputs unchanged since the last check: $N_RES resource files linked, $N_KT app Kotlin files type-checked ($(cat "$OUT/.classes") classes)"
    exit 0
fi
rm -rf "$OUT"
mkdir -p "$OUT/gen" "$OUT/iqa-core" "$OUT/classes"

# 2. Resources + manifest. AGP takes the package from `namespace` in app/build.gradle.kts; aapt wants it in the manifest.
NAMESPACE="$(sed -n 's/^ *namespace *= *"\([^"]*\)".*/\1/p' "$HERE/app/build.gradle.kts" | head -n1)"
[ -n "$NAMESPACE" ] || die "no namespace in app/build.gradle.kts"
sed "s|<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\"|& package=\"$NAMESPACE\"|" \
    "$APP/AndroidManifest.xml" > "$OUT/AndroidManifest.xml"
grep -q "package=\"$NAMESPACE\"" "$OUT/AndroidManifest.xml" || die "could not set the manifest package"
say "aapt: linking $N_RES resource files and the manifest against $(basename "$FRAMEWORK_RES")"
aapt package -f -m -J "$OUT/gen" -M "$OUT/AndroidManifest.xml" -S "$APP/res" -I "$FRAMEWORK_RES" -F "$OUT/resources.ap_"
R_JAVA="$OUT/gen/${NAMESPACE//.//}/R.java"
[ -f "$R_JAVA" ] || die "aapt wrote no $R_JAVA"

# 3. Type-check every app Kotlin file (iqa-core first, as its own module, as Gradle builds it).
kotlinc() {
    java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss8m -cp "$KLIB/kotlin-compiler.jar:$KLIB/kotlin-stdlib.jar" \
        org.jetbrains.kotlin.cli.jvm.K2JVMCompiler -no-reflect -kotlin-home "$KPKG" -jvm-target 17 -Werror "$@"
}
say "compiling iqa-core"
kotlinc "$HERE/iqa-core/src/main/kotlin" -module-name iqa-core -d "$OUT/iqa-core"
say "type-checking $N_KT app Kotlin files ($N_CORE in core/, $((N_KT - N_CORE)) Android-facing) against android.* API 36"
kotlinc "$APP/kotlin" "$HERE"/stubs/*.kt "$HERE/stubs/java" "$JAVA_STUBS" "$OUT/gen" -module-name app \
    -cp "$OUT/iqa-core:$COROUTINES" -d "$OUT/classes"
N_CLASSES="$(find "$OUT/classes/org/fetaledge" -name '*.class' | wc -l)"
echo "$N_CLASSES" > "$OUT/.classes"
echo "$STAMP" > "$OUT/.stamp"
say "OK: $N_RES resource files + manifest linked (R.java, $(stat -c %s "$OUT/resources.ap_") bytes resource table);" \
    "$N_KT app Kotlin files type-checked with -Werror ($N_CLASSES classes of org.fetaledge.demo)"
