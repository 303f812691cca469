"""A throwaway PKI made at test time with the `openssl` CLI: a CA, a server and client certificates."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl")


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    directory: Path

    def client(self, name: str, *, uri: str | None = None) -> tuple[Path, Path]:
        """A client certificate (CN `name`, optional SAN URI) signed by the CA: (cert, key)."""
        extensions = (
            f"subjectAltName=URI:{uri}\nextendedKeyUsage=clientAuth\n"
            if uri
            else ("extendedKeyUsage=clientAuth\n")
        )
        return _issue(self, name, f"/CN={name}", extensions)


def _run(*args: str) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=30)


def _issue(pki: Pki, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
    key, csr, cert, ext = (pki.directory / f"{name}.{suffix}" for suffix in ("key", "csr", "pem", "ext"))
    ext.write_text(extensions)
    _run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(csr), "-subj", subject)  # fmt: skip
    _run("x509", "-req", "-in", str(csr), "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
         "-CAcreateserial", "-days", "2", "-out", str(cert), "-extfile", str(ext))  # fmt: skip
    return cert, key


def make_pki(directory: Path, ca_name: str = "test-ca") -> Pki:
    """A CA and a server certificate for localhost / 127.0.0.1, in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / f"{ca_name}.key", directory / f"{ca_name}.pem"
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(ca_key), "-out", str(ca_cert), "-days", "2", "-subj", f"/CN={ca_name}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign")  # fmt: skip
    pki = Pki(ca_cert, ca_key, directory / "server.pem", directory / "server.key", directory)
    _issue(pki, "server", "/CN=localhost",
           "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")  # fmt: skip
    return pki
