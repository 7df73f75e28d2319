"""Plausible engine answers for offline runs: computed outputs of resources and results of invokes.

Only values the program reads back (ids, e-mails, endpoints, project numbers) are faked; everything
else a resource reports is its own inputs. Values are deterministic so plans are reproducible.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

FAKE_PROJECT_NUMBER = "123456789012"


def _digits(seed: str, n: int = 12) -> str:
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:n]


FAKE_AWS_ACCOUNT = "123456789012"


def fake_outputs(type_: str, name: str, inputs: Mapping[str, Any], project: str,
                 provider: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Computed outputs for a resource type, keyed by provider property name."""
    out: dict[str, Any] = {"id": f"{name}-id"}
    if type_.startswith("aws:"):
        return {**out, **_aws_outputs(type_, name, inputs, provider or {})}
    gcp_project = inputs.get("project") or project
    if type_.startswith("gcp:"):
        out.setdefault("selfLink", f"https://www.googleapis.com/fake/{gcp_project}/{name}")
        if "name" not in inputs:
            out["name"] = name
    if type_ == "gcp:serviceaccount/account:Account":
        account_id = inputs.get("accountId", name)
        out["email"] = f"{account_id}@{gcp_project}.iam.gserviceaccount.com"
        out["member"] = f"serviceAccount:{out['email']}"
        out["uniqueId"] = _digits(name, 21)
    elif type_ == "gcp:kms/keyRing:KeyRing":
        out["id"] = f"projects/{gcp_project}/locations/{inputs.get('location')}/keyRings/{inputs.get('name')}"
    elif type_ == "gcp:kms/cryptoKey:CryptoKey":
        out["id"] = f"{inputs.get('keyRing')}/cryptoKeys/{inputs.get('name')}"
    elif type_ == "gcp:pubsub/topic:Topic":
        out["id"] = f"projects/{gcp_project}/topics/{inputs.get('name', name)}"
    elif type_ == "gcp:pubsub/subscription:Subscription":
        out["id"] = f"projects/{gcp_project}/subscriptions/{inputs.get('name', name)}"
    elif type_ == "gcp:storage/bucket:Bucket":
        out["url"] = f"gs://{inputs.get('name', name)}"
    elif type_ == "gcp:bigquery/dataset:Dataset":
        out["id"] = f"projects/{gcp_project}/datasets/{inputs.get('datasetId', name)}"
    elif type_ == "gcp:container/cluster:Cluster":
        out["endpoint"] = "10.0.0.2"
        out["masterAuth"] = {"clusterCaCertificate": "ZmFrZS1jYQ==", "clientCertificate": "", "clientKey": ""}
    elif type_ == "gcp:compute/network:Network":
        out["id"] = f"projects/{gcp_project}/global/networks/{inputs.get('name', name)}"
    elif type_ == "gcp:compute/subnetwork:Subnetwork":
        out["id"] = f"projects/{gcp_project}/regions/{inputs.get('region')}/subnetworks/{inputs.get('name', name)}"
    elif type_ == "gcp:projects/serviceIdentity:ServiceIdentity":
        out["email"] = f"service-{FAKE_PROJECT_NUMBER}@{inputs.get('service', 'svc')}.fake.gserviceaccount.com"
        out["member"] = f"serviceAccount:{out['email']}"
    return out


def _aws_account(provider: Mapping[str, Any]) -> str:
    accounts = provider.get("allowedAccountIds") or [FAKE_AWS_ACCOUNT]
    if isinstance(accounts, str):  # provider inputs arrive JSON-encoded
        accounts = json.loads(accounts) if accounts.startswith("[") else [accounts]
    return str(accounts[0])


def _aws_outputs(type_: str, name: str, inputs: Mapping[str, Any], provider: Mapping[str, Any]) -> dict[str, Any]:
    """AWS computed outputs: ARNs, ids, endpoints. The region is the resource's own, else the provider's."""
    region = inputs.get("region") or provider.get("region") or "us-east-1"
    account = _aws_account(provider)
    module = type_.split(":")[1].split("/")[0]
    physical = inputs.get("name") or inputs.get("bucket") or inputs.get("alias") or name
    out: dict[str, Any] = {"arn": f"arn:aws:{module}:{region}:{account}:{physical}", "region": region}
    if type_ == "aws:s3/bucket:Bucket" or type_ == "aws:s3/bucketV2:BucketV2":
        bucket = inputs.get("bucket") or name
        out.update(arn=f"arn:aws:s3:::{bucket}", bucket=bucket, id=bucket,
                   bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com")
    elif type_.startswith("aws:iam/role:") or type_.startswith("aws:iam/policy:"):
        kind = "role" if "role" in type_ else "policy"
        out.update(arn=f"arn:aws:iam::{account}:{kind}/{physical}", name=physical, uniqueId=_digits(name, 21))
    elif type_ == "aws:iam/instanceProfile:InstanceProfile":
        out.update(arn=f"arn:aws:iam::{account}:instance-profile/{physical}", name=physical)
    elif type_ == "aws:kms/key:Key":
        key_id = f"{_digits(name, 8)}-0000-4000-8000-{_digits(name + 'k', 12)}"
        out.update(arn=f"arn:aws:kms:{region}:{account}:key/{key_id}", keyId=key_id, id=key_id)
    elif type_ == "aws:kms/alias:Alias":
        out.update(arn=f"arn:aws:kms:{region}:{account}:{physical}")
    elif type_ == "aws:sns/topic:Topic":
        out.update(arn=f"arn:aws:sns:{region}:{account}:{physical}", id=f"arn:aws:sns:{region}:{account}:{physical}")
    elif type_ == "aws:sqs/queue:Queue":
        url = f"https://sqs.{region}.amazonaws.com/{account}/{physical}"
        out.update(arn=f"arn:aws:sqs:{region}:{account}:{physical}", url=url, id=url)
    elif type_ == "aws:eks/cluster:Cluster":
        out.update(arn=f"arn:aws:eks:{region}:{account}:cluster/{physical}", name=physical,
                   endpoint=f"https://{_digits(name, 10)}.gr7.{region}.eks.amazonaws.com",
                   certificateAuthority={"data": "ZmFrZS1jYQ=="},
                   identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/FAKE"}]}],
                   vpcConfig={**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_digits(name, 8)}"})
    elif type_ == "aws:ec2/launchTemplate:LaunchTemplate":
        out.update(latestVersion=1, defaultVersion=1)
    elif type_ == "aws:cloudwatch/logGroup:LogGroup":
        out.update(arn=f"arn:aws:logs:{region}:{account}:log-group:{physical}")
    elif type_ == "aws:athena/workgroup:Workgroup":
        out.update(arn=f"arn:aws:athena:{region}:{account}:workgroup/{physical}")
    elif type_ == "aws:glue/catalogDatabase:CatalogDatabase":
        out.update(arn=f"arn:aws:glue:{region}:{account}:database/{physical}")
    elif type_ == "aws:amp/workspace:Workspace":
        out.update(arn=f"arn:aws:aps:{region}:{account}:workspace/ws-{_digits(name, 8)}",
                   prometheusEndpoint=f"https://aps-workspaces.{region}.amazonaws.com/workspaces/ws-fake/")
    elif type_ == "aws:amp/scraper:Scraper":
        scraper = f"s-{_digits(name, 8)}"
        out.update(arn=f"arn:aws:aps:{region}:{account}:scraper/{scraper}",
                   roleArn=f"arn:aws:iam::{account}:role/aws-service-role/scraper.aps.amazonaws.com/"
                   f"AWSServiceRoleForAmazonPrometheusScraper_{scraper}")
    return out


def fake_call(token: str, args: Mapping[str, Any], project: str,
              provider: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Results of provider functions (invokes) the programs call."""
    provider = provider or {}
    region = provider.get("region") or "us-east-1"
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        names = [f"{region}{z}" for z in "abc"]
        return {"names": names, "zoneIds": [f"{region[:3]}-az{i}" for i in (1, 2, 3)], "id": region}
    if token == "aws:index/getRegion:getRegion":
        return {"name": region, "region": region, "id": region}
    if token == "gcp:organizations/getProject:getProject":
        pid = args.get("projectId") or project
        return {"projectId": pid, "number": FAKE_PROJECT_NUMBER, "name": pid, "id": f"projects/{pid}"}
    if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
        email = f"service-{FAKE_PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
        return {"emailAddress": email, "member": f"serviceAccount:{email}", "project": args.get("project", project)}
    if token == "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount":
        email = f"bq-{FAKE_PROJECT_NUMBER}@bigquery-encryption.iam.gserviceaccount.com"
        return {"email": email, "member": f"serviceAccount:{email}", "project": args.get("project", project)}
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        account = _aws_account(provider)
        return {"accountId": account, "arn": f"arn:aws:iam::{account}:user/mlinfra", "userId": "FAKE", "id": account}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
    return {}
