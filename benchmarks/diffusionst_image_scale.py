"""Signal and noise on the diffusion model's scale: why DiffusionST's enhancement can blur domains.

For each slice, runs the pipeline up to the GCN reconstruction (``diffusion="none"``, no clustering),
maps it to the diffusion model's scale under each ``image_scaling`` and prints how much a gene pixel
varies across spots there (the signal that separates domains) beside the SD of the noise that the
forward process adds at the preset's ``start_timestep`` (``sqrt(1 - alpha_bar_t)``, exact).

With ``--enhance`` it also runs the preset's diffusion stage on that reconstruction (as the pipeline does:
same seed and threads) and prints how far the enhancement moves the data: the norm of the change relative to the
spot-to-spot signal (the reconstruction minus its gene means), and the correlation of the change's
spot-specific part with that signal (negative: the stage shrinks spots towards the average spot).

Usage (from the repository root)::

    .venv/bin/python benchmarks/diffusionst_image_scale.py --slices 151676 --seed 0 --enhance [--set image_scaling=gene]
"""

from __future__ import annotations

import argparse

import anndata as ad
import numpy as np
import torch

from spatialdiffusion.cli import parse_setting
from spatialdiffusion.diffusion import NoiseSchedule
from spatialdiffusion.diffusionst import diffusionst_arrays, diffusionst_config
from spatialdiffusion.diffusionst._stages import ImageScale, enhance_diffusion

from diffusionst_dlpfc import DATA


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", nargs="+", default=["151676"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--enhance", action="store_true", help="also measure what the diffusion stage changes")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="DiffusionST setting of the diffusion stage on top of the preset (e.g. image_scaling=gene)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = dict(parse_setting(item) for item in args.set)
    config = diffusionst_config(args.preset, torch.device("cpu"), **settings)[1]
    schedule = NoiseSchedule.linear(config.diffusion_timesteps, config.beta_start, config.beta_end)
    noise_sd = float((1 - schedule.alphas_cumprod[config.start_timestep]).sqrt())
    print(f"preset {args.preset}: noise SD at start_timestep={config.start_timestep} of {config.diffusion_timesteps} steps: {noise_sd:.3f}")
    for slice_id in args.slices:
        adata = ad.read_h5ad(DATA / "dlpfc" / f"{slice_id}.h5ad")
        run = diffusionst_arrays(adata.X, adata.obsm["spatial"], preset=args.preset, device="cpu", seed=args.seed,
                                 cluster=False, verbose=False, diffusion="none")
        reconstruction = run["enhanced"]
        for how in ("range", "gene"):
            gene_sd = ImageScale.fit(reconstruction, how).forward(reconstruction).std(axis=0)
            print(f"{slice_id} seed {args.seed} image_scaling={how}: SD of a gene pixel across spots: mean {gene_sd.mean():.3f}, "
                  f"median {np.median(gene_sd):.3f}; noise / median signal = {noise_sd / np.median(gene_sd):.2f}")
        if args.enhance:
            enhanced = enhance_diffusion(reconstruction, config, seed=args.seed, device=torch.device("cpu"), verbose=False)[0]
            signal = reconstruction - reconstruction.mean(axis=0)
            change = enhanced - reconstruction
            specific = change - change.mean(axis=0)
            print(f"{slice_id} seed {args.seed} enhancement ({args.preset} {' '.join(args.set)}): |change| / |signal| = "
                  f"{np.linalg.norm(change) / np.linalg.norm(signal):.3f}; corr(spot-specific change, signal) = "
                  f"{np.corrcoef(specific.ravel(), signal.ravel())[0, 1]:.3f}")


if __name__ == "__main__":
    main()
