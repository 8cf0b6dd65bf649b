# jobsched image: build wheels in one stage, install only runtime dependencies in a slim final stage.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY jobsched ./jobsched
COPY bench ./bench
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels jobsched==0.1.0 \
    && rm -rf /wheels \
    && groupadd --gid 10001 jobsched \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin jobsched
USER 10001:10001
EXPOSE 10259
ENTRYPOINT ["jobsched"]
CMD ["run", "--config", "/etc/jobsched/jobsched.yaml"]
