#!/usr/bin/env bash
# Serve the generator with vLLM's OpenAI-compatible server (on a GPU host), so that verirag runs
# with VERIRAG_GENERATOR_BACKEND=openai. MODEL_DIR is a Hugging Face model folder, e.g. the
# packaged SmolLM2 materialised by verirag (~/.cache/verirag/generators/smollm2-135m-instruct-*)
# or a bigger instruct model; each LORA_MODULES entry (name=path) is an adapter produced by
# `verirag align` and is addressed by clients through its name, exactly like a model.
#
#   MODEL_DIR=/models/base SERVED_NAME=verirag-base LORA_MODULES="verirag-dpo=/adapters/dpo" \
#       deploy/vllm/launch.sh
#
# verirag side:
#   VERIRAG_GENERATOR_BACKEND=openai VERIRAG_GENERATOR_URL=http://HOST:8001/v1 \
#   VERIRAG_GENERATOR_MODEL=verirag-dpo VERIRAG_GENERATOR_STRUCTURED_OUTPUT=vllm_grammar
set -euo pipefail

: "${MODEL_DIR:?set MODEL_DIR to the model folder}"
SERVED_NAME=${SERVED_NAME:-verirag-base}
PORT=${PORT:-8001}  # verirag itself listens on 8000
MAX_MODEL_LEN=${MAX_MODEL_LEN:-8192}

args=(
    "$MODEL_DIR"
    --served-model-name "$SERVED_NAME"
    --port "$PORT"
    --max-model-len "$MAX_MODEL_LEN"
    # Greedy decoding comes from verirag's requests (temperature 0), not the model's defaults.
    --generation-config vllm
)
if [ -n "${API_KEY:-}" ]; then
    args+=(--api-key "$API_KEY")
fi
if [ -n "${LORA_MODULES:-}" ]; then
    # shellcheck disable=SC2206
    modules=($LORA_MODULES)
    args+=(--enable-lora --max-lora-rank "${MAX_LORA_RANK:-16}" --lora-modules "${modules[@]}")
fi
exec vllm serve "${args[@]}"
