"""The package layout: what the top level exports, what importing it loads, and the deprecated old module paths.

Each check runs in a new interpreter, so that what earlier tests imported cannot hide a problem.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = str(Path(__file__).resolve().parents[2] / "python")


def _run(code: str) -> dict:
    """Run ``code`` in a new interpreter (this checkout's engine first on the path); it prints one JSON object."""
    result = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {PYTHON_DIR!r})\n{code}"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_package_loads_no_heavy_library() -> None:
    out = _run(
        "import json, spatialdiffusion\n"
        "print(json.dumps(sorted(m for m in ('torch', 'scanpy', 'anndata', 'matplotlib') if m in sys.modules)))\n"
    )
    assert out == []


@pytest.mark.parametrize("first", ["spatialdiffusion.diffusionst._stages", "spatialdiffusion.spalstf._stages",
                                   "spatialdiffusion.diffusionst", "spatialdiffusion.methods.spalstf"])
def test_method_names_are_the_functions_whatever_was_imported_first(first: str) -> None:
    out = _run(
        "import importlib, inspect, json, warnings\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        f"importlib.import_module({first!r})\n"
        "import spatialdiffusion as sdf\n"
        "from spatialdiffusion import spalstf\n"
        "from spatialdiffusion.diffusionst import DiffusionSTConfig, diffusionst\n"
        "from spatialdiffusion.spalstf import SpaLSTFConfig\n"
        "print(json.dumps({\n"
        "    'functions': [inspect.isfunction(f) for f in (sdf.diffusionst, sdf.spalstf, spalstf, sdf.evaluate_spalstf,\n"
        "                  sdf.diffusionst_arrays, sdf.spalstf_arrays, sdf.evaluate_spalstf_arrays)],\n"
        "    'same': [sdf.diffusionst is diffusionst, sdf.tl.diffusionst is diffusionst, sdf.tl.spalstf is spalstf,\n"
        "             sdf.DiffusionSTConfig is DiffusionSTConfig, sdf.SpaLSTFConfig is SpaLSTFConfig],\n"
        "    'subpackage': sys.modules['spatialdiffusion.diffusionst'].__name__,\n"
        "    'pl': sdf.pl.domains.__name__,\n"
        "}))\n"
    )
    assert out == {"functions": [True] * 7, "same": [True] * 5, "subpackage": "spatialdiffusion.diffusionst",
                   "pl": "pl_domains"}


OLD_PATHS = {
    "spatialdiffusion.methods.diffusionst": ("spatialdiffusion.diffusionst._model", "diffusionst_arrays"),
    "spatialdiffusion.methods.diffusionst_stages": ("spatialdiffusion.diffusionst._stages", "denoise_gcn"),
    "spatialdiffusion.methods.spalstf": ("spatialdiffusion.spalstf._model", "spalstf_arrays"),
    "spatialdiffusion.methods.spalstf_data": ("spatialdiffusion.spalstf._data", "shared_genes"),
    "spatialdiffusion.methods.spalstf_eval": ("spatialdiffusion.spalstf._evaluate", "cross_validate"),
    "spatialdiffusion.methods.spalstf_model": ("spatialdiffusion.spalstf._stages", "SpaLSTFModel"),
    "spatialdiffusion.models.gcn_zinb": ("spatialdiffusion.diffusionst._gcn", "GCNZINBAutoencoder"),
    "spatialdiffusion.models.unet": ("spatialdiffusion.diffusionst._unet", "UNet"),
    "spatialdiffusion.models.denoiser": ("spatialdiffusion.spalstf._denoiser", "SpaLSTFDenoiser"),
    "spatialdiffusion.presets": ("spatialdiffusion.diffusionst._config", "DiffusionSTConfig"),
    "spatialdiffusion.presets_spalstf": ("spatialdiffusion.spalstf._config", "SpaLSTFConfig"),
    "spatialdiffusion.preprocess": ("spatialdiffusion.diffusionst._preprocess", "select_hvg"),
}


def test_old_module_paths_still_work_and_warn_once() -> None:
    out = _run(
        "import importlib, json, warnings\n"
        f"old_paths = {OLD_PATHS!r}\n"
        "result = {}\n"
        "for old, (new, name) in old_paths.items():\n"
        "    with warnings.catch_warnings(record=True) as caught:\n"
        "        warnings.simplefilter('always')\n"
        "        exec(f'import {old}')  # an import statement, as user code writes it\n"
        "        exec(f'import {old}')\n"
        "    module = sys.modules[old]\n"
        "    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]\n"
        "    result[old] = {'same_object': getattr(module, name) is getattr(importlib.import_module(new), name),\n"
        "                   'warnings': [str(w.message) for w in deprecations],\n"
        "                   'filenames': [w.filename for w in deprecations]}\n"
        "from spatialdiffusion.preprocess import check_counts\n"
        "from spatialdiffusion.checks import check_counts as moved\n"
        "result['check_counts'] = check_counts is moved\n"
        "print(json.dumps(result))\n"
    )
    assert out.pop("check_counts") is True
    for old, record in out.items():
        assert record["same_object"], old
        assert len(record["warnings"]) == 1, (old, record["warnings"])  # once, though imported twice
        assert record["warnings"][0].startswith(f"`{old}` is deprecated"), record["warnings"]
        assert "import from `spatialdiffusion." in record["warnings"][0]
        assert record["filenames"] == ["<string>"], (old, record["filenames"])  # points at the importing line
    assert "import from `spatialdiffusion.diffusionst` instead" in out["spatialdiffusion.methods.diffusionst"]["warnings"][0]
    assert "import from `spatialdiffusion.spalstf` instead" in out["spatialdiffusion.presets_spalstf"]["warnings"][0]


def test_internal_code_does_not_import_the_old_paths() -> None:
    root = Path(__file__).resolve().parents[2]
    old = ("spatialdiffusion.methods", "spatialdiffusion.models", "spatialdiffusion.presets", "spatialdiffusion.preprocess",
           "from .methods", "from .models", "from .presets", "from .preprocess", "from ..methods", "from ..models",
           "from ..presets", "from ..preprocess")
    aliases = {root / "python/spatialdiffusion" / p for p in ("presets.py", "presets_spalstf.py", "preprocess.py")}
    aliases |= {*(root / "python/spatialdiffusion/methods").glob("*.py"), *(root / "python/spatialdiffusion/models").glob("*.py")}
    offenders = []
    for folder in ("python/spatialdiffusion", "benchmarks", "scripts", "tests/python"):
        for path in (root / folder).rglob("*.py"):
            if path in aliases or path == Path(__file__).resolve():
                continue
            offenders += [f"{path.relative_to(root)}: {line.strip()}" for line in path.read_text().splitlines()
                          if line.lstrip().startswith(("from ", "import ")) and any(o in line for o in old)]
    assert offenders == []
