"""Quick one-seed DiffusionST run on a DLPFC slice (development helper for tuning)."""
import json, sys, time
import anndata as ad
from spatialdiffusion.diffusionst import diffusionst_arrays
from spatialdiffusion.metrics import clustering_scores

slice_id, seed = sys.argv[1], int(sys.argv[2])
over = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
a = ad.read_h5ad(f"../shared/data/dlpfc/{slice_id}.h5ad")
t0 = time.time()
r = diffusionst_arrays(a.X, a.obsm["spatial"], n_clusters=7, preset="fast", seed=seed, verbose=False, **over)
truth = a.obs["layer_guess_reordered"]
print(slice_id, seed, over, "ARI", round(clustering_scores(truth, r["domains"])["ari"], 4), "unrefined", round(clustering_scores(truth, r["domains_unrefined"])["ari"], 4),
      {k: round(v, 1) for k, v in r["timings"].items()}, {k: round(v, 4) for k, v in r["stats"].items()}, flush=True)
