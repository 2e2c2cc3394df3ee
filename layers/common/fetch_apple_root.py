#!/usr/bin/env python3
"""Install Apple Root CA - G3 where the layer looks for it (`parity/certs/AppleRootCA-G3.cer`).

    python3 layers/common/fetch_apple_root.py                   # download from Apple's certificate authority page
    python3 layers/common/fetch_apple_root.py --from-jws FILE   # offline: take x5c[2] of any Apple-signed JWS

The layer build (`layers/common/Makefile`) runs it with `--keep-existing`, so a root installed by hand
(offline) is kept after its fingerprint is checked again.

Either way the certificate is written only if its SHA-256 fingerprint is the one Apple publishes, so
the source does not matter: a file with that fingerprint is Apple's root, byte for byte. Standard
library only, so any Python 3 can run it (a build step, a developer machine).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

URL = "https://www.apple.com/certificateauthority/AppleRootCA-G3.cer"
# Must equal parity.webhooks.apple.APPLE_ROOT_CA_G3_SHA256 (a unit test compares them).
APPLE_ROOT_CA_G3_SHA256 = (
    "63:34:3A:BF:B8:9A:6A:03:EB:B5:7E:9B:3F:5F:A7:BE:7C:4F:5C:75:6F:30:17:B3:A8:C4:88:C3:65:3E:91:79"
)
DEFAULT_DEST = Path(__file__).resolve().parent / "parity" / "certs" / "AppleRootCA-G3.cer"


def fingerprint(der: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def install(der: bytes, dest: Path) -> None:
    """Write `der` to `dest` (atomically) if it is Apple Root CA G3; exit with an error otherwise."""
    if fingerprint(der) != APPLE_ROOT_CA_G3_SHA256:
        raise SystemExit(
            f"refused: SHA-256 fingerprint {fingerprint(der)} is not Apple Root CA G3's {APPLE_ROOT_CA_G3_SHA256}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as handle:
        handle.write(der)
    os.replace(handle.name, dest)


def download(url: str = URL, timeout: float = 30) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a fixed https URL
        return response.read(1 << 20)


def root_from_jws(token: str) -> bytes:
    """The last certificate of a JWS's x5c header (Apple puts its root there)."""
    header = token.strip().split(".")[0]
    x5c = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["x5c"]
    return base64.b64decode(x5c[-1], validate=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-jws", type=Path, help="a file holding an Apple-signed JWS (offline source)")
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--keep-existing", action="store_true", help="keep a root already at --dest (checked)")
    args = parser.parse_args(argv)
    if args.keep_existing and args.dest.exists():
        der = args.dest.read_bytes()
    else:
        der = root_from_jws(args.from_jws.read_text()) if args.from_jws else download()
    install(der, args.dest)
    print(f"Apple Root CA G3 ({fingerprint(der)}) written to {args.dest}")


if __name__ == "__main__":
    main(sys.argv[1:])
