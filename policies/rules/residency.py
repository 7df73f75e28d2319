"""Data residency: every located resource stays inside ``residency.allowed_regions``.

None of the established scanners has this family. Locations are judged by member region, so a multi-region
(``EU``) or dual-region (``EUR4``) counts only if each region in it is allowed, and a zone counts as its
region. With an empty allow-list residency is unrestricted and these rules pass; when the pack was not told
the allow-list at all (no stack file, no policy config) they fail closed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlinfra.policies.catalog import Resource, Stack, resource_rule, rules_in, stack_rule
from mlinfra.policies.context import PolicyContext
from mlinfra.stacks import regions

_LOCATION_FIELDS = ("location", "region", "zone")
_LOG_BUCKETS = ("gcp:logging/projectBucketConfig:ProjectBucketConfig",)
_KMS_LOCATION = re.compile(r"/locations/([^/]+)/")
FIX = "residency.allowed_regions, or target.region / the resource's location"


def _outside(location: str, context: PolicyContext) -> str | None:
    """A message when ``location`` is not allowed, naming the member regions that are outside."""
    if context.allows(location):
        return None
    members = regions.member_regions(location)
    bad = [m for m in members if not context.allows(m)]
    detail = f" (its member regions {', '.join(bad)} are not allowed)" if len(members) > 1 and bad else ""
    return f"location {location!r} is outside the residency allow-list [{context.describe_allowed()}]{detail}"


@resource_rule(
    id="residency-gcp-location-allowed", title="GCP resources are located in allowed regions", severity="critical",
    pack="residency", types=("gcp:*",),
    rationale="Data and the compute that reads it must stay in the jurisdictions the environment declares; a "
    "multi-region counts only if every member region is allowed.",
    fix=FIX,
)
def gcp_location_allowed(res: Resource, context: PolicyContext) -> Iterator[str]:
    """The ``location``/``region``/``zone`` and ``nodeLocations`` of every GCP resource (log buckets aside)."""
    if res.type in _LOG_BUCKETS:
        return
    for key in _LOCATION_FIELDS:
        location = res.get(key)
        if isinstance(location, str) and location and (message := _outside(location, context)):
            yield f"{key}: {message}"
    for zone in res.get("nodeLocations", default=[]):
        if message := _outside(str(zone), context):
            yield f"nodeLocations: {message}"


@resource_rule(
    id="residency-gcp-storage-bucket-dual-region", title="GCS custom dual-regions use only allowed regions",
    severity="critical", pack="residency", types=("gcp:storage/bucket:Bucket",),
    rationale="A configurable dual-region bucket replicates objects to both data locations; each must be "
    "allowed, not just the multi-region it is named after.",
    fix="storage.buckets[].location",
)
def gcs_dual_region(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Every entry of ``customPlacementConfig.dataLocations``."""
    for location in res.get("customPlacementConfig", "dataLocations", default=[]):
        if message := _outside(str(location), context):
            yield f"customPlacementConfig.dataLocations: {message}"


@resource_rule(
    id="residency-gcp-logging-bucket-location", title="Log buckets are stored in allowed regions",
    severity="medium", enforcement="advisory", pack="residency", types=_LOG_BUCKETS,
    rationale="Logs carry data too. The location of a project's _Default log bucket is fixed when the project "
    "is created, from the organization's logging settings, so it cannot be fixed per environment: advisory.",
    fix="the organization's default log storage location (gcloud logging settings update --storage-location)",
)
def gcp_log_bucket_location(res: Resource, context: PolicyContext) -> Iterator[str]:
    """The ``location`` of log bucket configs ('global' is outside any allow-list)."""
    location = res.get("location")
    if isinstance(location, str) and (message := _outside(location, context)):
        yield message


@resource_rule(
    id="residency-gcp-pubsub-topic-persistence", title="Pub/Sub topics persist messages only in allowed regions",
    severity="critical", pack="residency", types=("gcp:pubsub/topic:Topic",),
    rationale="Without a message storage policy Pub/Sub may store messages in any region; in-transit "
    "enforcement keeps publishes from being routed through other regions too.",
    fix="residency.allowed_regions (topics inherit it)",
)
def pubsub_persistence(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``messageStoragePolicy.allowedPersistenceRegions`` ⊆ allow-list and ``enforceInTransit`` on."""
    if context.allowed_regions == ():
        return
    persisted = res.get("messageStoragePolicy", "allowedPersistenceRegions", default=[])
    if not persisted:
        yield "no message storage policy: messages may be stored in any region"
    for region in persisted:
        if message := _outside(str(region), context):
            yield f"allowedPersistenceRegions: {message}"
    if persisted and not res.get("messageStoragePolicy", "enforceInTransit", default=False):
        yield "messageStoragePolicy.enforceInTransit is off: messages may transit other regions"


@resource_rule(
    id="residency-aws-region-allowed", title="AWS resources are created in allowed regions", severity="critical",
    pack="residency", types=("aws:*", "pulumi:providers:aws"),
    rationale="An AWS resource lives in its own 'region' input, else its provider's region; both must be "
    "allowed, and so must every provider configured in the program.",
    fix=FIX, targets=("aws",),
)
def aws_region_allowed(res: Resource, context: PolicyContext) -> Iterator[str]:
    """The effective region (``region`` input, else the provider's) of every AWS resource and provider."""
    region = res.region()
    if isinstance(region, str) and region and (message := _outside(region, context)):
        yield f"region: {message}"


@resource_rule(
    id="residency-aws-kms-key-single-region", title="KMS keys are single-region", severity="high",
    pack="residency", types=("aws:kms/key:Key",),
    rationale="A multi-region key can be replicated to any region by anyone allowed to, taking the ability to "
    "decrypt the data outside the allow-list.",
    fix="kms (mlinfra creates single-region keys; remove custom multi-region keys)",
)
def aws_kms_single_region(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``multiRegion`` is off when residency is restricted."""
    if context.allowed_regions != () and res.get("multiRegion"):
        yield "multiRegion is on: replicas of this key may be created outside the allowed regions"


@stack_rule(
    id="residency-aws-s3-replication-destination", title="S3 replication targets buckets in allowed regions",
    severity="critical", pack="residency", targets=("aws",),
    rationale="Replication copies every object; a destination bucket outside the plan, or in a region outside "
    "the allow-list, moves data out of the jurisdiction.",
    fix="storage.buckets[] (replication destinations)",
)
def s3_replication_destination(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """Each replication rule's destination bucket is in this plan and in an allowed region."""
    buckets = {}
    for bucket in stack.of_type("aws:s3/bucket:Bucket"):
        for key in (bucket.get("bucket"), bucket.name, f"arn:aws:s3:::{bucket.get('bucket')}"):
            if key:
                buckets[key] = bucket
    for config in stack.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig"):
        for rule in config.get("rules", default=[]):
            target = str(rule.get("destination", {}).get("bucket", ""))
            bucket = buckets.get(target) or buckets.get(target.removeprefix("arn:aws:s3:::"))
            if bucket is None:
                yield (f"replication destination {target!r} is not created by this plan, so its region cannot be "
                       "verified", config.urn)
                continue
            region = bucket.region()
            if region and (message := _outside(region, context)):
                yield f"replication destination {target!r}: {message}", config.urn


@stack_rule(
    id="residency-gcp-bigquery-dataset-key-location", title="BigQuery dataset keys sit in the dataset's location",
    severity="high", pack="residency", targets=("gcp",),
    rationale="BigQuery requires the CMEK key in the dataset's location; a key elsewhere also puts the ability "
    "to decrypt the data outside it.",
    fix="kms (one key ring per region) and warehouse.datasets[].location",
)
def dataset_key_location(stack: Stack, context: PolicyContext) -> Iterator[tuple[str, str | None]]:
    """The key's location: from its resource name, else from the key ring it depends on in this plan."""
    rings = {r.urn: r for r in stack.of_type("gcp:kms/keyRing:KeyRing")}
    keys = {r.urn: r for r in stack.of_type("gcp:kms/cryptoKey:CryptoKey")}
    for dataset in stack.of_type("gcp:bigquery/dataset:Dataset"):
        if not dataset.has("defaultEncryptionConfiguration", "kmsKeyName"):
            continue
        dataset_location = str(dataset.get("location", default="US"))
        key_location = _key_location(dataset, keys, rings)
        if key_location is None:
            yield "the dataset's key is not created in this plan, so its location cannot be verified", dataset.urn
        elif not _same_location(dataset_location, key_location):
            yield (f"key location {key_location!r} differs from the dataset's location {dataset_location!r}",
                   dataset.urn)


def _key_location(dataset: Resource, keys: dict[str, Resource], rings: dict[str, Resource]) -> str | None:
    match = _KMS_LOCATION.search(str(dataset.known("defaultEncryptionConfiguration", "kmsKeyName", default="")))
    if match:
        return match.group(1)
    for dep in dataset.dependencies:
        key = keys.get(dep)
        for ring_urn in key.dependencies if key else ():
            if ring_urn in rings:
                return str(rings[ring_urn].get("location"))
    return None


def _same_location(dataset: str, key: str) -> bool:
    aliases = {"eu": "europe", "us": "us"}
    left, right = dataset.lower(), key.lower()
    return aliases.get(left, left) == aliases.get(right, right)


@resource_rule(
    id="residency-onprem-site-allowed", title="On-prem data services run at an allowed site", severity="critical",
    pack="residency", types=("kubernetes:*",), targets=("onprem",),
    rationale="On-prem there is no provider region: the platform labels what it deploys with the site's "
    "declared region (mlinfra.io/region), which must be allowed like any cloud region.",
    fix="target.region (the site's declared region) or residency.allowed_regions",
)
def onprem_site_allowed(res: Resource, context: PolicyContext) -> Iterator[str]:
    """The ``mlinfra.io/region`` label of Kubernetes objects the platform deploys."""
    region = res.get("metadata", "labels", "mlinfra.io/region")
    if isinstance(region, str) and region and not context.allows(region):
        yield f"site region {region!r} is outside the residency allow-list [{context.describe_allowed()}]"


RULES = rules_in(vars())
