"""Rebuilds c2pa-ai-hopper.jpg: Pillow's Tests/images/hopper.jpg (pillow 11.3.0 sdist) signed
with a C2PA manifest whose c2pa.created action declares the IPTC digital source type
trainedAlgorithmicMedia (an AI-generated image). Signed with the ES256 test certificate and key
published in contentauth/c2pa-python tests/fixtures (es256_certs.pem, es256_private.key), so
validators report it as signed by an untrusted test credential, as with every fixture there.

usage: python make-c2pa-ai.py HOPPER.jpg CERTS.pem KEY.pem
"""

import sys
from pathlib import Path

import c2pa

MANIFEST = {
    "claim_generator_info": [{"name": "dam-test-corpus", "version": "1.0"}],
    "title": "c2pa-ai-hopper.jpg",
    "assertions": [
        {
            "label": "c2pa.actions",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "softwareAgent": {"name": "Example Image Model 3"},
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/"
                        "trainedAlgorithmicMedia",
                    }
                ]
            },
        }
    ],
}


def main(base: str, certs: str, key: str) -> None:
    info = c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256, Path(certs).read_bytes(), Path(key).read_bytes(), None
    )
    settings = c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    builder = c2pa.Builder(MANIFEST, context=c2pa.Context(settings))
    out = Path(__file__).with_name("c2pa-ai-hopper.jpg")
    with open(base, "rb") as src, out.open("w+b") as dst:
        builder.sign(c2pa.Signer.from_info(info), "image/jpeg", src, dst)


if __name__ == "__main__":
    main(*sys.argv[1:4])
