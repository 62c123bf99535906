"""Signal and noise on the diffusion model's scale: why DiffusionST's enhancement can blur domains.

For each slice, runs the pipeline up to the GCN reconstruction (``diffusion="none"``, no clustering),
maps it to the diffusion model's scale under each ``image_scaling`` and prints how much a gene pixel
varies across spots there (the signal that separates domains) beside the SD of the noise that the
forward process adds at the preset's ``start_timestep`` (``sqrt(1 - alpha_bar_t)``, exact).

Usage (from the repository root)::

    .venv/bin/python benchmarks/diffusionst_image_scale.py --slices 151676 --seed 0
"""

from __future__ import annotations

import argparse

import anndata as ad
import numpy as np
import torch

from spatialdiffusion.diffusion import NoiseSchedule
from spatialdiffusion.methods.diffusionst import diffusionst_arrays
from spatialdiffusion.methods.diffusionst_stages import _image_scaling
from spatialdiffusion.presets import diffusionst_config

from diffusionst_dlpfc import DATA


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", nargs="+", default=["151676"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = diffusionst_config(args.preset, torch.device("cpu"))[1]
    schedule = NoiseSchedule.linear(config.diffusion_timesteps, config.beta_start, config.beta_end)
    noise_sd = float((1 - schedule.alphas_cumprod[config.start_timestep]).sqrt())
    print(f"preset {args.preset}: noise SD at start_timestep={config.start_timestep} of {config.diffusion_timesteps} steps: {noise_sd:.3f}")
    for slice_id in args.slices:
        adata = ad.read_h5ad(DATA / "dlpfc" / f"{slice_id}.h5ad")
        run = diffusionst_arrays(adata.X, adata.obsm["spatial"], preset=args.preset, device="cpu", seed=args.seed,
                                 cluster=False, verbose=False, diffusion="none")
        reconstruction = run["enhanced"]
        for how in ("range", "gene"):
            low, width = _image_scaling(reconstruction, how)
            gene_sd = ((reconstruction - low) / width * 2 - 1).std(axis=0)
            print(f"{slice_id} seed {args.seed} image_scaling={how}: SD of a gene pixel across spots: mean {gene_sd.mean():.3f}, "
                  f"median {np.median(gene_sd):.3f}; noise / median signal = {noise_sd / np.median(gene_sd):.2f}")


if __name__ == "__main__":
    main()
