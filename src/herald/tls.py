"""TLS for `herald serve`: the certificate and key files, checked before anything is served."""

from __future__ import annotations

import ssl


def check_tls_files(certfile: str, keyfile: str) -> None:
    """Raise a one-line ValueError unless the files are a PEM certificate chain and its
    unencrypted private key, as uvicorn will load them in every worker."""
    for name, path in (("ssl_certfile", certfile), ("ssl_keyfile", keyfile)):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ValueError(f"cannot read {name} {path}: {exc.strerror or exc}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile, password=_no_passphrase)
    except ssl.SSLError as exc:
        raise ValueError(
            f"ssl_certfile {certfile} and ssl_keyfile {keyfile} are not a PEM certificate "
            f"and its unencrypted private key ({exc.reason or exc})"
        ) from None


def _no_passphrase() -> str:
    # Without a callback OpenSSL would ask for a passphrase on the terminal, and wait.
    return ""
