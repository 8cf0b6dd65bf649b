"""Self-signed PKI for the local control plane, made with the openssl CLI.

The apiserver serves TLS on loopback with a cert signed by a throwaway CA (so clients verify it),
and signs service-account tokens with its own RSA key. Nothing here is meant for a real cluster.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()}")


def ensure_pki(directory: Path) -> None:
    """Creates ca.crt, apiserver.crt/key and sa.key/pub in directory unless they exist."""
    directory.mkdir(parents=True, exist_ok=True)
    if all(
        (directory / f).exists() for f in ("ca.crt", "apiserver.crt", "apiserver.key", "sa.key", "sa.pub")
    ):
        return
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=jobsched-dev-ca",
        cwd=directory,
    )  # fmt: skip
    (directory / "apiserver.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key",
        "-out", "apiserver.csr", "-subj", "/CN=kube-apiserver",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "3650", "-out", "apiserver.crt", "-extfile", "apiserver.ext",
        cwd=directory,
    )  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=directory)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
