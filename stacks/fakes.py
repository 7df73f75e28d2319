"""Plausible engine answers for offline runs: computed outputs of resources and results of invokes.

Only values the program reads back (ids, e-mails, endpoints, project numbers) are faked; everything
else a resource reports is its own inputs. Values are deterministic so plans are reproducible.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

FAKE_PROJECT_NUMBER = "123456789012"


def _digits(seed: str, n: int = 12) -> str:
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:n]


def fake_outputs(type_: str, name: str, inputs: Mapping[str, Any], project: str) -> dict[str, Any]:
    """Computed outputs for a resource type, keyed by provider property name."""
    out: dict[str, Any] = {"id": f"{name}-id"}
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


def fake_call(token: str, args: Mapping[str, Any], project: str) -> dict[str, Any]:
    """Results of provider functions (invokes) the programs call."""
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
        return {"accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/mlinfra", "userId": "FAKE"}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
    return {}
