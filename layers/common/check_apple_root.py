#!/usr/bin/env python3
"""Check the App Store trust anchor the layer ships: `parity/certs/AppleRootCA-G3.cer`.

    python3 layers/common/check_apple_root.py [PATH]

Apple Root CA - G3 is committed with the layer (from https://www.apple.com/certificateauthority/). The
layer build (`layers/common/Makefile`) runs this script on the copy it ships and fails when the file is
missing or its SHA-256 fingerprint is not the one Apple publishes, so a build never ships a layer that
refuses every App Store notification, or trusts another root. Standard library only: any Python 3 runs
it (a build step, a developer machine).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

# Must equal parity.webhooks.apple.APPLE_ROOT_CA_G3_SHA256 (a unit test compares them).
APPLE_ROOT_CA_G3_SHA256 = (
    "63:34:3A:BF:B8:9A:6A:03:EB:B5:7E:9B:3F:5F:A7:BE:7C:4F:5C:75:6F:30:17:B3:A8:C4:88:C3:65:3E:91:79"
)
DEFAULT_PATH = Path(__file__).resolve().parent / "parity" / "certs" / "AppleRootCA-G3.cer"


def fingerprint(der: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def check(path: Path) -> str:
    """The fingerprint of the root at `path`; SystemExit with the reason when it is missing or not Apple's."""
    try:
        der = path.read_bytes()
    except OSError as error:
        raise SystemExit(f"Apple Root CA G3 is missing at {path} ({error.strerror}): the layer cannot ship without it") from None
    if fingerprint(der) != APPLE_ROOT_CA_G3_SHA256:
        raise SystemExit(
            f"{path}: SHA-256 fingerprint {fingerprint(der)} is not Apple Root CA G3's {APPLE_ROOT_CA_G3_SHA256}"
        )
    return fingerprint(der)


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    print(f"Apple Root CA G3 ({check(path)}) at {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
