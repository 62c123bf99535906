"""ARI of the GCN-ZINB reconstruction along training, from a random (xavier) or a PCA start.

Usage: .venv/bin/python benchmarks/diffusionst_gcn_init.py SLICE INIT LR
       e.g. ``151676 pca 1e-3`` or ``151676 xavier 1e-2``

Trains the ``fast`` preset's GCN (ZINB heads on the latent, ZINB on 512 random spots per epoch) on
DLPFC SLICE and prints, at epochs 0, 20, 50 and 100, the ARI (K = 7, seed 0) of PCA 20 + mclust EEE +
50-NN refinement of the reconstruction, before and after refinement.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anndata as ad
import torch
from torch.nn import functional as F

from spatialdiffusion.checks import check_counts
from spatialdiffusion.cluster import cluster_embedding, refine_labels
from spatialdiffusion.diffusionst import normalize_log_scale, select_hvg
from spatialdiffusion.diffusionst._gcn import GCNZINBAutoencoder, zinb_nll
from spatialdiffusion.diffusionst._stages import embed
from spatialdiffusion.graph import propagation_matrix, spatial_adjacency, to_torch_sparse
from spatialdiffusion.metrics import clustering_scores

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHECKPOINTS = (0, 20, 50, 100)


def main() -> None:
    slice_id, init, lr = sys.argv[1], sys.argv[2], float(sys.argv[3])
    seed = 0
    torch.manual_seed(seed)
    adata = ad.read_h5ad(DATA / "dlpfc" / f"{slice_id}.h5ad")
    truth, coords = adata.obs["layer_guess_reordered"], adata.obsm["spatial"]
    counts = check_counts(adata.X)
    features = normalize_log_scale(counts, select_hvg(counts, 4096))
    prop = propagation_matrix(spatial_adjacency(coords, 4))
    x, prop_t = torch.from_numpy(features), to_torch_sparse(prop, torch.device("cpu"))
    model = GCNZINBAutoencoder(features.shape[1], 64, "latent")
    if init == "pca":
        model.initialise_from_pca(features, prop, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr)
    start = time.perf_counter()
    for epoch in range(max(CHECKPOINTS) + 1):
        rows = torch.randperm(x.shape[0])[:512]
        out = model(x, prop_t, zinb_rows=rows)
        loss = 10 * F.mse_loss(out["reconstruction"], x) + 0.5 * zinb_nll(x[rows], out["mean"], out["dispersion"], out["dropout"]).mean()
        if epoch in CHECKPOINTS:
            labels, _ = cluster_embedding(embed(out["reconstruction"].detach().numpy(), 20, seed), 7, method="mclust", seed=seed)
            refined = refine_labels(labels, coords, 50)
            print(f"{slice_id} init={init} lr={lr} epoch {epoch}: loss {loss.item():.3f} "
                  f"ARI {clustering_scores(truth, refined)['ari']:.3f} (unrefined {clustering_scores(truth, labels)['ari']:.3f}) "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    main()
