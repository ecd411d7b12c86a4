# careerbot: API + UI on :8000. CPU-only torch; the embedding model ships inside a PyPI
# package, so the image runs with no model hub access.
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
# PyPI's Linux torch wheel is the CUDA build (several GB); the CPU build lives on PyTorch's
# own index. Override when building behind a mirror.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    CAREERBOT_HOST=0.0.0.0 \
    CAREERBOT_PORT=8000 \
    CAREERBOT_DATA_DIR=/data \
    CAREERBOT_CORPUS_DIR=/app/corpus

WORKDIR /app
RUN pip install --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION"

# Dependencies first, so code edits do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir rag ingest api ui eval integrations \
    && for p in rag ingest api ui eval integrations; do touch "$p/__init__.py"; done \
    && pip install . && pip uninstall -y careerbot

COPY rag ./rag
COPY ingest ./ingest
COPY api ./api
COPY ui ./ui
COPY eval ./eval
COPY integrations ./integrations
COPY corpus ./corpus
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 careerbot \
    && mkdir -p /data && chown careerbot /data

USER careerbot
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=5 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"

# `serve` ingests the corpus first when the index is empty or stale, then serves.
CMD ["careerbot", "serve"]
