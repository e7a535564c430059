"""The deploy files against kept validators (kubernetes-validate, the compose specification's
schema, hadolint) and against each other: the model the API asks vLLM for is the one vLLM
serves, caches outlive a rollout, the image's user owns its volumes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s" / "verirag.yaml"
COMPOSE = ROOT / "deploy" / "compose.yaml"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed: `pip install -e .[dev]` installs it")
    return found


def _documents() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (doc["kind"], doc["metadata"]["name"]): doc
        for doc in yaml.safe_load_all(K8S.read_text())
        if doc
    }


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _flag(args: list[str], name: str) -> str | None:
    for position, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and position + 1 < len(args):
            return args[position + 1]
    return None


def test_the_kubernetes_manifests_validate() -> None:
    result = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", str(K8S)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(_documents())


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [_tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_api_asks_vllm_for_a_model_it_serves() -> None:
    documents = _documents()
    vllm = _container(documents[("Deployment", "vllm")])
    api = _container(documents[("Deployment", "verirag")])
    env = {item["name"]: item for item in api["env"]}
    served = _flag(vllm["args"], "--served-model-name")
    adapters = [
        module.split("=", 1)[0] for module in (_flag(vllm["args"], "--lora-modules") or "").split()
    ]
    assert env["VERIRAG_GENERATOR_BACKEND"]["value"] == "openai"
    assert env["VERIRAG_GENERATOR_MODEL"]["value"] in {served, *adapters}
    service = documents[("Service", "vllm")]
    port = service["spec"]["ports"][0]["port"]
    assert env["VERIRAG_GENERATOR_URL"]["value"] == f"http://vllm:{port}/v1"
    assert _flag(vllm["args"], "--port") == str(port)
    assert "nvidia.com/gpu" in vllm["resources"]["limits"]
    # vLLM's key and the API's come from the one Secret.
    assert (
        vllm["env"][0]["valueFrom"]["secretKeyRef"]
        == (env["VERIRAG_GENERATOR_API_KEY"]["valueFrom"]["secretKeyRef"])
    )


def test_the_api_keeps_its_index_and_caches_across_rollouts() -> None:
    documents = _documents()
    pod = documents[("Deployment", "verirag")]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {
        m["mountPath"]: m["name"]
        for m in _container(documents[("Deployment", "verirag")])["volumeMounts"]
    }
    for path in ("/data", "/cache"):
        claim = volumes[mounts[path]]["persistentVolumeClaim"]["claimName"]
        assert ("PersistentVolumeClaim", claim) in documents
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile
    security = pod["securityContext"]
    assert security["runAsUser"] == security["fsGroup"] == 10001


def test_compose_names_the_model_vllm_serves_and_the_adapters_it_loads() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    vllm = compose["services"]["vllm"]["command"]
    api = compose["services"]["verirag"]["environment"]
    assert _flag(vllm, "--served-model-name") == "verirag-base"
    assert "--enable-lora" in vllm and _flag(vllm, "--lora-modules")
    assert "VERIRAG_GENERATOR_MODEL" in api
    assert api["VERIRAG_GENERATOR_URL"] == f"http://vllm:{_flag(vllm, '--port')}/v1"


def test_the_api_scales_on_one_node_with_shared_rate_limits() -> None:
    """The autoscaler owns the API's replica count; every replica lands on the node that
    holds the index (SQLite WAL shares it through one host's memory) and spends one shared
    rate budget per caller."""
    documents = _documents()
    deployment = documents[("Deployment", "verirag")]
    autoscaler = documents[("HorizontalPodAutoscaler", "verirag")]["spec"]
    assert autoscaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "verirag",
    }
    assert 1 <= autoscaler["minReplicas"] < autoscaler["maxReplicas"]
    assert "replicas" not in deployment["spec"]  # a fixed count would fight the autoscaler
    pod = deployment["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    env = {item["name"]: item.get("value") for item in _container(deployment)["env"]}
    assert env["VERIRAG_RATE_LIMIT_SCOPE"] == "database"
    assert "VERIRAG_DATABASE_URL" in env  # replicas share PostgreSQL, not SQLite files
