#!/usr/bin/env bash
# Compiles the app's pure-Kotlin logic (app/src/main/java/dev/edgellm/demo/core) with its JUnit 4 tests and
# runs them on the JVM with JUnitCore. No Android SDK, Gradle or Maven: JDK 17, Debian's junit4 and the npm
# package kotlin-compiler (a full kotlinc distribution), each installed here when missing.
#
#   bash android_demo/run_jvm_tests.sh        # from anywhere; exit 0 when every test passed, 1 otherwise
#   bash android_demo/run_jvm_tests.sh IntegrityTest LlmSessionTest   # compile all, run only these classes
#
# Also compiles the Android-side files against tools/api_stubs (see step 3b).
#
# Output: JUnit's report, then "jvm-tests: N passed, N failed, N skipped". Compiled classes go to
# android_demo/build/jvm-tests/ and are reused while the sources and the compiler are unchanged.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="$HERE/build/jvm-tests"
MAIN_SRC="$HERE/app/src/main/java/dev/edgellm/demo/core"
TEST_SRC="$HERE/app/src/test/java/dev/edgellm/demo/core"
KOTLIN_VERSION="2.4.20"
# kotlinc lives in a per-user cache, not in build/: it survives `rm -rf build` and fresh clones (93 MB).
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME:+$HOME/.cache}}"
TOOLS="${CACHE_ROOT:-$HERE/build/tools}/edgellm/kotlin-compiler-$KOTLIN_VERSION"
KOTLIN_HOME="$TOOLS/node_modules/kotlin-compiler"
JUNIT_JAR=/usr/share/java/junit4.jar          # Debian package junit4
HAMCREST_JAR=/usr/share/java/hamcrest-core.jar # Debian package libhamcrest-java (a junit4 dependency)

log() { echo "run_jvm_tests: $*" >&2; }
die() { log "$*"; exit 1; }
started=$SECONDS

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $*"
    fi
}

# Quiet when it works; the tool's own output when it fails.
quietly() {
    local out
    out="$(mktemp)"
    if ! "$@" >"$out" 2>&1; then
        cat "$out" >&2
        rm -f "$out"
        die "failed: $*"
    fi
    rm -f "$out"
}

apt_updated=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        quietly as_root apt-get update
        apt_updated=1
    fi
    log "apt-get install $*"
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# 1. Tools, installed only when missing.
command -v java >/dev/null 2>&1 || apt_install openjdk-17-jdk-headless
if [ ! -f "$JUNIT_JAR" ] || [ ! -f "$HAMCREST_JAR" ]; then apt_install junit4; fi
if [ ! -x "$KOTLIN_HOME/bin/kotlinc" ]; then
    command -v npm >/dev/null 2>&1 || apt_install npm
    log "npm install kotlin-compiler@$KOTLIN_VERSION into $TOOLS"
    mkdir -p "$TOOLS"
    quietly npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "kotlin-compiler@$KOTLIN_VERSION"
    [ -x "$KOTLIN_HOME/bin/kotlinc" ] || die "npm installed kotlin-compiler but $KOTLIN_HOME/bin/kotlinc is missing"
fi
STDLIB="$KOTLIN_HOME/lib/kotlin-stdlib.jar"

# 2. The pure logic must stay free of Android and LiteRT, or these would not be JVM tests.
if grep -nE '^import[[:space:]]+(android|androidx|org\.tensorflow|com\.google)\.' "$MAIN_SRC"/*.kt >&2; then
    die "the files above import Android/LiteRT classes; move that code out of $MAIN_SRC"
fi

# 3. Compile main + tests in one kotlinc call, unless nothing changed since the last successful compile.
stamp="$( { echo "kotlin $KOTLIN_VERSION"; cat "$MAIN_SRC"/*.kt "$TEST_SRC"/*.kt; } | sha256sum | cut -d' ' -f1)"
if [ -f "$BUILD/stamp" ] && [ "$(cat "$BUILD/stamp")" = "$stamp" ]; then
    log "sources unchanged, reusing $BUILD/classes"
else
    rm -rf "$BUILD"
    mkdir -p "$BUILD/classes"
    log "kotlinc $(ls "$MAIN_SRC"/*.kt | wc -l) main + $(ls "$TEST_SRC"/*.kt | wc -l) test files"
    # C1-only JIT and the serial GC halve kotlinc's time for a one-shot compile on a 2-core machine.
    JAVA_OPTS="-Xmx1g -Xms256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC" \
        "$KOTLIN_HOME/bin/kotlinc" -jvm-target 17 -Werror \
        -cp "$JUNIT_JAR:$HAMCREST_JAR" -d "$BUILD/classes" "$MAIN_SRC"/*.kt "$TEST_SRC"/*.kt
    echo "$stamp" > "$BUILD/stamp"
fi

# 3b. The Android side (MainActivity, LiteRtBackend, ExportLocator) against tools/api_stubs: empty Java classes with
# the signatures of the Android SDK and LiteRT calls the app makes. It checks the app's Kotlin compiles (names,
# types, nullability), not what the SDK does; the real check is an APK build with the SDK (README).
APP_SRC="$HERE/app/src/main/java/dev/edgellm/demo"
STUBS="$HERE/tools/api_stubs"
app_stamp="$( { echo "kotlin $KOTLIN_VERSION"; cat "$APP_SRC"/*.kt "$MAIN_SRC"/*.kt; find "$STUBS" -name '*.java' -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -d' ' -f1)"
if [ -f "$BUILD/app-stamp" ] && [ "$(cat "$BUILD/app-stamp")" = "$app_stamp" ]; then
    log "app sources unchanged since they last compiled against the API stubs"
else
    rm -rf "$BUILD/stubs" "$BUILD/app"
    mkdir -p "$BUILD/stubs" "$BUILD/app"
    log "javac API stubs; kotlinc $(ls "$APP_SRC"/*.kt | wc -l) Android-side files against them"
    find "$STUBS" -name '*.java' -print0 | xargs -0 javac -nowarn -d "$BUILD/stubs"
    JAVA_OPTS="-Xmx1g -Xms256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC" \
        "$KOTLIN_HOME/bin/kotlinc" -jvm-target 17 -Werror -cp "$BUILD/stubs:$BUILD/classes" -d "$BUILD/app" "$APP_SRC"/*.kt
    echo "$app_stamp" > "$BUILD/app-stamp"
fi

# The runtime class path, for tools/compare_tokenizer.py and the Inspect command (see README).
echo "$BUILD/classes:$STDLIB" > "$BUILD/classpath"

# 4. Run every *Test class; JvmTestMain exits 1 on a failure or when no test ran.
mapfile -t classes < <(cd "$BUILD/classes" && find . -name '*Test.class' ! -name '*$*' | sed 's|^\./||; s|\.class$||; s|/|.|g' | sort)
[ "${#classes[@]}" -gt 0 ] || die "no test classes were compiled into $BUILD/classes"
if [ "$#" -gt 0 ]; then  # only the classes named on the command line (simple names)
    wanted=()
    for name in "$@"; do
        match="$(printf '%s\n' "${classes[@]}" | grep -E "(^|\.)$name\$" || true)"
        [ -n "$match" ] || die "no test class $name; compiled: ${classes[*]##*.}"
        wanted+=("$match")
    done
    classes=("${wanted[@]}")
fi
set +e
java -cp "$BUILD/classes:$STDLIB:$JUNIT_JAR:$HAMCREST_JAR" dev.edgellm.demo.core.JvmTestMainKt "${classes[@]}"
rc=$?
set -e
log "$((SECONDS - started)) s, exit code $rc"
exit "$rc"
