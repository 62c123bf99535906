#!/usr/bin/env bash
# The newcomer path, as a test (part of `make test`): install SpatialDiffusion the way a lab that
# never sees this repository does, in a temporary folder outside it, with SPATIALDIFFUSION_PYTHON
# and RETICULATE_PYTHON unset, then run both methods.
#
#   R:      R CMD INSTALL the source tarball into a temporary R library; installSpatialDiffusion()
#           into a temporary virtualenv (PyTorch, then the engine the tarball carries); then, in a new
#           R process, runDiffusionST() on the shipped DLPFC slice and runSpaLSTF() on the shipped
#           osmFISH pair with small settings (scripts/newcomer/run_methods.R checks the results).
#   Python: `pip install .` (not editable) into a temporary virtualenv, then a small
#           `spatialdiffusion diffusionst` run from the temporary folder.
#
# The tarball is the one scripts/r_check.sh built (out/r-check/), or one built here without
# vignettes when that is missing or older than the sources. Reticulate's virtualenv folder (WORKON_HOME) and R's user config
# folder (R_USER_CONFIG_DIR, where installSpatialDiffusion() records its Python) point into the
# temporary folder, so the user's own are never touched; pip's cache is used as usual.
#
# Usage: bash scripts/newcomer_check.sh [--keep]     (--keep leaves the temporary folder in place)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VERSION=$(sed -n 's/^Version: *//p' DESCRIPTION)
TARBALL="$ROOT/out/r-check/SpatialDiffusion_${VERSION}.tar.gz"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
DATA=$(cd "${SPATIALDIFFUSION_DATA:-$ROOT/../shared/data}" 2>/dev/null && pwd) || {
    echo "[newcomer] ERROR: the shared data folder (SPATIALDIFFUSION_DATA or ../shared/data) is missing" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/spatialdiffusion-newcomer.XXXXXX")
if [ "${1:-}" = "--keep" ]; then
    echo "[newcomer] working in $WORK (kept)"
else
    trap 'rm -rf "$WORK"' EXIT
fi
START=$(date +%s)
step() { echo "[newcomer] $(( $(date +%s) - START ))s: $*"; }

if [ ! -f "$TARBALL" ] || [ -n "$(find DESCRIPTION NAMESPACE R python inst/extdata -newer "$TARBALL" -print -quit)" ]; then
    step "no up-to-date tarball from scripts/r_check.sh; building one without vignettes"
    "$ROOT/.venv/bin/python" scripts/bundle_engine.py >/dev/null
    mkdir -p "$ROOT/out/r-check"
    ( cd "$ROOT/out/r-check" && R CMD build --no-build-vignettes --no-resave-data "$ROOT" >/dev/null 2>&1 )
fi

# A stranger's shell: none of the repository's settings, nothing found through the working directory.
unset SPATIALDIFFUSION_PYTHON RETICULATE_PYTHON RETICULATE_PYTHON_ENV SPATIALDIFFUSION_EXTDATA
export WORKON_HOME="$WORK/virtualenvs" R_USER_CONFIG_DIR="$WORK/config" R_LIBS="$WORK/Rlib"
export TQDM_DISABLE=1
mkdir -p "$R_LIBS"
cd "$WORK"

step "R CMD INSTALL $(basename "$TARBALL") into a temporary R library"
R CMD INSTALL --no-test-load -l "$R_LIBS" "$TARBALL" > install.log 2>&1 || { cat install.log; exit 1; }

step "installSpatialDiffusion(envname = '$WORK/engine-env')"
Rscript -e "SpatialDiffusion::installSpatialDiffusion(envname = '$WORK/engine-env')" > engine.log 2>&1 || {
    cat engine.log; exit 1; }

step "a new R session: runDiffusionST() and runSpaLSTF() on the shipped examples"
Rscript "$ROOT/scripts/newcomer/run_methods.R" "$WORK/engine-env"

step "Python: pip install $ROOT (not editable) into a temporary virtualenv"
"$PYTHON" -m venv "$WORK/py-env"
PIP="$WORK/py-env/bin/python -m pip --disable-pip-version-check -q"
$PIP install "torch==2.13.0" > pip.log 2>&1 || { cat pip.log; exit 1; }
$PIP install "$ROOT" >> pip.log 2>&1 || { cat pip.log; exit 1; }

step "Python: spatialdiffusion diffusionst on DLPFC 151673 (small settings) from $WORK"
"$WORK/py-env/bin/spatialdiffusion" diffusionst "$DATA/dlpfc/151673.h5ad" --n-clusters 7 --seed 0 \
    --library-size-key sum_umi --truth-key layer_guess_reordered --quiet --out "$WORK/domains.h5ad" \
    --set gcn_epochs=10 --set train_epochs=1 --set sampling_steps=1 --set n_candidates=2 --set n_keep=1
"$WORK/py-env/bin/python" - "$WORK" <<'EOF'
import sys
from pathlib import Path

import anndata as ad
import spatialdiffusion
from spatialdiffusion.io import load_example

work = Path(sys.argv[1])
where = Path(spatialdiffusion.__file__).resolve()
assert work in where.parents, f"the engine was imported from {where}, not from the new virtualenv"
adata = ad.read_h5ad(work / "domains.h5ad")
domains = adata.obs["diffusionst_domain"]
assert domains.notna().all() and domains.nunique() == 7, "obs['diffusionst_domain'] must hold 7 domains"
assert adata.obsm["X_diffusionst"].shape == (adata.n_obs, 10), "obsm['X_diffusionst'] must be spots x 10"
assert adata.uns["diffusionst"]["params"]["seed"] == 0, "uns['diffusionst']['params'] must record the seed"
assert load_example("osmfish_st").n_obs > 0, "the installed engine must find its example data"
print(f"  ok: the installed engine ({spatialdiffusion.__version__}) wrote its results and finds its example data")
EOF
step "all newcomer checks passed"
