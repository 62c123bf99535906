#!/usr/bin/env bash
# Build and check the R package SpatialDiffusion (called by `make test`).
#
#   1. regenerate NAMESPACE/man with roxygen2 and fail if they differ from the committed files;
#   2. scripts/bundle_engine.py copies the engine into inst/python (ignored by git), then R CMD build
#      builds the tarball, which carries the engine, and runs the vignettes on inst/extdata with the
#      real Python engine;
#   3. R CMD check --no-manual on the tarball, with the tests and examples running the real engine
#      (the vignettes are not re-run there: --no-build-vignettes --no-vignettes, they already ran
#      in step 2 and running them twice would double the time):
#      SPATIALDIFFUSION_PYTHON points reticulate at the project's .venv (R CMD check copies the
#      package to a temporary folder, so the .venv default discovery cannot be relied on there) and
#      SPATIALDIFFUSION_REQUIRE_PYTHON=true makes the tests fail instead of skip without Python.
#   Fails on any ERROR or WARNING; NOTEs are printed.
#
# Usage: bash scripts/r_check.sh [--no-roxygen]      Output in out/r-check/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/out/r-check"
mkdir -p "$OUT"

PY="${SPATIALDIFFUSION_PYTHON:-$ROOT/.venv/bin/python}"
if [ ! -x "$PY" ]; then
  echo "[r_check] ERROR: no Python at $PY; run 'make setup' (scripts/setup.sh) first." >&2
  exit 1
fi
export SPATIALDIFFUSION_PYTHON="$PY"
export RETICULATE_PYTHON="$PY"
export SPATIALDIFFUSION_REQUIRE_PYTHON=true
export _R_CHECK_FORCE_SUGGESTS_=false
export _R_CHECK_CRAN_INCOMING_=false
export _R_CHECK_SYSTEM_CLOCK_=0
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
# The engine's progress bars are for interactive use.
export TQDM_DISABLE=1

if [ "${1:-}" != "--no-roxygen" ]; then
  echo "[r_check] roxygen2: checking that NAMESPACE and man/ are up to date"
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  cp -r DESCRIPTION NAMESPACE R man "$TMP"/
  ( cd "$TMP" && Rscript -e 'suppressMessages(roxygen2::roxygenise())' >/dev/null 2>"$TMP/roxygen.log" ) || {
    cat "$TMP/roxygen.log" >&2; echo "[r_check] ERROR: roxygen2 failed" >&2; exit 1; }
  if ! diff -r -q "$TMP/man" man >/dev/null || ! diff -q "$TMP/NAMESPACE" NAMESPACE >/dev/null; then
    diff -r "$TMP/man" man || true
    diff "$TMP/NAMESPACE" NAMESPACE || true
    echo "[r_check] ERROR: NAMESPACE/man are out of date; run Rscript -e 'roxygen2::roxygenise()'" >&2
    exit 1
  fi
fi

VERSION=$(sed -n 's/^Version: *//p' DESCRIPTION)
TARBALL="SpatialDiffusion_${VERSION}.tar.gz"
START=$(date +%s)
echo "[r_check] bundling the engine into inst/python (the tarball carries it)"
"$PY" scripts/bundle_engine.py >/dev/null
echo "[r_check] R CMD build (vignettes run the engine)"
( cd "$OUT" && rm -f "$TARBALL" && R CMD build --no-resave-data "$ROOT" ) > "$OUT/build.log" 2>&1 || {
  cat "$OUT/build.log" >&2; echo "[r_check] ERROR: R CMD build failed" >&2; exit 1; }
echo "[r_check] R CMD check --no-manual $TARBALL (vignettes already ran in R CMD build)"
set +e
( cd "$OUT" && R CMD check --no-manual --no-build-vignettes --no-vignettes --timings "$TARBALL" ) > "$OUT/check.log" 2>&1
RC=$?
set -e
cat "$OUT/check.log"
CHECKDIR="$OUT/SpatialDiffusion.Rcheck"
if [ -f "$CHECKDIR/tests/testthat.Rout.fail" ]; then
  echo "---- tests/testthat.Rout.fail (tail) ----"; tail -n 80 "$CHECKDIR/tests/testthat.Rout.fail"
fi
echo "[r_check] build + check took $(( $(date +%s) - START ))s"
if [ $RC -ne 0 ] || grep -Eq "^Status: .*(ERROR|WARNING)" "$OUT/check.log"; then
  echo "[r_check] FAILED: R CMD check reported an ERROR or WARNING (see $OUT/check.log)" >&2
  exit 1
fi
if ! grep -q "^Status: " "$OUT/check.log"; then
  echo "[r_check] FAILED: R CMD check did not finish" >&2
  exit 1
fi
grep -A3 -E "\.\.\. NOTE" "$OUT/check.log" || true
echo "[r_check] OK ($(grep '^Status: ' "$OUT/check.log"))"
