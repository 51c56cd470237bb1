# The operator's image. Not built on our development machines (no Docker engine there); the Helm chart in
# deploy/federation-operator runs it as user 10001 with a read-only root filesystem and /tmp as an emptyDir.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# pyproject.toml names README.md as the package's readme, so the build needs it.
COPY pyproject.toml README.md ./
COPY federation_operator ./federation_operator
RUN ["pip", "install", "."]

RUN ["groupadd", "--gid", "10001", "fedop"]
RUN ["useradd", "--uid", "10001", "--gid", "10001", "--no-create-home", "--home-dir", "/tmp", "--shell", "/usr/sbin/nologin", "fedop"]
USER 10001:10001
# Not /src: `python -m` puts the working directory first on sys.path; run the installed package.
WORKDIR /

ENTRYPOINT ["python", "-m", "federation_operator"]
