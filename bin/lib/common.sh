# Shared by the bin/ scripts: find a JDK >= 25 and make sure Maven is there.
# Sourced, not run. Sets JAVA_HOME and JAVA on success; exits 2 with a clear message otherwise.

RAZORSTREAM_MIN_JDK=25

# Prints the feature version (e.g. 25) of the JDK at $1, or nothing.
razorstream_jdk_version() {
  local home=$1 v=""
  [ -x "$home/bin/java" ] && [ -x "$home/bin/javac" ] || return 0
  if [ -f "$home/release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$home/release")
  fi
  if [ -z "$v" ]; then
    v=$("$home/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
  fi
  echo "$v"
}

razorstream_find_jdk() {
  local candidate v best="" best_v=0
  if [ -n "${JAVA_HOME:-}" ]; then
    v=$(razorstream_jdk_version "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge "$RAZORSTREAM_MIN_JDK" ]; then
      best=$JAVA_HOME
      best_v=$v
    fi
  fi
  if [ -z "$best" ]; then
    for candidate in "${RAZORSTREAM_JVM_DIR:-/usr/lib/jvm}"/*; do
      [ -d "$candidate" ] || continue
      v=$(razorstream_jdk_version "$candidate")
      if [ -n "$v" ] && [ "$v" -ge "$RAZORSTREAM_MIN_JDK" ] && [ "$v" -gt "$best_v" ]; then
        best=$candidate
        best_v=$v
      fi
    done
  fi
  if [ -z "$best" ]; then
    echo "razorstream: no JDK >= $RAZORSTREAM_MIN_JDK found (looked at JAVA_HOME=${JAVA_HOME:-<unset>} and ${RAZORSTREAM_JVM_DIR:-/usr/lib/jvm}/*)." >&2
    echo "Install one (e.g. Temurin 25: apt-get install temurin-25-jdk) or point JAVA_HOME at it." >&2
    exit 2
  fi
  export JAVA_HOME=$best
  JAVA="$best/bin/java"
  # Maven's own libraries use sun.misc.Unsafe, which JDK 24+ warns about on every build.
  export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
}

razorstream_ensure_maven() {
  if command -v mvn >/dev/null 2>&1; then return 0; fi
  echo "razorstream: Maven (mvn) is missing; installing the Debian package..." >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2 && apt-get install -y -qq maven >&2
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq >&2 && sudo apt-get install -y -qq maven >&2
  fi
  if ! command -v mvn >/dev/null 2>&1; then
    echo "razorstream: could not install Maven; install it (apt-get install maven) and retry." >&2
    exit 2
  fi
}

# kcat (a plain Kafka command-line client) for the test that produces a turn the way shell users do.
# Optional: when it cannot be installed, that test uses a Java producer instead and says so.
# The official openai npm package for the HTTP API's client test (stream-app/src/test/node); optional: the test
# skips with the reason when it is missing.
razorstream_try_openai_client() {
  local dir="$1/stream-app/src/test/node"
  if [ -d "$dir/node_modules/openai" ]; then return 0; fi
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "razorstream: node/npm not found; the openai client test will be skipped." >&2
    return 0
  fi
  echo "razorstream: installing the openai npm package (for the HTTP API's client test)..." >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || echo "razorstream: npm install failed; the openai client test will be skipped." >&2
}

razorstream_try_kcat() {
  if command -v kcat >/dev/null 2>&1; then return 0; fi
  echo "razorstream: installing kcat (optional, for the Kafka shell-client test)..." >&2
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -qq kcat >&2 || (apt-get update -qq >&2 && apt-get install -y -qq kcat >&2)) || true
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    (sudo apt-get install -y -qq kcat >&2 || (sudo apt-get update -qq >&2 && sudo apt-get install -y -qq kcat >&2)) || true
  fi
  command -v kcat >/dev/null 2>&1 || echo "razorstream: kcat not available; the test falls back to a Java producer." >&2
}
