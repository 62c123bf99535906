"""Tests of the ``spatialdiffusion`` command line: parsing, help, input errors and tiny end-to-end runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from spatialdiffusion.cli import build_parser, main
from spatialdiffusion.io import load_example

# Settings small enough for a CPU test run; they exercise every stage of each method.
TINY_DIFFUSIONST = [
    "--set", "n_top_genes=256", "--set", "gcn_epochs=3", "--set", "train_epochs=1", "--set", "unet_channels=4",
    "--set", "cluster_method=gmm", "--set", "refine_neighbors=6", "--quiet",
]  # fmt: skip
TINY_SPALSTF = [
    "--set", "epochs=1", "--set", "hidden=16", "--set", "num_heads=2", "--set", "depth=1", "--set", "lstm_hidden=4",
    "--set", "lstm_layers=1", "--set", "lstm_window=8", "--set", "batch_size=64", "--set", "num_timesteps=5",
    "--set", "sampler_steps=2", "--set", "augment=False", "--quiet",
]  # fmt: skip
COMMANDS = ("diffusionst", "demo", "spalstf", "evaluate")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real inputs cut from the shipped examples."""
    folder = tmp_path_factory.mktemp("cli_inputs")
    dlpfc = load_example("dlpfc_151673")
    corner = (dlpfc.obs["array_row"] < 14).to_numpy() & (dlpfc.obs["array_col"] < 70).to_numpy()
    dlpfc[corner].copy().write_h5ad(folder / "dlpfc_corner.h5ad")
    st = load_example("osmfish_st")[:200].copy()
    ref = load_example("osmfish_ref")[:300].copy()
    st.write_h5ad(folder / "st_all_genes.h5ad")
    st[:, 4:].copy().write_h5ad(folder / "st_missing4.h5ad")  # Gad2, Slc32a1, Crhbp, Cnr1 left to impute
    ref.write_h5ad(folder / "ref.h5ad")
    return {p.stem: p for p in folder.iterdir()}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def parse_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run an invalid command line; argparse must exit with status 2 and return its message."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


# --- parsing and help ------------------------------------------------------------------------------------


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "--preset" in capsys.readouterr().out


def test_help_does_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from spatialdiffusion.cli import build_parser\n"
        "build_parser().format_help()\n"
        "print(sorted(m for m in ('torch', 'scanpy', 'anndata') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_diffusionst_arguments_are_parsed() -> None:
    args = build_parser().parse_args(
        ["diffusionst", "in.h5ad", "--n-clusters", "7", "--out", "o.h5ad", "--preset", "fast", "--seed", "3",
         "--set", "gcn_epochs=10", "--set", "cluster_method=gmm", "--set", "unet_mults=(1, 2)", "--quiet"]
    )  # fmt: skip
    assert (args.command, args.n_clusters, args.preset, args.seed, args.device) == ("diffusionst", 7, "fast", 3, "auto")
    assert args.input == Path("in.h5ad") and args.out == Path("o.h5ad") and args.quiet
    assert dict(args.overrides) == {"gcn_epochs": 10, "cluster_method": "gmm", "unet_mults": (1, 2)}
    assert args.enhanced is None  # automatic: written up to AUTO_ENHANCED_MAX_SPOTS spots
    for flag, value in (("--enhanced", True), ("--no-enhanced", False)):
        assert build_parser().parse_args(["diffusionst", "in.h5ad", "--n-clusters", "7", "--out", "o.h5ad", flag]).enhanced is value


def test_spalstf_and_evaluate_arguments_are_parsed() -> None:
    args = build_parser().parse_args(["spalstf", "st.h5ad", "ref.h5ad", "--out", "o.h5ad", "--genes", "Gad2, Vip,"])
    assert args.genes == ["Gad2", "Vip"] and args.checkpoint is None and args.overrides == []
    args = build_parser().parse_args(["evaluate", "st.h5ad", "ref.h5ad", "--out", "m.csv"])
    assert args.n_folds == 5 and args.preset == "auto"


@pytest.mark.parametrize("value", ["0", "-2", "seven", "2.5"])
def test_bad_n_clusters_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = parse_error(["diffusionst", "x.h5ad", "--n-clusters", value, "--out", "o.h5ad"], capsys)
    assert "--n-clusters" in err and "positive integer" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diffusionst", "x.h5ad", "--out", "o.h5ad"], "--n-clusters"),
        (["diffusionst", "x.h5ad", "--n-clusters", "7", "--out", "o.h5ad", "--preset", "huge"], "--preset"),
        (["diffusionst", "x.h5ad", "--n-clusters", "7", "--out", "o.h5ad", "--set", "epochs"], "KEY=VALUE"),
        (["diffusionst", "x.h5ad", "--n-clusters", "7", "--out", "o.h5ad", "--seed", "-1"], "--seed"),
        (["evaluate", "st.h5ad", "ref.h5ad", "--out", "m.csv", "--n-folds", "0"], "--n-folds"),
        (["spalstf", "st.h5ad", "ref.h5ad", "--out", "o.h5ad", "--genes", ","], "--genes"),
        ([], "COMMAND"),
    ],
)
def test_invalid_arguments_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert message in parse_error(argv, capsys)


# --- input errors: 'error: <message>', exit status 2, no traceback --------------------------------------


def assert_input_error(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diffusionst", str(tmp_path / "absent.h5ad"), "--n-clusters", "7", "--out", str(tmp_path / "o.h5ad")]
    assert_input_error(argv, "does not exist", capsys)


def test_input_of_the_wrong_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "counts.csv"
    table.write_text("a,b\n1,2\n")
    argv = ["diffusionst", str(table), "--n-clusters", "7", "--out", str(tmp_path / "o.h5ad")]
    assert_input_error(argv, "an .h5ad file or a Space Ranger folder", capsys)


def test_unreadable_h5ad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.h5ad"
    broken.write_text("not hdf5")
    argv = ["diffusionst", str(broken), "--n-clusters", "7", "--out", str(tmp_path / "o.h5ad")]
    assert_input_error(argv, "could not be read as an AnnData .h5ad file (OSError", capsys)


def test_output_must_be_h5ad(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diffusionst", str(files["dlpfc_corner"]), "--n-clusters", "7", "--out", str(tmp_path / "o.csv")]
    assert_input_error(argv, "must end in .h5ad", capsys)


def test_plot_and_output_folders_are_checked_before_the_run(files: dict[str, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    base = ["diffusionst", str(files["dlpfc_corner"]), "--n-clusters", "7"]
    assert_input_error(base + ["--out", str(tmp_path / "o.h5ad"), "--plot", str(tmp_path / "d.docx")],
                       "--plot '" + str(tmp_path / "d.docx") + "' must end in .png, .avif, .eps,", capsys)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert_input_error(base + ["--out", str(a_file / "o.h5ad")], "--out: cannot create the folder", capsys)
    assert_input_error(["demo", "--out-dir", str(a_file / "demo")], "--out-dir: cannot create the folder", capsys)
    assert not (tmp_path / "o.h5ad").exists()


def test_unknown_truth_key_in_a_space_ranger_folder(
    shared_file: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = shared_file("dlpfc/visium_151673")
    argv = ["diffusionst", str(folder), "--n-clusters", "7", "--out", str(tmp_path / "o.h5ad"), "--truth-key", "layer"]
    assert_input_error(argv, "--truth-key 'layer' is not a column of obs", capsys)
    assert not (tmp_path / "o.h5ad").exists()


def test_unknown_library_size_key(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diffusionst", str(files["dlpfc_corner"]), "--n-clusters", "7", "--out", str(tmp_path / "o.h5ad"),
            "--library-size-key", "total_counts"]  # fmt: skip
    assert_input_error(argv, "--library-size-key 'total_counts' is not a column of obs", capsys)
    assert not (tmp_path / "o.h5ad").exists()


def test_unknown_method_setting(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diffusionst", str(files["dlpfc_corner"]), "--n-clusters", "7", "--out", str(tmp_path / "o.h5ad"), "--set", "no_such_setting=1"]
    assert_input_error(argv, "no_such_setting", capsys)


def test_spalstf_with_nothing_to_impute(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["spalstf", str(files["st_all_genes"]), str(files["ref"]), "--out", str(tmp_path / "o.h5ad"), "--quiet"]
    assert_input_error(argv, "measures every reference gene", capsys)


def test_reference_must_be_h5ad(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["spalstf", str(files["st_missing4"]), str(tmp_path), "--out", str(tmp_path / "o.h5ad")]
    assert_input_error(argv, "REF", capsys)


# --- end-to-end runs with tiny settings -----------------------------------------------------------------


@pytest.mark.slow
def test_diffusionst_end_to_end(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, png = tmp_path / "res" / "out.h5ad", tmp_path / "res" / "domains.png"
    argv = ["diffusionst", str(files["dlpfc_corner"]), "--n-clusters", "4", "--out", str(out), "--plot", str(png),
            "--truth-key", "layer_guess_reordered", "--library-size-key", "sum_umi", "--seed", "1", *TINY_DIFFUSIONST]  # fmt: skip
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "ARI " in stdout and png.stat().st_size > 10_000
    result = ad.read_h5ad(out)
    domains = result.obs["diffusionst_domain"].astype(str)
    assert set(domains) <= {"1", "2", "3", "4"}
    assert result.obsm["X_diffusionst"].shape[0] == result.n_obs
    assert result.uns["diffusionst"]["params"]["seed"] == 1
    assert result.uns["diffusionst"]["params"]["library_size_key"] == "sum_umi"


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run_cli(["demo", "--out-dir", str(tmp_path), "--set", "diffusion='none'", *TINY_DIFFUSIONST], capsys)
    assert code == 0, err
    assert "ARI " in stdout and "wall time" in stdout and "3611 spots with a label" in stdout
    assert (tmp_path / "dlpfc_151673_domains.png").stat().st_size > 50_000
    result = ad.read_h5ad(tmp_path / "dlpfc_151673_diffusionst.h5ad")
    assert result.n_obs == 3639 and result.obs["diffusionst_domain"].nunique() <= 7
    assert result.uns["diffusionst"]["params"]["library_size"] == "supplied"


@pytest.mark.slow
def test_spalstf_end_to_end(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, checkpoint = tmp_path / "imputed.h5ad", tmp_path / "model.pt"
    argv = ["spalstf", str(files["st_missing4"]), str(files["ref"]), "--out", str(out), "--checkpoint", str(checkpoint), *TINY_SPALSTF]
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "imputed 4 genes for 200 cells" in stdout and checkpoint.is_file()
    imputed = ad.read_h5ad(out).obsm["spalstf"]
    assert list(imputed.columns) == ["Gad2", "Slc32a1", "Crhbp", "Cnr1"]
    assert np.isfinite(imputed.to_numpy()).all()


@pytest.mark.slow
def test_evaluate_end_to_end(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "metrics.csv"
    argv = ["evaluate", str(files["st_all_genes"]), str(files["ref"]), "--out", str(out), "--n-folds", "3", *TINY_SPALSTF]
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    per_gene = pd.read_csv(out)
    assert len(per_gene) == 33 and {"gene", "fold", "spcc", "ssim", "rmse", "js"} <= set(per_gene.columns)
    summary = pd.read_csv(tmp_path / "metrics_summary.csv", index_col="metric")["value"]
    assert {"spcc", "ari"} <= set(summary.index)
