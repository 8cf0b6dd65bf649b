# jobsched image: install jobsched and its runtime dependencies into a virtualenv in one stage, copy only
# that virtualenv into a slim final stage that runs as a non-root user. docs/image.md says how to build it.
#
# BASE_IMAGE is any Python 3.11 on Debian bookworm with the venv module. By default the upstream slim
# image; deploy/image/build.sh passes a Debian bookworm base it makes itself where no registry is reachable.
ARG BASE_IMAGE=python:3.11.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# Optional: a package index and a CA bundle for pip (a mirror, or a TLS-intercepting proxy). Unset, pip
# uses PyPI and its own CA bundle. Build arguments live only in this stage, not in the final image.
ARG PIP_INDEX_URL
ARG PIP_CERT
WORKDIR /src
RUN python3 -m venv /opt/jobsched
# Dependencies first, read from pyproject.toml, so that their layer is reused while only the code changes.
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
        > /tmp/requirements.txt \
    && /opt/jobsched/bin/python -m pip install --no-cache-dir -r /tmp/requirements.txt
COPY README.md ./
COPY jobsched ./jobsched
COPY bench ./bench
RUN /opt/jobsched/bin/python -m pip install --no-cache-dir --no-deps . \
    && /opt/jobsched/bin/python -m pip uninstall --yes pip setuptools

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/jobsched/bin:$PATH
COPY --from=build /opt/jobsched /opt/jobsched
RUN groupadd --gid 10001 jobsched \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin jobsched
USER 10001:10001
EXPOSE 10259
ENTRYPOINT ["jobsched"]
CMD ["run", "--config", "/etc/jobsched/jobsched.yaml"]
