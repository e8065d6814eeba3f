# syntax=docker/dockerfile:1
#
# One image for every Dagster process of mlops-assets (DESIGN.md section 8):
#
#   webserver    (default CMD)  dagster-webserver -h 0.0.0.0 -p 3000 -w workspace.yaml
#   daemon                      dagster-daemon run -w workspace.yaml
#                               (run with MLOPS_ROLE=daemon so the HTTP health check is skipped)
#   code server  (Helm chart)   dagster api grpc -m mlops_assets.definitions ...
#                               (the chart's dagster-user-deployments sets the command)
#   run workers                 the K8sRunLauncher starts each run as a Kubernetes Job from the
#                               code location's image, i.e. this one, with
#                               `dagster api execute_run ...`; no extra image is needed.
#   CLI                         mlops init | mlops demo ...
#
# Dependencies come only from uv.lock (`uv sync --frozen`); the dbt manifest is built here,
# at image build time (docker/build-manifest.sh), so containers never run `dbt parse` on start.
#
# PostgreSQL instance storage (deploy/compose, deploy/helm) and the K8s run launcher need
# dagster-postgres / dagster-k8s (and psycopg2 for MLflow's PostgreSQL store) in the image.
# They are not in uv.lock yet: once pyproject.toml has them as an extra (e.g. `deploy`), build with
#   docker build --build-arg UV_SYNC_EXTRAS="--extra deploy" -t mlops-assets .

ARG PYTHON_IMAGE=python:3.11-slim

############################ build: locked venv + dbt manifest ############################
FROM ${PYTHON_IMAGE} AS build

ARG UV_VERSION=0.13.9
ARG UV_SYNC_EXTRAS="--extra deploy"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install "uv==${UV_VERSION}"

WORKDIR /app

# 1) third-party dependencies only: this layer is cached until pyproject.toml/uv.lock change
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project ${UV_SYNC_EXTRAS}

# 2) the project itself. It stays an editable install on purpose: settings.py finds
#    dbt_project/ next to the package (/app), which a site-packages install would break.
COPY README.md workspace.yaml ./
COPY mlops_assets ./mlops_assets
COPY dbt_project ./dbt_project
COPY docker ./docker
RUN uv sync --frozen --no-dev ${UV_SYNC_EXTRAS}

# 3) dbt manifest at build time (dbt parse; no warehouse connection needed)
ENV PATH=/app/.venv/bin:$PATH
RUN docker/build-manifest.sh && rm -rf dbt_project/logs

############################ runtime ############################
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLOPS_DATA_DIR=/data \
    DAGSTER_HOME=/data/dagster_home \
    MLOPS_ROLE=webserver

RUN groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid mlops --home-dir /home/mlops --create-home \
       --shell /usr/sbin/nologin mlops \
    && mkdir -p /data/dagster_home /opt/dagster/dagster_home \
    && chown -R mlops:mlops /data /opt/dagster

WORKDIR /app
# Same base image and path as the build stage, so the venv's interpreter links stay valid.
# Code and venv are read-only for the app user; dbt writes run artifacts under dbt_project/.
COPY --from=build /app /app
RUN chown -R mlops:mlops /app/dbt_project

USER mlops:mlops

# Everything stateful (warehouse, landing, MLflow, DAGSTER_HOME) lives under /data.
# Deployments that mount a dagster.yaml (compose, Helm) point DAGSTER_HOME at
# /opt/dagster/dagster_home instead and keep the data under /data.
VOLUME ["/data"]
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/app/docker/healthcheck.sh"]

CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"]
