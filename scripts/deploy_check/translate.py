"""The SAM transform, offline: what CloudFormation does with `Transform: AWS::Serverless-2016-10-31`.

Run by `scripts/deploy_check.sh` with the tools venv's Python (the `aws-sam-translator` that the SAM CLI
installs, the same code as the transform CloudFormation runs). Reads the template `sam build` wrote
(`.aws-sam/build/template.yaml`, whose CodeUri/ContentUri are the built folders), points each artifact at
the S3 key `sam package` would upload it to, and writes one CloudFormation template per parameter set:

    translate.py BUILD_DIR OUT_DIR NAME=PARAMS_JSON ...

`OUT_DIR/NAME.json` is the transformed template; `OUT_DIR/artifacts.json` maps each S3 key to the built
folder to zip (`rehearse.py` uploads them to the emulated account's bucket).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

BUCKET = "parity-deploy-check-artifacts"
REGION, ACCOUNT = "us-east-1", "123456789012"
URI_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


class BundledManagedPolicies:
    """The managed-policy names SAM resolves (`Policies: [AWSLambdaBasicExecutionRole]`), from the map
    the translator ships instead of a call to IAM: no AWS account is involved."""

    def load(self) -> dict[str, str]:
        import samtranslator

        data = Path(samtranslator.__file__).parent / "internal" / "data" / "aws_managed_policies.json"
        return json.loads(data.read_text())["aws"]


def packaged(template: dict, build_dir: Path) -> tuple[dict, dict[str, str]]:
    """What `sam package` does to the built template: local folders become S3 locations."""
    artifacts = {}
    for logical_id, resource in template["Resources"].items():
        prop = URI_PROPERTIES.get(resource.get("Type"))
        if prop and isinstance(resource["Properties"].get(prop), str):
            key = f"{logical_id}.zip"
            artifacts[key] = str((build_dir / resource["Properties"][prop]).resolve())
            resource["Properties"][prop] = f"s3://{BUCKET}/{key}"
    return template, artifacts


def main(argv: list[str]) -> None:
    os.environ["AWS_DEFAULT_REGION"] = REGION  # the translator's pseudo parameters; nothing is called
    build_dir, out_dir = Path(argv[0]), Path(argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    for spec in argv[2:]:
        name, params_json = spec.split("=", 1)
        template, artifacts = packaged(yaml_parse((build_dir / "template.yaml").read_text()), build_dir)
        parameters = {
            **json.loads(params_json),
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": f"parity-{name}",
        }
        translated = transform(template, parameters, BundledManagedPolicies())
        (out_dir / f"{name}.json").write_text(json.dumps(translated, indent=1, sort_keys=True))
        (out_dir / "artifacts.json").write_text(json.dumps(artifacts, indent=1, sort_keys=True))
        print(f"transformed: {name} ({len(translated['Resources'])} CloudFormation resources)")


if __name__ == "__main__":
    main(sys.argv[1:])
