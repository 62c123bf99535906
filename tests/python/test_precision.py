"""The GPU path on the CPU: bfloat16 autocast, peak GPU memory records and the CUDA branches of device handling.

The test machines have no GPU, so each branch that a CUDA run takes is run here at toy size: bf16 autocast
on the CPU (which torch supports) through both methods, and the CUDA-only calls (capability, peak memory,
device choice) against stand-ins for torch's CUDA functions.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from spatialdiffusion._utils import PeakGPUMemory, check_precision, mixed_precision, resolve_device
from spatialdiffusion.diffusionst import DiffusionSTConfig, diffusionst_arrays
from spatialdiffusion.diffusionst._gcn import GCNZINBAutoencoder
from spatialdiffusion.graph import propagation_matrix, spatial_adjacency, to_torch_sparse
from spatialdiffusion.spalstf import SpaLSTFConfig, spalstf_arrays

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")
CUDA = torch.device("cuda")  # a device object only: nothing below allocates on it

# DiffusionST with every stage at toy size: 144 spots on a grid, two domains, 64 genes.
DIFFUSIONST_TOY = dict(n_clusters=2, preset="fast", device="cpu", seed=0, verbose=False, n_top_genes=64, gcn_epochs=3,
                       train_epochs=1, batch_size=32, n_candidates=2, n_keep=1, sampling_steps=1, cluster_method="gmm",
                       refine_neighbors=4, n_pcs=5)
SPALSTF_TOY = dict(hidden=16, depth=1, num_heads=4, lstm_hidden=8, lstm_layers=1, batch_size=64, epochs=2, num_timesteps=50,
                   sampler="ddim", sampler_steps=4, n_samples=2, min_shared_genes=3, device="cpu", verbose=False)


def _grid_slice(side: int = 12, n_genes: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    xy = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2).astype(float)
    domain = (xy[:, 0] >= side // 2).astype(int)
    rates = rng.gamma(1.0, 2.0, size=(2, n_genes))
    return rng.poisson(rates[domain]).astype(np.float32), xy


def _no_cuda_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every CUDA function the helpers might call fail the test."""
    for name in ("reset_peak_memory_stats", "max_memory_allocated", "get_device_capability"):
        monkeypatch.setattr(torch.cuda, name, lambda *args, **kwargs: pytest.fail("a CUDA function was called"))


def test_mixed_precision_autocasts_to_bf16_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_cuda_calls(monkeypatch)
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with mixed_precision("float32", CPU):
        assert (a @ b).dtype == torch.float32
    with mixed_precision("bf16", CPU):
        assert (a @ b).dtype == torch.bfloat16
    assert (a @ b).dtype == torch.float32  # the context ends with the block
    with pytest.raises(ValueError, match="`precision` must be one of"):
        mixed_precision("fp16", CPU)
    with pytest.raises(ValueError, match="`precision`='bf16' runs on CUDA or the CPU, not on 'mps'"):
        check_precision("bf16", torch.device("mps"))
    check_precision("float32", torch.device("mps"))


def test_bf16_on_cuda_needs_an_ampere_or_newer_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    with pytest.raises(ValueError, match=r"compute capability 8.0 \(Ampere\) or newer; this one has 7.5"):
        check_precision("bf16", CUDA)
    check_precision("float32", CUDA)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    check_precision("bf16", CUDA)


def test_peak_gpu_memory_is_reset_and_read_on_cuda_only(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_cuda_calls(monkeypatch)
    assert PeakGPUMemory(CPU).record() == {}
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: calls.append("read") or 3 * 2**30 + 2**19)
    peak = PeakGPUMemory(CUDA)
    assert calls == ["reset"]
    assert peak.record() == {"peak_gpu_memory_mib": 3072.5}
    assert calls == ["reset", "read"]


def test_cuda_branches_of_device_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    assert resolve_device("auto") != CUDA
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == CUDA and resolve_device("cuda:1") == torch.device("cuda:1")


def test_graph_products_stay_float32_under_bf16_autocast() -> None:
    counts, xy = _grid_slice(side=6, n_genes=20)
    features = np.log1p(counts)
    prop = to_torch_sparse(propagation_matrix(spatial_adjacency(xy, 4)), CPU)
    x = torch.from_numpy(features)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = GCNZINBAutoencoder(20, 8, "reconstruction")
    reference = model.reconstruct(model(x, prop)["propagated"])
    with mixed_precision("bf16", CPU):
        mixed = model(x, prop)  # torch has no bfloat16 sparse product on the CPU: this fails unless it stays float32
    assert mixed["propagated"].dtype == torch.float32
    torch.testing.assert_close(model.reconstruct(mixed["propagated"]), reference, rtol=0.05, atol=0.05)


def test_diffusionst_runs_in_bf16_and_returns_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_cuda_calls(monkeypatch)
    counts, xy = _grid_slice()
    full = diffusionst_arrays(counts, xy, **DIFFUSIONST_TOY)
    # the paper's GCN heads (on the reconstruction) and the ZINB on counts run under autocast too
    for extra in ({}, {"zinb_heads_from": "reconstruction", "zinb_target": "counts", "gcn_init": "xavier"}):
        half = diffusionst_arrays(counts, xy, precision="bf16", **DIFFUSIONST_TOY, **extra)
        assert half["params"]["precision"] == "bf16" and "peak_gpu_memory_mib" not in half["params"]
        for key in ("enhanced", "embedding"):
            assert half[key].dtype == np.float32 and np.isfinite(half[key]).all()
        assert np.isfinite([half["stats"]["gcn_last_loss"], half["stats"]["final_train_loss"]]).all()
    assert full["params"]["precision"] == "float32"
    assert not np.array_equal(half["enhanced"], full["enhanced"])  # the bf16 products did run


def test_spalstf_runs_in_bf16_and_a_loaded_model_takes_the_runs_precision(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_cuda_calls(monkeypatch)
    rng = np.random.default_rng(0)
    counts, genes = rng.poisson(3.0, (80, 12)).astype(np.float32), [f"G{i}" for i in range(12)]
    path = str(tmp_path / "model.pt")
    full = spalstf_arrays(counts, genes, counts, genes, genes=["G0", "G1"], checkpoint=path, **SPALSTF_TOY)
    half = spalstf_arrays(counts, genes, counts, genes, genes=["G0", "G1"], precision="bf16", **SPALSTF_TOY)
    assert half["params"]["preset_config"]["precision"] == "bf16" and "peak_gpu_memory_mib" not in half["params"]
    assert half["imputed"].dtype == np.float32 and np.isfinite(half["imputed"]).all()
    assert not np.array_equal(half["imputed"], full["imputed"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a changed training setting would warn; precision is not one
        loaded = spalstf_arrays(counts, genes, counts, genes, genes=["G0", "G1"], checkpoint=path, precision="bf16", **SPALSTF_TOY)
    assert loaded["params"]["loaded_checkpoint"]
    assert loaded["params"]["preset_config"]["precision"] == "bf16" and np.isfinite(loaded["imputed"]).all()


@pytest.mark.parametrize("config", [DiffusionSTConfig, SpaLSTFConfig])
def test_precision_setting_is_checked(config: type) -> None:
    assert config().precision == "float32"
    with pytest.raises(ValueError, match=r"`precision` must be one of \('float32', 'bf16'\), got 'fp16'"):
        config(precision="fp16")
