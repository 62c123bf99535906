#!/usr/bin/env bash
# Install everything SpatialDiffusion needs, idempotently:
#   1. Debian packages (R 4.2 + Bioconductor/CRAN packages, pandoc, OpenBLAS) when running as root;
#   2. the project virtualenv .venv with torch (CPU build) first, then the engine in editable mode;
#   3. the R package's dependencies are Debian packages, so step 1 covers them.
# Re-running is fast: each step is skipped when its stamp is newer than its inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv
STAMP_DIR=.setup
mkdir -p "$STAMP_DIR"

DEB_PACKAGES=(
  r-base-core r-cran-mclust r-cran-reticulate r-bioc-singlecellexperiment
  r-bioc-summarizedexperiment r-bioc-delayedarray r-bioc-s4vectors r-bioc-biocparallel r-cran-matrix
  r-cran-seurat r-cran-seuratobject r-cran-ggplot2 r-cran-testthat r-cran-knitr
  r-cran-rmarkdown r-bioc-biocstyle r-cran-roxygen2 r-cran-png pandoc
  r-bioc-biocneighbors r-cran-checkmate r-cran-cli r-cran-withr
  # many samples through a cluster scheduler (BiocParallel::BatchtoolsParam; snow runs batchtools'
  # "socket" stand-in for one) and counts on disk (HDF5Array), both used by the tests
  r-cran-batchtools r-cran-brew r-cran-snow r-bioc-hdf5array
  # R's BLAS. Hosted by R, torch's matrix products resolve to the BLAS that R loaded, not to
  # torch's MKL; with Debian's default reference BLAS they are ~10x slower (README, "R and BLAS").
  libopenblas0-pthread
)

missing_debs() {
  local p
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

missing=$(missing_debs)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Debian packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "[setup] ERROR: missing Debian packages ($missing); run 'sudo scripts/setup.sh' once." >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"

if [ ! -f "$STAMP_DIR/python" ] || [ pyproject.toml -nt "$STAMP_DIR/python" ] || [ scripts/setup.sh -nt "$STAMP_DIR/python" ]; then
  echo "[setup] installing Python packages into $VENV"
  # torch first, pinned to the CPU build, so no dependency can pull a CUDA build.
  $PIP install "torch==2.13.0"
  # rpy2 must be built against the installed R (R_HOME from R itself).
  $PIP install -e ".[test]"
  touch "$STAMP_DIR/python"
fi
echo "[setup] ready: $VENV/bin/python, R $(R --version | head -n1 | cut -d' ' -f3)"
