"""SpaLSTF units: loss terms, masking, gene matching, input errors, presets, determinism, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from spatialdiffusion._utils import randn
from spatialdiffusion.diffusion import DDIMSampler, NoiseSchedule, sample
from spatialdiffusion.spalstf import evaluate_spalstf, evaluate_spalstf_arrays, spalstf, spalstf_arrays, spalstf_config
from spatialdiffusion.spalstf._data import (
    AUGMENT_DENSITY_MARGIN,
    as_counts,
    augment_shifts,
    expression_order,
    model_to_unit,
    normalize,
    plan_genes,
    rescale,
    spatial_order,
    to_lognorm,
    zero_fraction,
)
from spatialdiffusion.spalstf._denoiser import SpaLSTFDenoiser
from spatialdiffusion.spalstf._stages import SpaLSTFModel, _lr_decay, diffusion_loss, gaussian_moment_kl
from spatialdiffusion.spalstf._validation import (DISTANCE_CELLS, MAX_BLEND_DISTANCE_RATIO, ReferenceNeighbours, reference_distance_ratio,
                                                 split_reference)



pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(hidden=16, depth=1, num_heads=4, lstm_hidden=8, lstm_layers=1, batch_size=64, epochs=2, augment=True,
            num_timesteps=50, sampler="ddim", sampler_steps=4, n_samples=2, min_shared_genes=3)


def _toy(n_cells: int = 80, n_genes: int = 12, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    return rng.poisson(3.0, (n_cells, n_genes)).astype(np.float32), [f"G{i}" for i in range(n_genes)]


# ---- loss ------------------------------------------------------------------------------------

def test_gaussian_moment_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(200, generator=gen) * 0.5 + 0.3
    b = torch.randn(200, generator=gen)
    expect = torch.distributions.kl_divergence(
        torch.distributions.Normal(a.mean(), a.std() + 1e-6), torch.distributions.Normal(b.mean(), b.std() + 1e-6)
    )
    assert float(gaussian_moment_kl(a, b)) == pytest.approx(float(expect), rel=1e-5)
    assert float(gaussian_moment_kl(b, b)) == pytest.approx(0.0, abs=1e-6)


def test_diffusion_loss_masks_mse_and_kl_to_unobserved_genes():
    gen = torch.Generator().manual_seed(1)
    eps = torch.randn(30, 6, generator=gen)
    eps_hat = eps.clone()
    eps_hat[:, :3] += 5.0  # large error only on observed genes
    unobserved = torch.tensor([False, False, False, True, True, True])
    loss, kl = diffusion_loss(eps_hat, eps, unobserved, kl_weight=2.8, kl_masked=True)
    assert float(loss) == pytest.approx(0.0, abs=1e-6) and float(kl) == pytest.approx(0.0, abs=1e-6)
    loss_unmasked, kl_unmasked = diffusion_loss(eps_hat, eps, unobserved, kl_weight=2.8, kl_masked=False)
    assert float(kl_unmasked) > 0.1 and float(loss_unmasked) == pytest.approx(2.8 * float(kl_unmasked))
    eps_hat[:, 3:] += 1.0
    loss, _ = diffusion_loss(eps_hat, eps, unobserved, kl_weight=0.0, kl_masked=True)
    assert float(loss) == pytest.approx(1.0)


# ---- denoiser --------------------------------------------------------------------------------

@pytest.mark.parametrize("attention,condition,bidir,window", [("xca", "lstm", True, None), ("xca", "lstm", False, 5), ("cell", "linear", True, None)])
def test_denoiser_starts_at_zero_and_learns_shapes(attention, condition, bidir, window):
    torch.manual_seed(0)
    net = SpaLSTFDenoiser(7, hidden=16, depth=2, num_heads=4, attention=attention, condition=condition,
                          lstm_hidden=8, lstm_bidirectional=bidir, lstm_window=window)
    x, c = torch.randn(23, 7), torch.randn(23, 7)
    out = net(x, torch.randint(0, 50, (23,)), c)
    assert out.shape == (23, 7) and torch.count_nonzero(out) == 0  # adaLN-Zero / zero head
    if condition == "lstm":
        assert net.cond.lstm.bidirectional is bidir
        assert net.cond(c).shape == (23, 16)


def test_lstm_window_splits_the_sequence():
    torch.manual_seed(0)
    enc = SpaLSTFDenoiser(5, hidden=8, depth=1, num_heads=2, lstm_hidden=4, lstm_window=4).cond
    c = torch.randn(10, 5)
    full = enc(c)
    # changing a cell in the second window leaves the first window's embeddings untouched
    c2 = c.clone()
    c2[6] += 3.0
    assert torch.allclose(enc(c2)[:4], full[:4]) and not torch.allclose(enc(c2)[4:8], full[4:8])


def test_cross_covariance_attention_follows_its_definition():
    """Per head: softmax(tau * q_hat k_hat^T) over channels, q_hat/k_hat unit along the cells, mixing v, then proj."""
    from spatialdiffusion.spalstf._denoiser import CrossCovarianceAttention

    torch.manual_seed(0)
    xca = CrossCovarianceAttention(12, 3)
    with torch.no_grad():
        xca.temperature.copy_(torch.tensor([0.5, 1.0, 3.0]).view(3, 1, 1))
    x = torch.randn(2, 9, 12)
    q, k, v = xca.qkv(x).split(12, dim=-1)
    heads = []
    for h in range(3):
        channels = slice(4 * h, 4 * h + 4)
        q_hat = torch.nn.functional.normalize(q[..., channels], dim=-2)  # unit along the 9 cells
        k_hat = torch.nn.functional.normalize(k[..., channels], dim=-2)
        attn = torch.softmax(xca.temperature[h] * q_hat.transpose(-2, -1) @ k_hat, dim=-1)  # 4 x 4 per minibatch
        heads.append(v[..., channels] @ attn.transpose(-2, -1))
    expected = xca.proj(torch.cat(heads, dim=-1))
    torch.testing.assert_close(xca(x), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(xca(x[1]), expected[1], rtol=1e-5, atol=1e-6)  # no leading axis


@pytest.mark.parametrize("attention,condition", [("xca", "lstm"), ("cell", "linear")])
def test_draws_stacked_along_a_leading_axis_are_denoised_independently(attention, condition):
    """Several draws of the same cells in one call give each draw's own call: attention never mixes draws."""
    torch.manual_seed(0)
    net = SpaLSTFDenoiser(7, hidden=16, depth=2, num_heads=4, attention=attention, condition=condition, lstm_hidden=8)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)  # a non-trivial network
    draws, t, embedded = torch.randn(3, 11, 7), torch.randint(0, 50, (11,)), net.cond(torch.randn(11, 7))
    stacked = net.denoise_embedded(draws, t, embedded)
    one_by_one = torch.stack([net.denoise_embedded(draw, t, embedded) for draw in draws])
    assert stacked.shape == (3, 11, 7)
    torch.testing.assert_close(stacked, one_by_one, rtol=1e-5, atol=1e-5)
    changed = draws.clone()
    changed[1] += 1.0
    assert torch.equal(net.denoise_embedded(changed, t, embedded)[[0, 2]], stacked[[0, 2]])


def test_sampling_sums_independent_draws_of_each_cell_batch(monkeypatch):
    """``n_samples`` draws per cell batch run together and equal sampling each draw from its own starting noise."""
    from spatialdiffusion.spalstf import _stages

    ref, genes = _toy(70, seed=1)
    st, _ = _toy(50, seed=2)
    config = spalstf_config("fast", **{**TINY, "n_models": 1, "n_samples": 3, "batch_size": 20})[1]
    model = SpaLSTFModel(config, genes[:9], genes[9:], torch.device("cpu")).fit(ref, seed=3, verbose=False)
    starts = []

    def recorded_randn(*args, **kwargs):
        starts.append(randn(*args, **kwargs))
        return starts[-1]

    monkeypatch.setattr(_stages, "randn", recorded_randn)
    counts = np.c_[st[:, :9], np.zeros((50, 3), np.float32)]
    x, scale = normalize(counts, 9)
    cond = torch.from_numpy(model._condition(x))
    net, mask = model.nets[0].eval(), model._mask()
    sampler = DDIMSampler(model.schedule, config.sampler_steps, clip=(-1.0, config.target_ceiling))
    total = model._draws(net, sampler, counts, scale, None, torch.Generator().manual_seed(0), verbose=False)
    assert [tuple(s.shape) for s in starts] == [(20, 3, 12), (20, 3, 12), (10, 3, 12)]  # cell batches x draws x genes
    expected = torch.zeros_like(cond)
    for part, start in zip((slice(0, 20), slice(20, 40), slice(40, 50)), starts):
        with torch.no_grad():
            embedded = net.cond(cond[part])
        for d in range(3):
            expected[part] += sample(lambda x_t, t: net.denoise_embedded(x_t, t, embedded), sampler, start[:, d],
                                     generator=torch.Generator(), known=cond[part], known_mask=mask)
    torch.testing.assert_close(total, expected, rtol=1e-4, atol=1e-4)


# ---- masking through the sampler --------------------------------------------------------------

def test_observed_genes_are_returned_unchanged_by_spalstf_sampling():
    torch.manual_seed(0)
    net = SpaLSTFDenoiser(6, hidden=16, depth=1, num_heads=4, lstm_hidden=8)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)  # a non-trivial network
    sched = NoiseSchedule.cosine(40)
    cond = torch.rand(9, 6) * 2 - 1
    cond[:, 4:] = -1
    mask = torch.tensor([1.0, 1, 1, 1, 0, 0])
    gen = torch.Generator().manual_seed(0)
    out = sample(lambda x, t: net(x, t, cond), DDIMSampler(sched, 8, clip=3.0), torch.randn(9, 6, generator=gen),
                 generator=gen, known=cond, known_mask=mask)
    assert torch.equal(out[:, :4], cond[:, :4])
    assert not torch.equal(out[:, 4:], cond[:, 4:])


# ---- data ------------------------------------------------------------------------------------

def test_normalize_uses_observed_genes_only_and_inverts():
    counts = np.array([[0, 3, 9, 100], [5, 5, 0, 0], [0, 0, 0, 7]], dtype=np.float32)
    x, scale = normalize(counts, 3)
    assert np.allclose(scale[:, 0], [12, 10, 1])  # library of the 3 observed genes (0 -> 1)
    assert np.allclose(x[:, :3].max(axis=1), [1, 1, -1])  # each cell's observed max maps to 1
    # the held-out column does not change the observed values
    other = counts.copy()
    other[:, 3] = 0
    assert np.allclose(normalize(other, 3)[0][:, :3], x[:, :3])
    assert np.allclose(np.expm1(to_lognorm(x[:2], scale[:2])) * scale[:2, :1] / 1e4, counts[:2], rtol=1e-4, atol=1e-3)


def test_rescale_moves_unchanged_counts_to_another_cell_scale():
    counts = np.array([[0, 3, 9, 100], [5, 5, 0, 2], [1, 0, 2, 7]], dtype=np.float32)
    jittered = counts * np.array([2.0, 0.5, 3.0, 1.0], dtype=np.float32)  # observed genes rescaled, the target kept
    x, scale = normalize(counts, 3)
    xj, scale_j = normalize(jittered, 3)
    assert not np.allclose(xj[:, 3], x[:, 3])  # the same counts read differently on the jittered scale
    assert np.allclose(rescale(xj[:, 3:], scale_j, scale), x[:, 3:], atol=1e-5)
    assert np.allclose(rescale(x, scale, scale), x, atol=1e-5)
    below = np.array([[-3.0, -1.5]], dtype=np.float32)  # below zero: the log-expression is kept
    assert np.allclose(rescale(below, np.array([[10.0, 2.0]]), np.array([[40.0, 4.0]])), [[-2.0, -1.25]])


def test_model_to_unit_clips_below_minus_one_and_keeps_dtype():
    x = np.array([[-1.5, -1.0, 0.0, 1.0, 3.0]], dtype=np.float32)
    out = model_to_unit(x)
    assert out.dtype == np.float32
    assert out.tolist() == [[0.0, 0.0, 0.5, 1.0, 2.0]]


def test_orders_are_permutations_with_meaning():
    coords = np.array([[0, 0], [10, 10], [0, 1], [10, 9], [1, 0]], dtype=float)
    order = spatial_order(coords)
    assert sorted(order) == list(range(5))
    pos = np.argsort(order)
    assert abs(pos[1] - pos[3]) == 1  # the two close cells at (10, 10) and (10, 9) are adjacent
    x = np.array([[5.0, 0], [1, 0], [3, 0], [2, 0]])
    assert list(expression_order(x)) in ([1, 3, 2, 0], [0, 2, 3, 1])


def test_gene_matching_is_case_insensitive_and_uses_reference_spelling():
    plan = plan_genes(["gad2", "VIP", "Sst", "x1"], ["Gad2", "Vip", "Sst", "Pvalb", "X1"], ["pvalb", "SST"], min_shared=2)
    assert plan.observed == ["Gad2", "Vip", "X1"]
    assert plan.target == ["Pvalb", "Sst"]
    assert list(plan.st_observed) == [0, 1, 3] and list(plan.ref_target) == [3, 2]


@pytest.mark.parametrize(
    "st,ref,target,message",
    [
        (["A", "B"], ["a", "b", "C"], ["C"], "Only 2 gene"),
        (["A", "B", "C"], ["A", "B", "C"], ["Z"], "absent from the reference"),
        (["A", "a", "B"], ["A", "B", "C"], ["C"], "differ only in case"),
        (["A", "B", "D"], ["A", "B", "C"], [], "empty"),
        (["A", "B", "D"], ["A", "B", "C"], ["C", "c"], "`genes` has 1 name\\(s\\) that differ only in case"),
    ],
)
def test_gene_matching_errors(st, ref, target, message):
    with pytest.raises(ValueError, match=message):
        plan_genes(st, ref, target, min_shared=3 if message.startswith("Only") else 1)


@pytest.mark.parametrize(
    "value,message,error",
    [
        (np.array([[1.0, -2.0]]), "negative", ValueError),
        (np.array([[1.5, 2.0]]), "non-integer", ValueError),
        (np.array([[np.nan, 2.0]]), "NaN", ValueError),
        (np.array([1.0, 2.0]), "2-D", TypeError),
    ],
)
def test_counts_are_not_counts_errors_name_the_argument(value, message, error):
    with pytest.raises(error, match=message) as err:
        as_counts(value, "ref_counts")
    assert "`ref_counts`" in str(err.value)


def test_sparse_counts_are_accepted():
    dense = np.array([[0, 2], [3, 0]], dtype=np.float32)
    assert np.array_equal(as_counts(sp.csr_matrix(dense), "st_counts"), dense)


def test_array_api_input_errors():
    st, genes = _toy()
    ref, _ = _toy(seed=1)
    with pytest.raises(ValueError, match="`st_genes` has 3 names"):
        spalstf_arrays(st, genes[:3], ref, genes, genes=["G0"], verbose=False, **TINY)
    with pytest.raises(ValueError, match="`st_coords`"):
        spalstf_arrays(st, genes, ref, genes, st_coords=np.zeros((3, 2)), genes=["G0"], verbose=False, **TINY)
    with pytest.raises(ValueError, match="nothing to impute"):
        spalstf_arrays(st, genes, ref, genes, verbose=False, **TINY)
    with pytest.raises(TypeError, match="Unknown SpaLSTF setting"):
        spalstf_arrays(st, genes, ref, genes, genes=["G0"], verbose=False, epoch=3)
    with pytest.raises(ValueError, match="`st_counts` contains non-integer values"):
        spalstf_arrays(st * 0.5, genes, ref, genes, genes=["G0"], verbose=False, **TINY)
    with pytest.raises(TypeError, match=r"single string 'G0'; write \['G0'\]"):
        spalstf_arrays(st, genes, ref, genes, genes="G0", verbose=False, **TINY)
    with pytest.raises(TypeError, match="`ref_genes` must be a list of gene names, got int"):
        spalstf_arrays(st, genes, ref, 5, genes=["G0"], verbose=False, **TINY)


def test_presets():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert spalstf_config("auto", cpu) == spalstf_config("fast")
    assert spalstf_config("auto", cuda) == spalstf_config("paper")
    paper = spalstf_config("paper")[1].resolved(33)
    assert (paper.hidden, paper.batch_size, paper.kl_weight, paper.epochs, paper.num_timesteps) == (512, 2048, 2.8, 1200, 1500)
    assert paper.lstm_bidirectional and paper.kl_masked and paper.sampler == "ddpm"
    big = spalstf_config("paper")[1].resolved(915)
    assert (big.hidden, big.batch_size, big.kl_weight) == (1024, 512, 0.02)
    assert spalstf_config("fast", variant="stdiff")[1].resolved(33).kl_weight == 0.0
    fast = spalstf_config("fast")[1]
    assert fast.variant == "spalstf" and fast.lstm_bidirectional and fast.sampler == "ddim" and fast.n_samples > 1 and fast.n_models > 1
    assert paper.n_samples == 1 and paper.n_models == 1  # the method: one network, one sample per cell
    assert paper.lr_decay == "none" and fast.lr_decay == "cosine"  # the released code keeps the learning rate constant
    assert paper.capture_jitter == 0 and fast.capture_jitter == 0.5  # the method trains on the reference as measured
    assert paper.x0_clamp == fast.x0_clamp == "data"  # samples clamped to the targets' range, as the released code
    with pytest.raises(ValueError, match="n_models"):
        spalstf_config("fast", n_models=0)[1]
    with pytest.raises(ValueError, match="preset"):
        spalstf_config("slow")[1]
    with pytest.raises(ValueError, match="cell_order"):
        spalstf_config("fast", cell_order="random")[1]
    with pytest.raises(ValueError, match="scale_genes"):
        spalstf_config("fast", scale_genes="held_out")[1]
    with pytest.raises(ValueError, match="lr_decay"):
        spalstf_config("fast", lr_decay="linear")[1]


def test_cosine_lr_decay_reaches_zero_at_the_last_step():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    assert _lr_decay(opt, "none", 10) is None
    decay = _lr_decay(opt, "cosine", 10)
    rates = []
    for _ in range(10):
        opt.step()
        decay.step()
        rates.append(opt.param_groups[0]["lr"])
    assert rates[4] == pytest.approx(0.05) and rates[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:]))


# ---- training, determinism, checkpoints --------------------------------------------------------

def test_seeded_runs_are_identical_and_seeds_differ(tmp_path):
    st, genes = _toy(60)
    ref, _ = _toy(90, seed=1)
    coords = np.random.default_rng(2).uniform(0, 100, (60, 2))
    kw = dict(st_coords=coords, genes=["G0", "G1"], device="cpu", verbose=False, **TINY)
    a = spalstf_arrays(st, genes, ref, genes, seed=3, **kw)
    b = spalstf_arrays(st, genes, ref, genes, seed=3, **kw)
    c = spalstf_arrays(st, genes, ref, genes, seed=4, **kw)
    assert a["imputed"].shape == (60, 2) and a["imputed"].dtype == np.float32 and a["genes"] == ["G0", "G1"]
    assert np.array_equal(a["imputed"], b["imputed"])
    assert not np.array_equal(a["imputed"], c["imputed"])
    assert a["params"]["seed"] == 3 and "torch" in a["versions"] and a["timings"]["total"] > 0


def test_the_largest_seed_seeds_every_ensemble_member():
    # members are seeded seed + 1000 * m, beyond the 2**31 that bounds the seed a user gives
    st, genes = _toy()
    ref, _ = _toy(seed=1)
    out = spalstf_arrays(st, genes, ref, genes, genes=["G0"], verbose=False, seed=2**31 - 1, **{**TINY, "n_models": 2})
    assert np.isfinite(out["imputed"]).all()


def test_ensemble_averages_independently_seeded_members():
    st, genes = _toy(40)
    ref, _ = _toy(70, seed=1)
    cfg = spalstf_config("fast", **{**TINY, "n_models": 1})[1]
    observed, target = genes[:9], genes[9:]
    ensemble = SpaLSTFModel(spalstf_config("fast", **{**TINY, "n_models": 2})[1], observed, target, torch.device("cpu")).fit(ref, seed=3, verbose=False)
    x, _ = ensemble.sample_model_space(st[:, :9], seed=3, verbose=False)
    members = []
    for member_seed in (3, 1003):  # member m is seeded seed + 1000 * m
        model = SpaLSTFModel(cfg, observed, target, torch.device("cpu")).fit(ref, seed=member_seed, verbose=False)
        members.append(model.sample_model_space(st[:, :9], seed=member_seed, verbose=False)[0])
    assert not np.allclose(members[0], members[1])
    np.testing.assert_allclose(x, (members[0] + members[1]) / 2, atol=1e-5)
    assert [h["model"] for h in ensemble.history] == [0] * TINY["epochs"] + [1] * TINY["epochs"]
    last = [h["loss"] for h in ensemble.history if h["model"] == 0][-1], ensemble.history[-1]["loss"]
    assert ensemble.final_loss == pytest.approx(np.mean(last))


def test_released_scaling_uses_target_counts_for_the_scale_only():
    st, genes = _toy(40)
    ref, _ = _toy(70, seed=1)
    observed, target = genes[:9], genes[9:]
    cfg = spalstf_config("fast", **{**TINY, "n_models": 1, "scale_genes": "all"})[1]
    model = SpaLSTFModel(cfg, observed, target, torch.device("cpu")).fit(ref, seed=0, verbose=False)
    with pytest.raises(ValueError, match="needs the measured `target_counts`"):
        model.sample_model_space(st[:, :9], verbose=False)
    x, scale = model.sample_model_space(st[:, :9], verbose=False, target_counts=st[:, 9:])
    assert x.shape == (40, 3) and np.allclose(scale[:, 0], st.sum(axis=1))  # library over all 12 genes
    heavier = st[:, 9:] * 20  # the same cells with larger held-out counts: observed genes scale down
    assert not np.allclose(model.sample_model_space(st[:, :9], verbose=False, target_counts=heavier)[0], x)
    leak_free = SpaLSTFModel(spalstf_config("fast", **{**TINY, "n_models": 1})[1], observed, target, torch.device("cpu")).fit(ref, verbose=False)
    with pytest.raises(ValueError, match="only used by models trained with `scale_genes='all'`"):
        leak_free.sample_model_space(st[:, :9], verbose=False, target_counts=st[:, 9:])
    with pytest.raises(ValueError, match="`scale_genes` must be 'observed' when imputing"):
        spalstf_arrays(st, genes, ref, genes, genes=["G0"], verbose=False, **{**TINY, "scale_genes": "all"})


def test_capture_jitter_rescales_observed_genes_per_minibatch():
    ref, genes = _toy(70, seed=1)
    observed, target = genes[:9], genes[9:]
    cfg = spalstf_config("fast", **{**TINY, "n_models": 1, "capture_jitter": 0.5})[1]
    model = SpaLSTFModel(cfg, observed, target, torch.device("cpu"))
    xb, cb = model._jittered_batch(ref[:20], np.random.default_rng(0))
    plain = model._training_space(ref[:20])
    assert not np.allclose(xb.numpy()[:, :9], plain[:, :9])  # the observed genes moved
    assert torch.equal(cb[:, :9], xb[:, :9]) and bool((cb[:, 9:] == -1).all())  # condition = jittered observed genes
    assert xb.numpy()[:, :9].max() <= 1.0 and np.isclose(xb.numpy()[:, :9].max(axis=1), 1.0).all()  # still scaled per cell
    fitted = [SpaLSTFModel(cfg, observed, target, torch.device("cpu")).fit(ref, seed=3, verbose=False).history for _ in range(2)]
    assert fitted[0] == fitted[1]  # seeded
    unjittered = SpaLSTFModel(spalstf_config("fast", **{**TINY, "n_models": 1, "capture_jitter": 0.0})[1], observed, target, torch.device("cpu")).fit(ref, seed=3, verbose=False)
    assert unjittered.history != fitted[0]
    with pytest.raises(ValueError, match="`capture_jitter` must be non-negative"):
        spalstf_config("fast", capture_jitter=-0.1)[1]


def test_sample_jitter_conditions_each_draw_on_rescaled_counts():
    ref, genes = _toy(70, seed=1)
    st, _ = _toy(40, seed=2)
    observed, target = genes[:9], genes[9:]
    model = SpaLSTFModel(spalstf_config("fast", **{**TINY, "n_models": 2})[1], observed, target, torch.device("cpu")).fit(ref, seed=3, verbose=False)
    plain, scale = model.sample_model_space(st[:, :9], seed=5, verbose=False)

    def sampled_with(sd: float) -> np.ndarray:
        x, jittered_scale = model.with_sampling(sample_jitter=sd).sample_model_space(st[:, :9], seed=5, verbose=False)
        assert np.array_equal(jittered_scale, scale)  # reported on the cells' own scale
        return x

    # the factors come from their own generator, so the noise is unchanged; factors of ~1 give the plain draws back
    assert np.allclose(sampled_with(1e-7), plain, atol=1e-4)
    jittered = sampled_with(0.5)
    assert np.array_equal(jittered, sampled_with(0.5))  # seeded
    assert not np.allclose(jittered, plain, atol=1e-3)
    with pytest.raises(ValueError, match="`sample_jitter` must be non-negative"):
        spalstf_config("fast", sample_jitter=-1.0)[1]


def test_x0_clamp_data_keeps_samples_in_the_training_range():
    ref, genes = _toy(70, seed=1)
    st, _ = _toy(40, seed=2)
    model = SpaLSTFModel(spalstf_config("fast", **{**TINY, "n_models": 1, "n_samples": 1})[1], genes[:9], genes[9:], torch.device("cpu")).fit(ref, seed=3, verbose=False)
    clamped, _ = model.sample_model_space(st[:, :9], seed=5, verbose=False)
    symmetric, _ = model.with_sampling(x0_clamp="symmetric").sample_model_space(st[:, :9], seed=5, verbose=False)
    assert model.config.x0_clamp == "data"  # the trained model itself is untouched
    with pytest.raises(ValueError, match="need retraining"):
        model.with_sampling(epochs=5)
    assert symmetric.min() < -1.0  # the barely trained network overshoots zero expression
    assert clamped.min() >= -1.0 and clamped.max() <= model.config.target_ceiling
    with pytest.raises(ValueError, match="`x0_clamp` must be one of"):
        spalstf_config("fast", x0_clamp="none")[1]


def test_target_ceiling_caps_training_targets_and_samples():
    st, genes = _toy(40)
    ref, _ = _toy(70, seed=1)
    ref[:5, 9:] *= 400  # cells whose target genes dwarf their observed ones
    observed, target = genes[:9], genes[9:]
    model = SpaLSTFModel(spalstf_config("fast", **{**TINY, "n_models": 1, "target_ceiling": 1.5})[1], observed, target, torch.device("cpu"))
    x0 = model._training_space(ref)
    assert x0[:5, 9:].max() == pytest.approx(1.5) and x0[:, :9].max() <= 1.0
    model.fit(ref, seed=0, verbose=False)
    x, _ = model.sample_model_space(st[:, :9] * 0 + (np.arange(40)[:, None] % 2), seed=0, verbose=False)
    assert x.max() == pytest.approx(1.5)  # reached (the cap is active) and not exceeded
    with pytest.raises(ValueError, match="`target_ceiling` must exceed 1"):
        spalstf_config("fast", target_ceiling=1.0)[1]


@pytest.mark.parametrize("scale_genes", ["observed", "all"])
def test_evaluation_runs_with_either_scaling(scale_genes):
    st, genes = _toy(50)
    ref, _ = _toy(80, seed=1)
    res = evaluate_spalstf_arrays(st, genes, ref, genes, n_folds=3, device="cpu", verbose=False, **{**TINY, "n_models": 1, "scale_genes": scale_genes})
    assert res["params"]["preset_config"]["scale_genes"] == scale_genes
    assert res["imputed"].shape == (50, 12) and np.isfinite(res["imputed"]).all()
    assert set(res["summary"]) >= {"spcc", "ari"}


@pytest.mark.parametrize("n_models", [1, 2])
def test_checkpoint_roundtrip_skips_training(tmp_path, n_models):
    st, genes = _toy(50)
    ref, _ = _toy(70, seed=1)
    ckpt = tmp_path / "m.pt"
    kw = dict(genes=["G2", "G5"], device="cpu", verbose=False, seed=0, **{**TINY, "n_models": n_models})
    first = spalstf_arrays(st, genes, ref, genes, checkpoint=str(ckpt), **kw)
    assert ckpt.exists() and not first["params"]["loaded_checkpoint"]
    again = spalstf_arrays(st, genes, ref, genes, checkpoint=str(ckpt), **kw)
    assert again["params"]["loaded_checkpoint"] and "train" not in again["timings"]
    assert np.array_equal(first["imputed"], again["imputed"])
    with pytest.raises(ValueError, match="other genes"):
        spalstf_arrays(st, genes, ref, genes, checkpoint=str(ckpt), **{**kw, "genes": ["G3"]})
    loaded = SpaLSTFModel.load(ckpt, torch.device("cpu"))
    assert loaded.target == ["G2", "G5"] and loaded.config.hidden == 16 and len(loaded.nets) == n_models


def test_checkpoint_samples_with_this_runs_sampling_settings_and_warns_on_training_ones(tmp_path):
    st, genes = _toy(50)
    ref, _ = _toy(70, seed=1)
    ckpt = str(tmp_path / "m.pt")
    kw = dict(genes=["G2", "G5"], device="cpu", verbose=False, seed=0, checkpoint=ckpt, **{**TINY, "n_models": 1})
    first = spalstf_arrays(st, genes, ref, genes, **kw)
    more_draws = spalstf_arrays(st, genes, ref, genes, **{**kw, "n_samples": 3, "sample_jitter": 0.2})
    assert more_draws["params"]["loaded_checkpoint"]
    assert more_draws["params"]["preset_config"]["n_samples"] == 3 and more_draws["params"]["preset_config"]["sample_jitter"] == 0.2
    assert not np.allclose(more_draws["imputed"], first["imputed"])
    with pytest.warns(UserWarning, match=r"trained with other settings: epochs=2 \(asked 5\)"):
        longer = spalstf_arrays(st, genes, ref, genes, **{**kw, "epochs": 5})
    assert longer["params"]["preset_config"]["epochs"] == 2  # the record says what the model really is
    assert np.array_equal(longer["imputed"], first["imputed"])


def test_single_network_checkpoints_of_the_first_format_still_load(tmp_path):
    st, genes = _toy(30)
    ref, _ = _toy(60, seed=1)
    model = SpaLSTFModel(spalstf_config("fast", **{**TINY, "n_models": 1})[1], genes[:10], genes[10:], torch.device("cpu")).fit(ref, verbose=False)
    state = model.state()
    state["format"], state["state_dict"] = "spatialdiffusion.spalstf/1", state.pop("state_dicts")[0]
    torch.save(state, tmp_path / "old.pt")
    old = SpaLSTFModel.load(tmp_path / "old.pt", torch.device("cpu"))
    np.testing.assert_array_equal(old.sample_model_space(st[:, :10], verbose=False)[0], model.sample_model_space(st[:, :10], verbose=False)[0])
    state["config"]["n_models"] = 2  # one network saved, two announced
    torch.save(state, tmp_path / "damaged.pt")
    with pytest.raises(ValueError, match="holds 1 networks but its config says n_models=2"):
        SpaLSTFModel.load(tmp_path / "damaged.pt", torch.device("cpu"))


def test_anndata_wrapper_writes_h5ad_safe_results(tmp_path):
    import anndata as ad
    import pandas as pd

    st, genes = _toy(40)
    ref, _ = _toy(400, seed=1)
    adata_st = ad.AnnData(sp.csr_matrix(st), var=pd.DataFrame(index=[g.lower() for g in genes]))
    adata_st.obs["x_coord"] = np.arange(40.0)
    adata_st.obs["y_coord"] = np.arange(40.0)[::-1]
    adata_ref = ad.AnnData(ref, var=pd.DataFrame(index=genes))
    assert spalstf(adata_st, adata_ref, ["G1", "g7"], device="cpu", verbose=False, **TINY) is None
    frame = adata_st.obsm["spalstf"]
    assert list(frame.columns) == ["G1", "G7"] and frame.shape == (40, 2)
    assert adata_st.uns["spalstf"]["params"]["checkpoint"] == "None"  # h5ad cannot store None
    adata_st.write_h5ad(tmp_path / "out.h5ad")
    back = ad.read_h5ad(tmp_path / "out.h5ad")
    assert np.allclose(back.obsm["spalstf"].to_numpy(), frame.to_numpy())
    validation = back.uns["spalstf"]["validation"]
    assert list(validation.index) == ["G1", "G7"] and list(validation.columns) == [
        "validation_spcc", "neighbour_validation_spcc", "model_weight"]


def test_settings_and_paths_are_refused_before_training(tmp_path):
    st, genes = _toy()
    ref, _ = _toy(seed=1)
    kw = dict(genes=["G0"], verbose=False, **TINY)
    for bad, error, message in [
        ({"lr": "0.1"}, TypeError, "`lr` must be a number"),
        ({"ddim_eta": "x"}, TypeError, "`ddim_eta` must be a number"),
        ({"ddim_eta": 1.5}, ValueError, r"`ddim_eta` must lie in \[0, 1\]"),
        ({"mlp_ratio": 0.0}, ValueError, "`mlp_ratio` must be positive"),
        ({"n_top_genes": 0}, ValueError, "`n_top_genes` must be at least 1"),
        ({"num_timesteps": 1}, ValueError, "`num_timesteps` must be at least 2"),
        ({"seed": 2**31}, ValueError, "below 2\\*\\*31"),
        ({"verbose": "no"}, TypeError, "`verbose` must be True or False"),
    ]:
        with pytest.raises(error, match=message):
            spalstf_arrays(st, genes, ref, genes, **{**kw, **bad})
    with pytest.raises(ValueError, match="is a folder"):
        spalstf_arrays(st, genes, ref, genes, checkpoint=str(tmp_path), **kw)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="cannot be written"):
        spalstf_arrays(st, genes, ref, genes, checkpoint=str(a_file / "model.pt"), **kw)
    with pytest.raises(ValueError, match="is not a SpaLSTF checkpoint"):
        spalstf_arrays(st, genes, ref, genes, checkpoint=str(a_file), **kw)
    # folds: at most one per shared gene, and each must leave `min_shared_genes` to condition on
    with pytest.raises(ValueError, match="`n_folds` must be at least 2 and at most 12"):
        evaluate_spalstf_arrays(st, genes, ref, genes, n_folds=13, verbose=False, **TINY)
    with pytest.raises(ValueError, match="leaving 6 to condition on; at least `min_shared_genes`=8"):
        evaluate_spalstf_arrays(st, genes, ref, genes, n_folds=2, verbose=False, **{**TINY, "min_shared_genes": 8})


def test_anndata_wrappers_check_their_arguments():
    import anndata as ad

    st, genes = _toy(40)
    ref, _ = _toy(60, seed=1)
    adata_st, adata_ref = ad.AnnData(st), ad.AnnData(ref)
    adata_st.var_names, adata_ref.var_names = genes, genes
    with pytest.raises(TypeError, match="`adata_st` must be an AnnData, got ndarray"):
        spalstf(st, adata_ref, ["G1"], verbose=False, **TINY)
    with pytest.raises(KeyError, match=r"adata_ref.layers\['counts'\] not found"):
        spalstf(adata_st, adata_ref, ["G1"], ref_layer="counts", verbose=False, **TINY)
    with pytest.raises(TypeError, match="`key_added` must be a non-empty string"):
        spalstf(adata_st, adata_ref, ["G1"], key_added=5, verbose=False, **TINY)
    adata_st.obsm["spatial"] = np.c_[np.arange(40.0), np.arange(40.0)]
    with pytest.raises(ValueError, match="`key_added` must differ from `spatial_key` \\('spatial'\\)"):
        spalstf(adata_st, adata_ref, ["G1"], key_added="spatial", verbose=False, **TINY)
    adata_st.obsm["X_pca"] = np.zeros((40, 2))
    with pytest.raises(ValueError, match="would overwrite obsm\\['X_pca'\\], which uns\\['X_pca'\\] does not record as SpaLSTF results"):
        spalstf(adata_st, adata_ref, ["G1"], key_added="X_pca", verbose=False, **TINY)
    with pytest.raises(TypeError, match="`copy` must be True or False"):
        spalstf(adata_st, adata_ref, ["G1"], copy="yes", verbose=False, **TINY)
    # a float seed that is a whole number is that seed
    out = [spalstf(adata_st, adata_ref, ["G1"], copy=True, seed=seed, verbose=False, **TINY) for seed in (1.0, 1)]
    np.testing.assert_array_equal(out[0].obsm["spalstf"].to_numpy(), out[1].obsm["spalstf"].to_numpy())
    assert out[0].uns["spalstf"]["params"]["method"] == "SpaLSTF"
    spalstf(out[0], adata_ref, ["G1"], seed=2, verbose=False, **TINY)  # rerunning replaces its own results
    assert not np.array_equal(out[0].obsm["spalstf"].to_numpy(), out[1].obsm["spalstf"].to_numpy())
    adata_st.X = adata_st.X * 0.5
    with pytest.raises(ValueError, match="`adata_st.X` contains non-integer values"):
        spalstf(adata_st, adata_ref, ["G1"], verbose=False, **TINY)
    assert "spalstf" not in adata_st.obsm  # nothing written by a failed run


def test_runs_leave_the_callers_random_streams_alone():
    st, genes = _toy()
    ref, _ = _toy(seed=1)
    np.random.seed(11)
    torch.manual_seed(11)
    expected = (np.random.rand(), float(torch.rand(1)))
    np.random.seed(11)
    torch.manual_seed(11)
    spalstf_arrays(st, genes, ref, genes, genes=["G0"], verbose=False, seed=3, **TINY)
    assert (np.random.rand(), float(torch.rand(1))) == expected


def test_anndata_inputs_are_checked_once(monkeypatch):
    import anndata as ad

    from spatialdiffusion.spalstf import _model as module

    checked = []
    monkeypatch.setattr(module, "as_counts", lambda counts, name: checked.append(name) or as_counts(counts, name))
    st, genes = _toy(40)
    ref, _ = _toy(60, seed=1)
    adata_st, adata_ref = ad.AnnData(st), ad.AnnData(ref)
    adata_st.var_names, adata_ref.var_names = genes, genes
    spalstf(adata_st, adata_ref, ["G1"], verbose=False, **TINY)
    evaluate_spalstf(adata_st, adata_ref, n_folds=2, verbose=False, **TINY)
    assert checked == ["adata_st.X", "adata_ref.X"] * 2  # each counts matrix converted once per run


# ---- internal validation and the reference blend ---------------------------------------------

def test_split_reference_holds_out_a_capped_seeded_share():
    from spatialdiffusion.spalstf._validation import MAX_VALIDATION_CELLS, split_reference

    held = split_reference(1000, 0.1, seed=0)
    assert len(held) == 100 and np.all(np.diff(held) > 0) and np.array_equal(held, split_reference(1000, 0.1, seed=0))
    assert not np.array_equal(held, split_reference(1000, 0.1, seed=1))
    assert len(split_reference(100_000, 0.5, seed=0)) == MAX_VALIDATION_CELLS
    assert split_reference(1000, 0.0, seed=0) is None and split_reference(200, 0.1, seed=0) is None  # 20 < 30 held out


def test_blend_weights_prefer_the_better_estimate_per_gene():
    from spatialdiffusion.spalstf._validation import blend_weights

    rng = np.random.default_rng(0)
    truth = rng.normal(size=(300, 2))
    noise = rng.normal(size=(300, 2)) * 3
    model = np.column_stack([truth[:, 0], noise[:, 1]])  # right on gene 0, noise on gene 1
    neighbours = np.column_stack([noise[:, 0], truth[:, 1]])
    assert list(blend_weights(truth, model, neighbours)) == [1.0, 0.0]
    assert list(blend_weights(truth, model, model)) == [1.0, 1.0]  # ties keep the model


def test_imputed_genes_carry_held_out_validation_scores(tmp_path):
    st, genes = _toy(60)
    ref, _ = _toy(400, seed=1)
    kw = dict(genes=["G0", "G1"], device="cpu", verbose=False, seed=0, **TINY)
    out = spalstf_arrays(st, genes, ref, genes, reference_blend="none", **kw)
    table = out["validation"]
    assert table["gene"] == ["G0", "G1"] and table["model_weight"] == [1.0, 1.0]
    assert all(-1 <= v <= 1 for v in table["validation_spcc"] + table["neighbour_validation_spcc"])
    assert out["params"]["validation_cells"] == 40 and out["params"]["reference_blend"] == "none"
    assert not out["params"]["blended"] and out["params"]["reference_distance_ratio"] is None
    assert out["timings"]["validation"] > 0
    blended = spalstf_arrays(st, genes, ref, genes, reference_blend="validated", **kw)
    weights = np.array(blended["validation"]["model_weight"])
    assert np.all((weights >= 0) & (weights <= 1)) and blended["params"]["blended"]
    assert np.array_equal(blended["validation"]["validation_spcc"], table["validation_spcc"])  # same model, same held-out cells
    none = spalstf_arrays(st, genes, ref, genes, validation_fraction=0, **kw)
    assert none["validation"] is None and none["params"]["validation_cells"] == 0 and not none["params"]["blended"]
    ckpt = str(tmp_path / "m.pt")
    first = spalstf_arrays(st, genes, ref, genes, checkpoint=ckpt, reference_blend="none", **kw)
    again = spalstf_arrays(st, genes, ref, genes, checkpoint=ckpt, reference_blend="none", **kw)
    assert again["params"]["loaded_checkpoint"] and again["validation"] == first["validation"] == table
    with pytest.warns(UserWarning, match="held out reference cells this reference does not have"):
        fewer = spalstf_arrays(st, genes, ref[:100], genes, checkpoint=ckpt, **kw)
    assert fewer["validation"] is None


def _other_profile(n_cells: int) -> np.ndarray:
    """Counts unlike :func:`_toy`'s: half the genes nearly absent, the other half high."""
    means = np.r_[3.0, 3.0, [0.1] * 5, [20.0] * 5]
    return np.random.default_rng(2).poisson(means, (n_cells, 12)).astype(np.float32)


def test_auto_blend_follows_the_spatial_cells_distance_to_the_reference(capsys):
    """Spatial cells drawn like the reference are blended as "validated" would; cells far from every reference
    cell keep the model's output, exactly as with "none"."""
    st, genes = _toy(60)
    ref, _ = _toy(400, seed=1)
    far = _other_profile(60)
    kw = dict(genes=["G0", "G1"], device="cpu", seed=0, **TINY)
    auto = spalstf_arrays(st, genes, ref, genes, verbose=True, **kw)
    assert auto["params"]["reference_blend"] == "auto" and auto["params"]["blended"]
    assert auto["params"]["reference_distance_ratio"] < MAX_BLEND_DISTANCE_RATIO
    assert "blended with the mean of its 50 nearest reference cells" in capsys.readouterr().err
    validated = spalstf_arrays(st, genes, ref, genes, verbose=False, reference_blend="validated", **kw)
    assert np.array_equal(auto["imputed"], validated["imputed"])
    kept = spalstf_arrays(far, genes, ref, genes, verbose=False, **kw)
    assert not kept["params"]["blended"] and kept["params"]["reference_distance_ratio"] > MAX_BLEND_DISTANCE_RATIO
    assert kept["validation"]["model_weight"] == [1.0, 1.0]
    model_only = spalstf_arrays(far, genes, ref, genes, verbose=False, reference_blend="none", **kw)
    assert np.array_equal(kept["imputed"], model_only["imputed"])


def test_reference_distance_ratio_is_one_for_reference_like_cells():
    ref, _ = _toy(600, seed=1)
    held = split_reference(len(ref), 0.2, 0)
    neighbours = ReferenceNeighbours(np.delete(ref, held, axis=0), 12, 20)

    def ratio(spatial: np.ndarray) -> float:
        return reference_distance_ratio(neighbours, spatial, ref[held], 0)

    assert ratio(_toy(300, seed=5)[0]) == pytest.approx(1.0, abs=0.15)
    assert ratio(_other_profile(300)) > 2 * MAX_BLEND_DISTANCE_RATIO
    assert ratio(_toy(DISTANCE_CELLS + 500, seed=6)[0]) == pytest.approx(1.0, abs=0.15)  # a sample of the spatial cells is measured


def test_reference_neighbours_average_matches_the_knn_baseline():
    """The blend's neighbour average is the k-fold protocol's kNN baseline, mapped back by each cell's maximum."""
    from spatialdiffusion.spalstf._data import normalize
    from spatialdiffusion.spalstf._evaluate import knn_imputer

    ref, genes = _toy(300, seed=1)
    st = _toy(80, seed=2)[0][:, :8]
    average = ReferenceNeighbours(ref, 8, 15).average(st)
    unit = knn_imputer(15)(st, ref, genes[:8], genes[8:], 0)
    assert average.shape == (80, 4) and np.all(average >= 0)
    np.testing.assert_allclose(average, unit * normalize(st, 8)[1][:, 1:2], rtol=1e-6)
    brute = np.argsort(((normalize(st, 8)[0][:, None] - normalize(ref, 8)[0][None, :, :8]) ** 2).sum(-1), axis=1)[:, :15]
    np.testing.assert_allclose(ReferenceNeighbours(ref, 8, 15).average_model_space(st),
                               normalize(ref, 8)[0][:, 8:][brute].mean(axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"validation_fraction": 0.6}, ValueError, r"`validation_fraction` must lie in \[0, 0.5\]"),
    ({"validation_fraction": "0.1"}, TypeError, "`validation_fraction` must be a number"),
    ({"reference_blend": "knn"}, ValueError, "`reference_blend` must be one of"),
    ({"reference_blend": "validated", "validation_fraction": 0}, ValueError, "set `validation_fraction` above 0"),
])
def test_validation_arguments_are_checked_before_training(kwargs, error, message):
    st, genes = _toy()
    with pytest.raises(error, match=message):
        spalstf_arrays(st, genes, st, genes, genes=["G0"], device="cpu", verbose=False, **TINY, **kwargs)


def test_zero_fraction_of_dense_and_sparse_counts():
    counts = np.array([[0, 1, 0, 2], [0, 0, 0, 3]], dtype=np.float32)
    assert zero_fraction(counts) == pytest.approx(5 / 8)
    assert zero_fraction(sp.csr_matrix(counts)) == pytest.approx(5 / 8)
    assert np.isnan(zero_fraction(np.zeros((0, 4))))


def test_augment_shifts_follow_the_setting_and_the_data():
    rng = np.random.default_rng(0)
    ref = rng.poisson(0.3, (200, 50)).astype(np.float32)  # about 74% zeros
    denser = rng.poisson(3.0, (100, 50)).astype(np.float32)  # about 5% zeros
    assert zero_fraction(denser) <= zero_fraction(ref) - AUGMENT_DENSITY_MARGIN
    assert augment_shifts(True, 60, ref, None) == (0.0, 5.0, 10.0)
    assert augment_shifts(True, 20, ref, None) == (0.0, 10.0)
    assert augment_shifts(False, 60, ref, denser) == (0.0,)
    assert augment_shifts(None, 60, ref, denser) == (0.0, 5.0, 10.0)
    assert augment_shifts(None, 60, ref, sp.csr_matrix(denser)) == (0.0, 5.0, 10.0)
    # same platform (as dense as the reference) and sparser data: as many copies, unshifted
    assert augment_shifts(None, 60, ref, ref[:100]) == (0.0, 0.0, 0.0)
    assert augment_shifts(None, 20, denser, ref) == (0.0, 0.0)
    with pytest.raises(ValueError, match="needs the spatial cells' observed-gene counts"):
        augment_shifts(None, 60, ref, None)


def test_augment_decided_from_the_data_is_recorded_and_kept_by_checkpoints(tmp_path):
    counts, genes = _toy(n_cells=90, n_genes=12)
    st, ref = counts[:40, :9], counts
    settings = {**TINY, "augment": None, "n_models": 1}
    ckpt = str(tmp_path / "model.pt")
    first = spalstf_arrays(st, genes[:9], ref, genes, genes=genes[9:], preset="fast", seed=0, verbose=False,
                           validation_fraction=0, checkpoint=ckpt, **settings)
    # the toy spatial cells are the reference's own: no denser, so the copies are unshifted
    assert first["params"]["augment_shifts"] == [0.0, 0.0]
    assert first["params"]["preset_config"]["augment"] is None
    again = spalstf_arrays(st, genes[:9], ref, genes, genes=genes[9:], preset="fast", seed=0, verbose=False,
                           validation_fraction=0, checkpoint=ckpt, **settings)
    assert again["params"]["loaded_checkpoint"] and again["params"]["augment_shifts"] == [0.0, 0.0]
    np.testing.assert_array_equal(first["imputed"], again["imputed"])


def test_fit_without_spatial_counts_needs_a_fixed_augment_setting():
    counts, genes = _toy(n_cells=60, n_genes=12)
    cfg = spalstf_config("fast", **{**TINY, "augment": None, "n_models": 1})[1]
    with pytest.raises(ValueError, match="set `augment` to True or False"):
        SpaLSTFModel(cfg, genes[:9], genes[9:], torch.device("cpu")).fit(counts, verbose=False)
    assert spalstf_config("fast")[1].augment is None and spalstf_config("paper")[1].augment is True
