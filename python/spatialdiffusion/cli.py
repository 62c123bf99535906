"""Command line interface: ``spatialdiffusion diffusionst|demo|spalstf|evaluate``.

Each subcommand reads its input, calls the AnnData-level function of the method and writes the result.
The method modules are imported inside the handlers, so ``spatialdiffusion --help`` stays fast.
Errors caused by the input (a missing file, an invalid argument) are reported as ``error: <message>``
with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["build_parser", "main"]

INPUT_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError)
PRESETS = ("auto", "fast", "paper")
DEMO_EXAMPLE = "dlpfc_151673"
DEMO_TRUTH = "layer_guess_reordered"
DEMO_CLUSTERS = 7
DEMO_LIBRARY_SIZE = "sum_umi"  # the example holds 5000 genes; DiffusionST normalises by whole-transcriptome totals


class InputError(ValueError):
    """An argument that can only be checked once the input is read (bad file type, missing column)."""


# ---------------------------------------------------------------------------------------------------------
# argument types
# ---------------------------------------------------------------------------------------------------------


def _int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type accepting integers >= ``minimum`` (``what`` names the kind in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "positive")
_non_negative_int = _int_at_least(0, "non-negative")


def parse_setting(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE``; VALUE is read as a Python literal (``3``, ``1e-3``, ``True``, ``None``) or kept as text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. epochs=50), got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def _gene_list(text: str) -> list[str]:
    genes = [g.strip() for g in text.split(",") if g.strip()]
    if not genes:
        raise argparse.ArgumentTypeError("expected comma-separated gene names, e.g. Gad2,Vip")
    return genes


# ---------------------------------------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------------------------------------


def _run_options() -> argparse.ArgumentParser:
    """Options shared by every subcommand that trains a model."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("run options")
    group.add_argument("--preset", default="auto", choices=PRESETS, help="model size: 'paper' (published settings, for a GPU), 'fast' (CPU) or 'auto' (paper on CUDA, fast otherwise; default)")
    group.add_argument("--device", default="auto", help="'auto' (default), 'cpu', 'cuda', 'cuda:1' or 'mps'")
    group.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default: 0)")
    group.add_argument("--set", dest="overrides", type=parse_setting, action="append", default=[], metavar="KEY=VALUE", help="override one setting of the preset, e.g. --set epochs=50 (repeatable)")
    group.add_argument("--quiet", action="store_true", help="no progress bars")
    return parent


def _add_bin_size(parser: argparse.ArgumentParser, role: str) -> None:
    """The ``--bin-size`` option of a subcommand whose ``role`` input may be a Space Ranger folder."""
    parser.add_argument("--bin-size", type=_positive_int, metavar="UM", help=f"when {role} is a Visium HD Space Ranger folder: the bin size in um to read from binned_outputs (e.g. 8 reads square_008um; default: 16 when present, else 8)")


def build_parser() -> argparse.ArgumentParser:
    """The ``spatialdiffusion`` argument parser with its four subcommands.

    Returns
    -------
    argparse.ArgumentParser
        Parsing sets ``args.handler`` (the function that runs the subcommand) and its options.
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="spatialdiffusion",
        description="Diffusion models for spatial transcriptomics: DiffusionST (spatial domains) and SpaLSTF (gene imputation).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = _run_options()

    dst = commands.add_parser("diffusionst", parents=[run], help="denoise, enhance and cluster spots into spatial domains", description="Run DiffusionST on an .h5ad file or a Space Ranger folder and write the AnnData with obs['diffusionst_domain'], obsm['X_diffusionst'] and uns['diffusionst'].")
    dst.add_argument("input", type=Path, metavar="INPUT", help="an .h5ad file with raw counts in X and obsm['spatial'], or a Space Ranger output folder (Visium, or Visium HD: see --bin-size)")
    dst.add_argument("--n-clusters", type=_positive_int, required=True, metavar="K", help="number of spatial domains (e.g. 7 for most DLPFC slices)")
    dst.add_argument("--out", type=Path, required=True, metavar="OUT.h5ad", help="where to write the result")
    dst.add_argument("--truth-key", metavar="COL", help="obs column with reference labels; prints ARI/NMI against it ('NA' excluded)")
    dst.add_argument("--plot", type=Path, metavar="FILE", help="also draw the domains (next to --truth-key if given), in the format its suffix names (.png, .pdf, .svg, .jpg, ...)")
    dst.add_argument("--library-size-key", metavar="COL", help="obs column with each spot's whole-transcriptome UMI total, for an INPUT that holds only some genes (default: the totals over the genes present)")
    dst.add_argument("--enhanced", action=argparse.BooleanOptionalAction, default=None, help="write (--enhanced) or leave out (--no-enhanced) the enhanced matrix obsm['diffusionst_enhanced'], spots x selected genes (default: written for up to 50,000 spots)")
    _add_bin_size(dst, "INPUT")
    dst.set_defaults(handler=_cmd_diffusionst)

    demo = commands.add_parser("demo", parents=[run], help="DiffusionST on the shipped DLPFC 151673 example, scored against the ground truth", description="Run DiffusionST on the shipped DLPFC 151673 example (K = 7), print ARI against layer_guess_reordered and the wall time, and write the result and a domains-vs-truth plot.")
    demo.add_argument("--out-dir", type=Path, default=Path("demo_out"), metavar="DIR", help="output folder (default: ./demo_out)")
    demo.set_defaults(handler=_cmd_demo)

    spa = commands.add_parser("spalstf", parents=[run], help="impute reference genes for every spatial cell", description="Run SpaLSTF: impute genes of the scRNA-seq reference for every spatial cell; writes the spatial AnnData with obsm['spalstf'] (imputed log-normalised expression) and uns['spalstf'].")
    spa.add_argument("st", type=Path, metavar="ST", help="spatial data: an .h5ad file (raw counts, coordinates in obsm['spatial'] or obs x_coord/y_coord) or a Space Ranger folder")
    spa.add_argument("ref", type=Path, metavar="REF.h5ad", help="scRNA-seq reference (.h5ad, raw counts)")
    spa.add_argument("--out", type=Path, required=True, metavar="OUT.h5ad", help="where to write the result")
    spa.add_argument("--genes", type=_gene_list, metavar="G1,G2,...", help="genes to impute (default: variable reference genes the spatial data lacks)")
    spa.add_argument("--checkpoint", type=Path, metavar="PATH", help="reuse the model saved there, or save the trained model there")
    _add_bin_size(spa, "ST")
    spa.set_defaults(handler=_cmd_spalstf)

    ev = commands.add_parser("evaluate", parents=[run], help="k-fold evaluation of SpaLSTF on the genes both datasets share", description="The published SpaLSTF protocol: hide each fold of shared genes, impute it from the rest, and score SPCC, SSIM, RMSE, JS and clustering agreement.")
    ev.add_argument("st", type=Path, metavar="ST", help="spatial data (.h5ad or Space Ranger folder)")
    ev.add_argument("ref", type=Path, metavar="REF.h5ad", help="scRNA-seq reference (.h5ad)")
    ev.add_argument("--out", type=Path, required=True, metavar="METRICS.csv", help="per-gene metrics; the summary goes to METRICS_summary.csv")
    ev.add_argument("--n-folds", type=_positive_int, default=5, metavar="K", help="number of gene folds (default: 5)")
    _add_bin_size(ev, "ST")
    ev.set_defaults(handler=_cmd_evaluate)
    return parser


# ---------------------------------------------------------------------------------------------------------
# helpers shared by the handlers
# ---------------------------------------------------------------------------------------------------------


def _read_input(path: Path, role: str, *, allow_visium: bool = True, bin_size: int | None = None) -> Any:
    """Read an .h5ad file or (when allowed) a Space Ranger folder; ``bin_size`` picks a Visium HD run's bins."""
    import anndata as ad

    from .io import read_visium

    if path.is_dir() and allow_visium:
        return read_visium(path, bin_size=bin_size)
    if not path.exists():
        raise FileNotFoundError(f"{role} {str(path)!r} does not exist.")
    if bin_size is not None and allow_visium:
        raise InputError(f"--bin-size chooses the bins of a Visium HD Space Ranger folder, but {role} {str(path)!r} is a file.")
    if path.suffix.lower() == ".h5ad" and path.is_file():
        try:
            return ad.read_h5ad(path)
        except Exception as err:  # h5py, anndata and their I/O raise many kinds; all mean "not a readable AnnData"
            raise InputError(f"{role} {str(path)!r} could not be read as an AnnData .h5ad file ({type(err).__name__}: {err}).") from err
    expected = "an .h5ad file or a Space Ranger folder" if allow_visium else "an .h5ad file"
    raise InputError(f"{role} {str(path)!r} is not {expected}.")


def _plot_suffixes() -> tuple[str, ...]:
    """The file types matplotlib can write here, ``.png`` first; not ``.pgf``, which needs a LaTeX installation."""
    from matplotlib.backend_bases import FigureCanvasBase

    types = sorted(FigureCanvasBase.get_supported_filetypes())
    return (".png",) + tuple(f".{ext}" for ext in types if ext not in ("png", "pgf"))


def _make_folder(folder: Path, option: str) -> None:
    """Create ``folder`` (and its parents) for an output, or report why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{option}: cannot create the folder {str(folder)!r} ({err.strerror or err}).") from err


def _check_output(path: Path, suffixes: Sequence[str], option: str) -> None:
    """Fail before a long run when the output cannot be written."""
    if path.suffix.lower() not in suffixes:
        endings = suffixes[0] if len(suffixes) == 1 else f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"
        raise InputError(f"{option} {str(path)!r} must end in {endings}.")
    if path.exists() and path.is_dir():
        raise InputError(f"{option} {str(path)!r} is a folder; give a file name ending in {suffixes[0]}.")
    _make_folder(path.resolve().parent, option)


def _run_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"preset": args.preset, "device": args.device, "seed": args.seed, "verbose": not args.quiet, **dict(args.overrides)}


def _score(adata: Any, truth_key: str, pred_key: str) -> dict[str, float]:
    from .metrics.clustering import clustering_scores

    return clustering_scores(adata.obs[truth_key], adata.obs[pred_key])


def _run_diffusionst(adata: Any, n_clusters: int, args: argparse.Namespace, library_size_key: str | None = None,
                     return_enhanced: bool | None = None) -> float:
    """Run DiffusionST in place and return the wall time in seconds."""
    from .diffusionst import diffusionst

    start = time.perf_counter()
    diffusionst(adata, n_clusters, library_size_key=library_size_key, return_enhanced=return_enhanced, **_run_kwargs(args))
    return time.perf_counter() - start


def _print_scores(scores: dict[str, float], truth_key: str) -> None:
    print(f"ARI {scores['ari']:.4f}  NMI {scores['nmi']:.4f}  vs obs['{truth_key}'] ({scores['n_scored']} spots with a label)")


# ---------------------------------------------------------------------------------------------------------
# subcommands
# ---------------------------------------------------------------------------------------------------------


def _cmd_diffusionst(args: argparse.Namespace) -> None:
    _check_output(args.out, (".h5ad",), "--out")
    if args.plot is not None:
        _check_output(args.plot, _plot_suffixes(), "--plot")
    adata = _read_input(args.input, "INPUT", bin_size=args.bin_size)
    for option, key in (("--truth-key", args.truth_key), ("--library-size-key", args.library_size_key)):
        if key is not None and key not in adata.obs:
            raise InputError(f"{option} {key!r} is not a column of obs; available: {list(adata.obs.columns)}.")
    seconds = _run_diffusionst(adata, args.n_clusters, args, args.library_size_key, args.enhanced)
    print(f"DiffusionST: {adata.n_obs} spots, K = {args.n_clusters}, {seconds:.1f} s")
    if args.truth_key is not None:
        _print_scores(_score(adata, args.truth_key, "diffusionst_domain"), args.truth_key)
    adata.write_h5ad(args.out)
    print(f"wrote {args.out}")
    if args.plot is not None:
        from .plotting import pl_domains

        pl_domains(adata, "diffusionst_domain", truth_key=args.truth_key, path=args.plot)
        print(f"plot: {args.plot}")


def _cmd_demo(args: argparse.Namespace) -> None:
    from .io import load_example
    from .plotting import pl_domains

    _make_folder(args.out_dir, "--out-dir")
    adata = load_example(DEMO_EXAMPLE)
    print(f"{DEMO_EXAMPLE}: {adata.n_obs} spots x {adata.n_vars} genes; running DiffusionST (K = {DEMO_CLUSTERS}, preset {args.preset})")
    seconds = _run_diffusionst(adata, DEMO_CLUSTERS, args, DEMO_LIBRARY_SIZE)
    scores = _score(adata, DEMO_TRUTH, "diffusionst_domain")
    _print_scores(scores, DEMO_TRUTH)
    print(f"wall time {seconds:.1f} s")
    plot = args.out_dir / f"{DEMO_EXAMPLE}_domains.png"
    title = f"DiffusionST (ARI {scores['ari']:.3f})"
    pl_domains(adata, "diffusionst_domain", truth_key=DEMO_TRUTH, title=title, path=plot)
    out = args.out_dir / f"{DEMO_EXAMPLE}_diffusionst.h5ad"
    adata.write_h5ad(out)
    print(f"wrote {plot} and {out}")


def _cmd_spalstf(args: argparse.Namespace) -> None:
    from .spalstf import spalstf

    _check_output(args.out, (".h5ad",), "--out")
    adata_st = _read_input(args.st, "ST", bin_size=args.bin_size)
    adata_ref = _read_input(args.ref, "REF", allow_visium=False)
    checkpoint = str(args.checkpoint) if args.checkpoint is not None else None
    start = time.perf_counter()
    spalstf(adata_st, adata_ref, args.genes, checkpoint=checkpoint, **_run_kwargs(args))
    seconds = time.perf_counter() - start
    print(f"SpaLSTF: imputed {adata_st.obsm['spalstf'].shape[1]} genes for {adata_st.n_obs} cells in {seconds:.1f} s")
    adata_st.write_h5ad(args.out)
    print(f"wrote {args.out}")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from .spalstf import evaluate_spalstf

    _check_output(args.out, (".csv",), "--out")
    adata_st = _read_input(args.st, "ST", bin_size=args.bin_size)
    adata_ref = _read_input(args.ref, "REF", allow_visium=False)
    per_gene, summary = evaluate_spalstf(adata_st, adata_ref, args.n_folds, **_run_kwargs(args))
    summary_path = args.out.with_name(f"{args.out.stem}_summary.csv")
    per_gene.to_csv(args.out, index=False)
    summary.rename_axis("metric").to_frame("value").to_csv(summary_path)
    print(summary.to_string())
    print(f"wrote {args.out} and {summary_path}")


# ---------------------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------------------


def _error_message(err: BaseException) -> str:
    # KeyError wraps its message in quotes; show the text itself.
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spatialdiffusion`` command line.

    Parameters
    ----------
    argv
        Arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for invalid arguments or input, or when ``--set cluster_method=mclust`` finds
        no R/mclust (the message is printed to stderr as ``error: ...``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    from .cluster.mclust import MclustUnavailableError  # after parsing, so that --help stays fast

    try:
        handler(args)
    except (*INPUT_ERRORS, MclustUnavailableError) as err:
        print(f"error: {_error_message(err)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
