"""AWS data components under Pulumi mocks: KMS, S3, SNS/SQS, Athena/Glue, monitoring, and their grants."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from pydantic import ValidationError

from mlinfra.components.aws import athena, events, iam, kms, monitoring, names, permissions, s3
from mlinfra.stacks.offline import Plan, PlannedResource, run_program

ACCOUNT = "123456789012"
REGION = "eu-west-1"
OWNED = ("kms", "s3", "events", "athena", "monitoring", "permissions", "names")

KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
QUEUE = "aws:sqs/queue:Queue"


def _provider_opts() -> pulumi.ResourceOptions:
    provider = aws.Provider("aws", region=REGION, allowed_account_ids=[ACCOUNT])
    return pulumi.ResourceOptions(provider=provider)


def _policy(name: str, statements: list[permissions.Statement], opts: pulumi.ResourceOptions) -> None:
    """Render grant statements through a real IAM policy so the plan records them resolved."""
    aws.iam.Policy(name, policy=permissions.document(statements), opts=opts)


def _program(env: str = "dev", protect: bool = False, lock: bool = False) -> None:
    opts = _provider_opts()
    keys = kms.AwsKms(f"{env}-kms", kms.AwsKmsArgs(env=env, account_id=ACCOUNT, region=REGION, protect=protect,
                                                   rotation_period_days=180), opts)
    raw = names.bucket_name(env, "raw", ACCOUNT, REGION)
    topic = events.SnsTopic(f"{env}-raw-events", events.SnsTopicArgs(
        topic_name=names.topic_name(env, "raw-events"), region=REGION, account_id=ACCOUNT, key=keys.key("events"),
        publisher_bucket_arns=[names.bucket_arn(raw)], protect=protect,
        subscriptions=[
            events.SqsSubscriptionArgs(name="ingest", queue_name=names.queue_name(env, "raw-events", "ingest"),
                                       ack_deadline_seconds=120, retention_days=3, max_delivery_attempts=7),
            events.SqsSubscriptionArgs(name="audit", queue_name=names.queue_name(env, "raw-events", "audit"),
                                       dead_letter=False),
        ],
    ), opts)
    bucket = s3.S3Bucket(f"{env}-raw", s3.S3BucketArgs(
        bucket_name=raw, region=REGION, key=keys.key("storage"), retention_days=10, lock_retention=lock,
        protect=protect,
        lifecycle=[
            s3.LifecycleRuleArgs(after_days=30, action="transition", storage_class="infrequent"),
            s3.LifecycleRuleArgs(after_days=90, action="transition", storage_class="archive"),
            s3.LifecycleRuleArgs(after_days=7, action="delete", noncurrent_only=True, prefixes=["tmp/", "scratch/"]),
        ],
        notifications=[s3.NotificationArgs(topic_name="raw-events", topic_arn=topic.topic_arn,
                                           events=["created", "deleted"], prefix="in/", waits_for=topic.policy)],
    ), opts)
    models = s3.S3Bucket(f"{env}-models", s3.S3BucketArgs(
        bucket_name=names.bucket_name(env, "models", ACCOUNT, REGION), region=REGION, key=keys.key("storage"),
        versioning=False, protect=protect), opts)
    warehouse = athena.AthenaWarehouse(f"{env}-warehouse", athena.AthenaWarehouseArgs(
        region=REGION, account_id=ACCOUNT, key=keys.key("warehouse"), workgroup_name=names.workgroup_name(env),
        data_bucket_name=names.bucket_name(env, "warehouse", ACCOUNT, REGION),
        results_bucket_name=names.bucket_name(env, "athena-results", ACCOUNT, REGION), protect=protect,
        teams=["vision", "nlp"],
        datasets=[
            athena.AthenaDatasetArgs(name="features", database_name=names.glue_database_name(env, "features"),
                                     table_expiration_days=14),
            athena.AthenaDatasetArgs(name="eu-wide", database_name=names.glue_database_name(env, "eu-wide")),
        ],
    ), opts)
    mon = monitoring.AwsMonitoring(f"{env}-monitoring", monitoring.AwsMonitoringArgs(
        region=REGION, key=keys.key("logs"), workspace_alias=env, log_group_name=names.platform_log_group(env),
        log_retention_days=90, protect=protect), opts)
    assert mon.workspace_arn is not None
    _policy("grant-raw-read", bucket.read_statements(), opts)
    _policy("grant-models-write", models.write_statements(), opts)
    _policy("grant-models-admin", models.admin_statements(), opts)
    _policy("grant-topic-publish", topic.publish_statements(), opts)
    _policy("grant-topic-subscribe", topic.subscribe_statements(), opts)
    _policy("grant-topic-admin", topic.admin_statements(), opts)
    for access in ("read", "write", "admin"):
        _policy(f"grant-features-{access}", getattr(warehouse, f"{access}_statements")("features", grantee="vision"),
                opts)


@cache
def dev_plan() -> Plan:
    return run_program(_program, project="mlinfra", stack="dev")


@cache
def prod_plan() -> Plan:
    return run_program(lambda: _program("prod", protect=True, lock=True), project="mlinfra", stack="prod")


def one(plan: Plan, type_: str, name: str) -> PlannedResource:
    found = [r for r in plan.of_type(type_) if r.name == name]
    assert len(found) == 1, f"{len(found)} {type_} named {name}: {[r.name for r in plan.of_type(type_)]}"
    return found[0]


def doc(resource: PlannedResource, field: str = "policy") -> dict[str, Any]:
    return json.loads(resource.inputs[field])


def statements(plan: Plan, policy_name: str) -> list[dict[str, Any]]:
    return doc(one(plan, "aws:iam/policy:Policy", policy_name))["Statement"]


def by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


# ----- every resource carries the region and goes through the explicit provider -------------------------
def test_every_resource_names_its_region_and_uses_the_provider():
    plan = dev_plan()
    provider = one(plan, "pulumi:providers:aws", "aws").urn
    custom = [r for r in plan.resources if r.custom and r.type.startswith("aws:")]
    assert len(custom) > 40
    assert all(r.provider and r.provider.startswith(provider) for r in custom)
    assert all(r.inputs.get("region") == REGION for r in custom if r.type != "aws:iam/policy:Policy"), \
        [r.name for r in custom if r.inputs.get("region") != REGION]


# ----- KMS ----------------------------------------------------------------------------------------------
def test_keys_rotate_with_the_period_and_are_single_region():
    plan = dev_plan()
    keys = {r.name: r.inputs for r in plan.of_type(KEY)}
    assert set(keys) == {f"dev-kms-{p}" for p in kms.PURPOSES}
    for key in keys.values():
        assert key["enableKeyRotation"] is True
        assert key["rotationPeriodInDays"] == 180
        assert key["deletionWindowInDays"] == 30
        assert key["multiRegion"] is False
        assert key["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    aliases = {r.inputs["name"] for r in plan.of_type("aws:kms/alias:Alias")}
    assert aliases == {f"alias/dev-{p}" for p in kms.PURPOSES}


def _principals(policy: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        for kind, value in st["Principal"].items():
            found |= {f"{kind}:{v}" for v in ([value] if isinstance(value, str) else value)}
    return found


def test_key_policies_name_only_the_intended_principals():
    plan = dev_plan()
    root = f"AWS:arn:aws:iam::{ACCOUNT}:root"
    policies = {p: doc(one(plan, KEY, f"dev-kms-{p}")) for p in kms.PURPOSES}
    for purpose in ("storage", "warehouse", "eks-secrets"):
        assert _principals(policies[purpose]) == {root}, purpose
    assert _principals(policies["logs"]) == {root, f"Service:logs.{REGION}.amazonaws.com"}
    logs = by_sid(policies["logs"])["CloudWatchLogsEncryptsThisAccountsLogGroups"]
    assert logs["Condition"] == {"ArnLike": {
        "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"}}
    assert _principals(policies["events"]) == {root, "Service:s3.amazonaws.com", "Service:sns.amazonaws.com"}
    ev = by_sid(policies["events"])["S3AndSnsPublishToEncryptedTopicsAndQueues"]
    assert sorted(ev["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert ev["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    slr = (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/"
           "AWSServiceRoleForAutoScaling")
    assert _principals(policies["disks"]) == {root, f"AWS:{slr}"}
    grant = by_sid(policies["disks"])["AutoScalingAttachesGrantsForAwsResources"]
    assert grant["Action"] == "kms:CreateGrant"
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_kms_args_bounds_and_unknown_purpose():
    base = {"env": "dev", "account_id": ACCOUNT, "region": REGION}
    assert kms.AwsKmsArgs(**base, rotation_period_days=2560).rotation_period_days == 2560
    with pytest.raises(ValidationError, match="rotation_period_days"):
        kms.AwsKmsArgs(**base, rotation_period_days=30)
    with pytest.raises(ValidationError, match="account_id"):
        kms.AwsKmsArgs(env="dev", account_id="12345", region=REGION)
    with pytest.raises(ValidationError, match="multi_region"):
        kms.AwsKmsArgs(**base, multi_region=True)  # type: ignore[call-arg]


# ----- S3 -----------------------------------------------------------------------------------------------
def _child(plan: Plan, kind: str, name: str) -> dict[str, Any]:
    return dict(one(plan, f"aws:s3/{kind[0].lower() + kind[1:]}:{kind}", name).inputs)


def test_buckets_sse_kms_with_bucket_key_private_and_acls_off():
    plan = dev_plan()
    buckets = plan.of_type(BUCKET)
    assert len(buckets) == 4
    for b in buckets:
        n = b.name.removesuffix("-bucket")
        assert len(b.inputs["bucket"]) <= 63 and b.inputs["bucket"].endswith(f"-{ACCOUNT}-{REGION}")
        assert b.inputs["forceDestroy"] is False
        (rule,) = _child(plan, "BucketServerSideEncryptionConfiguration", f"{n}-encryption")["rules"]
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith(f"arn:aws:kms:{REGION}:")
        assert rule["bucketKeyEnabled"] is True
        assert rule["blockedEncryptionTypes"] == ["SSE-C"]
        block = _child(plan, "BucketPublicAccessBlock", f"{n}-public-access-block")
        assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                               "restrictPublicBuckets"))
        assert _child(plan, "BucketOwnershipControls", f"{n}-ownership")["rule"] == {
            "objectOwnership": "BucketOwnerEnforced"}


def test_bucket_policy_denies_plain_http_and_old_tls():
    plan = dev_plan()
    policy = one(plan, "aws:s3/bucketPolicy:BucketPolicy", "dev-raw-policy")
    sids = by_sid(json.loads(policy.inputs["policy"]))
    arn = f"arn:aws:s3:::{names.bucket_name('dev', 'raw', ACCOUNT, REGION)}"
    for sid, condition in (("DenyInsecureTransport", {"Bool": {"aws:SecureTransport": "false"}}),
                           ("DenyTlsBelow12", {"NumericLessThan": {"s3:TlsVersion": "1.2"}})):
        assert sids[sid]["Effect"] == "Deny" and sids[sid]["Principal"] == "*"
        assert sids[sid]["Condition"] == condition
        assert sids[sid]["Resource"] == [arn, f"{arn}/*"]
    assert one(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
               "dev-raw-public-access-block").urn in policy.dependencies


def test_bucket_policy_denies_uploads_with_another_encryption_or_key():
    plan = dev_plan()
    sse, key_id = "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"
    keys = set()
    for bucket in ("dev-raw", "dev-warehouse-results"):
        sids = by_sid(doc(one(plan, "aws:s3/bucketPolicy:BucketPolicy", f"{bucket}-policy")))
        (rule,) = _child(plan, "BucketServerSideEncryptionConfiguration", f"{bucket}-encryption")["rules"]
        key_arn = rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]  # this bucket's own key
        assert key_arn.startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
        keys.add(key_arn)
        objects = f"{names.bucket_arn(one(plan, BUCKET, f'{bucket}-bucket').inputs['bucket'])}/*"
        algorithm, key = sids["DenyUploadsNotSseKms"], sids["DenyUploadsWithAnotherKmsKey"]
        for st in (algorithm, key):
            assert st["Effect"] == "Deny" and st["Principal"] == "*"
            assert st["Action"] == "s3:PutObject" and st["Resource"] == objects
            # Only when the upload sends the header: without it the bucket default (this key) applies.
            assert st["Condition"]["Null"] == {sse: "false"}
        # Not ...IfExists: on a Deny that would also refuse uploads sending no header at all.
        assert algorithm["Condition"]["StringNotEquals"] == {sse: "aws:kms"}
        # IfExists on the key id: 'aws:kms' without a key id means the aws/s3 managed key, refused too.
        assert key["Condition"]["StringNotEqualsIfExists"] == {key_id: key_arn}
    assert len(keys) == 2  # storage and warehouse keys: each bucket pins its own


def test_versioning_on_by_default_and_absent_when_off():
    plan = dev_plan()
    assert _child(plan, "BucketVersioning", "dev-raw-versioning")["versioningConfiguration"] == {"status": "Enabled"}
    assert not [r for r in plan.of_type("aws:s3/bucketVersioning:BucketVersioning") if r.name.startswith("dev-models")]


def test_lifecycle_maps_neutral_classes_prefixes_and_aborts_multipart():
    plan = dev_plan()
    rules = {r["id"]: r for r in _child(plan, "BucketLifecycleConfiguration", "dev-raw-lifecycle")["rules"]}
    assert rules[s3.ABORT_MULTIPART_RULE_ID]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert rules["0-current-infrequent-30d-all"]["transitions"] == [{"days": 30, "storageClass": "STANDARD_IA"}]
    assert rules["0-current-infrequent-30d-all"]["filter"] == {"prefix": ""}
    assert rules["1-current-archive-90d-all"]["transitions"] == [{"days": 90, "storageClass": "DEEP_ARCHIVE"}]
    for prefix in ("tmp/", "scratch/"):  # one S3 rule per prefix
        rule = rules[f"2-noncurrent-delete-7d-{prefix}"]
        assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 7}
        assert rule["filter"] == {"prefix": prefix}
        assert "expiration" not in rule
    assert all(r["status"] == "Enabled" for r in rules.values())
    assert s3.lifecycle_rules([s3.LifecycleRuleArgs(after_days=5, action="transition", storage_class="cold",
                                                    noncurrent_only=True)], 7)[1][
        "noncurrent_version_transitions"] == [{"noncurrent_days": 5, "storage_class": "GLACIER_IR"}]


def test_object_lock_governance_in_dev_compliance_when_locked():
    dev, prod = dev_plan(), prod_plan()
    # Never on the bucket (a change there replaces it): the lock configuration enables it, also on existing buckets.
    assert not [b.name for b in dev.of_type(BUCKET) if "objectLockEnabled" in b.inputs]
    lock = _child(dev, "BucketObjectLockConfiguration", "dev-raw-object-lock")
    assert lock["objectLockEnabled"] == "Enabled"
    assert lock["rule"] == {"defaultRetention": {"mode": "GOVERNANCE", "days": 10}}
    assert not [r for r in dev.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
                if r.name.startswith("dev-models")]
    assert one(dev, "aws:s3/bucketVersioning:BucketVersioning", "dev-raw-versioning").urn in one(
        dev, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "dev-raw-object-lock").dependencies
    assert _child(prod, "BucketObjectLockConfiguration", "prod-raw-object-lock")["rule"]["defaultRetention"][
        "mode"] == "COMPLIANCE"


def test_notifications_go_to_the_topic_after_its_policy():
    plan = dev_plan()
    note = one(plan, "aws:s3/bucketNotification:BucketNotification", "dev-raw-notifications")
    (topic,) = note.inputs["topics"]
    assert topic["topicArn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:dev-raw-events"
    assert topic["events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert topic["filterPrefix"] == "in/"
    assert one(plan, "aws:sns/topicPolicy:TopicPolicy", "dev-raw-events-policy").urn in note.dependencies


def _key(region: str = REGION) -> kms.AwsKmsKey:
    return kms.AwsKmsKey(purpose="storage", region=region, account_id=ACCOUNT, arn=None, key_id=None,  # type: ignore[arg-type]
                         alias="alias/x")


def test_bucket_args_validate_locally_with_the_fix():
    base = {"bucket_name": "dev-raw-bucket", "region": REGION, "key": _key()}
    assert s3.S3BucketArgs(**base, retention_days=3).retention_days == 3
    with pytest.raises(ValidationError, match="set versioning=True"):
        s3.S3BucketArgs(**base, retention_days=3, versioning=False)
    with pytest.raises(ValidationError, match="key created in that region"):
        s3.S3BucketArgs(**{**base, "key": _key("us-east-1")})
    with pytest.raises(ValidationError, match="only after 30 days"):
        s3.LifecycleRuleArgs(after_days=10, action="transition", storage_class="infrequent")
    assert s3.LifecycleRuleArgs(after_days=1, action="transition", storage_class="cold").after_days == 1
    with pytest.raises(ValidationError, match="bucket_name"):
        s3.S3BucketArgs(**{**base, "bucket_name": "Upper_Case"})
    note = {"topic_arn": "arn:aws:sns:eu-west-1:123456789012:t"}
    ok = [s3.NotificationArgs(topic_name="a", prefix="in/", **note), s3.NotificationArgs(topic_name="b", prefix="out/",
                                                                                         **note)]
    assert len(s3.S3BucketArgs(**base, notifications=ok).notifications) == 2
    clash = [s3.NotificationArgs(topic_name="a", **note), s3.NotificationArgs(topic_name="b", prefix="in/", **note)]
    with pytest.raises(ValidationError, match="fan out with several subscriptions"):
        s3.S3BucketArgs(**base, notifications=clash)


def test_prod_protects_data_stores_and_keys_dev_does_not():
    dev, prod = dev_plan(), prod_plan()
    stateful = (KEY, BUCKET, "aws:sns/topic:Topic", QUEUE, "aws:glue/catalogDatabase:CatalogDatabase",
                "aws:athena/workgroup:Workgroup", "aws:amp/workspace:Workspace", "aws:cloudwatch/logGroup:LogGroup",
                "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    for type_ in stateful:
        assert prod.of_type(type_) and all(r.protect for r in prod.of_type(type_)), type_
        assert not any(r.protect for r in dev.of_type(type_)), type_
    assert one(prod, "aws:cloudwatch/logGroup:LogGroup", "prod-monitoring-platform-logs").inputs[
        "deletionProtectionEnabled"] is True


# ----- SNS / SQS ----------------------------------------------------------------------------------------
def test_topic_and_queues_are_kms_encrypted_with_the_events_key():
    plan = dev_plan()
    events_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/"
    topic = one(plan, "aws:sns/topic:Topic", "dev-raw-events-topic").inputs
    assert topic["kmsMasterKeyId"].startswith(events_key)
    events_arn = topic["kmsMasterKeyId"]
    queues = plan.of_type(QUEUE)
    assert {q.name for q in queues} == {"dev-raw-events-ingest-queue", "dev-raw-events-ingest-dlq",
                                        "dev-raw-events-audit-queue"}
    for q in queues:
        assert q.inputs["kmsMasterKeyId"] == events_arn
        assert q.inputs["kmsDataKeyReusePeriodSeconds"] == 300
    topic_deps = one(plan, "aws:sns/topic:Topic", "dev-raw-events-topic").dependencies
    assert one(plan, KEY, "dev-kms-events").urn in topic_deps
    assert one(plan, KEY, "dev-kms-storage").urn not in topic_deps
    ingest = one(plan, QUEUE, "dev-raw-events-ingest-queue").inputs
    assert ingest["visibilityTimeoutSeconds"] == 120
    assert ingest["messageRetentionSeconds"] == 3 * 86400
    assert ingest["receiveWaitTimeSeconds"] == 20


def test_dead_letter_queue_redrive_and_redrive_allow():
    plan = dev_plan()
    ingest = one(plan, QUEUE, "dev-raw-events-ingest-queue").inputs
    dlq = one(plan, QUEUE, "dev-raw-events-ingest-dlq").inputs
    assert dlq["name"] == "dev-raw-events-ingest-dlq"
    assert dlq["messageRetentionSeconds"] == 14 * 86400
    redrive = json.loads(ingest["redrivePolicy"])
    assert redrive == {"deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dev-raw-events-ingest-dlq",
                       "maxReceiveCount": 7}
    allow = one(plan, "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy", "dev-raw-events-ingest-dlq-redrive-allow")
    assert json.loads(allow.inputs["redriveAllowPolicy"]) == {
        "redrivePermission": "byQueue", "sourceQueueArns": [f"arn:aws:sqs:{REGION}:{ACCOUNT}:dev-raw-events-ingest"]}
    assert "redrivePolicy" not in one(plan, QUEUE, "dev-raw-events-audit-queue").inputs


def test_topic_policy_lets_only_the_named_buckets_publish_over_tls():
    plan = dev_plan()
    sids = by_sid(doc(one(plan, "aws:sns/topicPolicy:TopicPolicy", "dev-raw-events-policy")))
    assert set(sids) == {"S3PublishesFromNamedBuckets", "DenyInsecureTransport"}
    s3_publish = sids["S3PublishesFromNamedBuckets"]
    assert s3_publish["Principal"] == {"Service": "s3.amazonaws.com"} and s3_publish["Action"] == "sns:Publish"
    assert s3_publish["Condition"] == {
        "ArnLike": {"aws:SourceArn": [names.bucket_arn(names.bucket_name("dev", "raw", ACCOUNT, REGION))]},
        "StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert sids["DenyInsecureTransport"]["Effect"] == "Deny"


def test_queue_policy_accepts_only_this_topic_and_subscription_waits_for_it():
    plan = dev_plan()
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:dev-raw-events"
    policy = one(plan, "aws:sqs/queuePolicy:QueuePolicy", "dev-raw-events-ingest-queue-policy")
    sids = by_sid(doc(policy))
    assert sids["OnlyThisTopicSends"]["Principal"] == {"Service": "sns.amazonaws.com"}
    assert sids["OnlyThisTopicSends"]["Action"] == "sqs:SendMessage"
    assert sids["OnlyThisTopicSends"]["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}
    assert sids["DenyInsecureTransport"]["Effect"] == "Deny"
    sub = one(plan, "aws:sns/topicSubscription:TopicSubscription", "dev-raw-events-ingest-subscription")
    assert sub.inputs["protocol"] == "sqs" and sub.inputs["rawMessageDelivery"] is True
    assert sub.inputs["endpoint"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:dev-raw-events-ingest"
    assert policy.urn in sub.dependencies


def test_subscription_filter_is_refused_with_the_config_path():
    with pytest.raises(ValidationError, match=r"events\.topics\[\]\.subscriptions\[\]\.filter"):
        events.SqsSubscriptionArgs(name="a", queue_name="q", filter="attributes.kind = \"x\"")
    assert events.SqsSubscriptionArgs(name="a", queue_name="q").filter is None
    assert events.SqsSubscriptionArgs(name="a", queue_name="q" * 80, dead_letter=False).queue_name


def test_default_dead_letter_queue_name_fits_sqs_limit():
    assert events.SqsSubscriptionArgs(name="a", queue_name="dev-raw-ingest").dead_letter_name == "dev-raw-ingest-dlq"
    assert events.SqsSubscriptionArgs(name="a", queue_name="q" * 76).dead_letter_name == "q" * 76 + "-dlq"
    long = events.SqsSubscriptionArgs(name="a", queue_name="q" * 79 + "a").dead_letter_name
    assert len(long) <= 80 and long.endswith("-dlq") and long.startswith("q" * 60)
    assert long == events.SqsSubscriptionArgs(name="b", queue_name="q" * 79 + "a").dead_letter_name  # stable
    assert long != events.SqsSubscriptionArgs(name="a", queue_name="q" * 79 + "b").dead_letter_name  # distinct
    explicit = events.SqsSubscriptionArgs(name="a", queue_name="q" * 80, dead_letter_queue_name="my-dlq")
    assert explicit.dead_letter_name == "my-dlq"

    def program() -> None:
        opts = _provider_opts()
        keys = kms.AwsKms("k", kms.AwsKmsArgs(env="x", account_id=ACCOUNT, region=REGION, purposes=("events",)),
                          opts)
        events.SnsTopic("t", events.SnsTopicArgs(
            topic_name="t", region=REGION, account_id=ACCOUNT, key=keys.key("events"),
            subscriptions=[events.SqsSubscriptionArgs(name="long", queue_name="q" * 80)]), opts)

    plan = run_program(program, project="mlinfra", stack="x")
    dlq = one(plan, QUEUE, "t-long-dlq").inputs["name"]
    assert dlq == events.SqsSubscriptionArgs(name="long", queue_name="q" * 80).dead_letter_name
    assert len(dlq) <= 80 and json.loads(one(plan, QUEUE, "t-long-queue").inputs["redrivePolicy"])[
        "deadLetterTargetArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{dlq}"


# ----- Athena / Glue ------------------------------------------------------------------------------------
def test_workgroup_is_enforced_encrypted_and_scan_limited():
    plan = dev_plan()
    wg = one(plan, "aws:athena/workgroup:Workgroup", "dev-warehouse-workgroup").inputs
    conf = wg["configuration"]
    assert conf["enforceWorkgroupConfiguration"] is True
    assert conf["publishCloudwatchMetricsEnabled"] is True
    assert conf["bytesScannedCutoffPerQuery"] == 1024**4
    assert conf["engineVersion"] == {"selectedEngineVersion": "AUTO"}
    result = conf["resultConfiguration"]
    results_bucket = names.bucket_name("dev", "athena-results", ACCOUNT, REGION)
    assert result["outputLocation"] == f"s3://{results_bucket}/athena-results/"
    assert result["expectedBucketOwner"] == ACCOUNT
    assert result["encryptionConfiguration"]["encryptionOption"] == "SSE_KMS"
    warehouse_key = one(plan, KEY, "dev-kms-warehouse")
    assert warehouse_key.urn in one(plan, "aws:athena/workgroup:Workgroup", "dev-warehouse-workgroup").dependencies
    (rule,) = _child(plan, "BucketServerSideEncryptionConfiguration", "dev-warehouse-results-encryption")["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == result["encryptionConfiguration"][
        "kmsKeyArn"]
    results_rules = {r["id"]: r for r in _child(plan, "BucketLifecycleConfiguration",
                                                "dev-warehouse-results-lifecycle")["rules"]}
    assert results_rules["0-current-delete-30d-all"]["expiration"] == {"days": 30}


def test_each_team_has_its_own_enforced_workgroup_and_results_prefix():
    plan = dev_plan()
    results_bucket = names.bucket_name("dev", "athena-results", ACCOUNT, REGION)
    env = one(plan, "aws:athena/workgroup:Workgroup", "dev-warehouse-workgroup").inputs["configuration"]
    for team in ("vision", "nlp"):
        wg = one(plan, "aws:athena/workgroup:Workgroup", f"dev-warehouse-{team}-workgroup").inputs
        assert wg["name"] == f"dev-{team}"
        conf = wg["configuration"]
        # Enforced, so a client cannot send its results elsewhere (nor to another team's prefix).
        assert conf["enforceWorkgroupConfiguration"] is True
        assert conf["resultConfiguration"]["outputLocation"] == f"s3://{results_bucket}/{team}/"
        assert {k: v for k, v in conf.items() if k != "resultConfiguration"} == {
            k: v for k, v in env.items() if k != "resultConfiguration"}
        assert conf["resultConfiguration"]["encryptionConfiguration"] == env["resultConfiguration"][
            "encryptionConfiguration"]
    assert athena.team_workgroup_name("w" * 125, "vision") != athena.team_workgroup_name("w" * 125, "nlp")
    assert len(athena.team_workgroup_name("w" * 128, "vision")) <= 128


def test_glue_database_per_dataset_and_table_expiry_as_prefix_lifecycle():
    plan = dev_plan()
    data_bucket = names.bucket_name("dev", "warehouse", ACCOUNT, REGION)
    dbs = {r.name: r.inputs for r in plan.of_type("aws:glue/catalogDatabase:CatalogDatabase")}
    assert dbs["dev-warehouse-features"]["name"] == "dev_features"
    assert dbs["dev-warehouse-features"]["locationUri"] == f"s3://{data_bucket}/features/"
    assert dbs["dev-warehouse-features"]["catalogId"] == ACCOUNT
    assert dbs["dev-warehouse-eu-wide"]["name"] == "dev_eu_wide"
    rules = {r["id"]: r for r in _child(plan, "BucketLifecycleConfiguration", "dev-warehouse-data-lifecycle")["rules"]}
    assert rules["0-current-delete-14d-features/"] == {
        "id": "0-current-delete-14d-features/", "status": "Enabled", "filter": {"prefix": "features/"},
        "expiration": {"days": 14}}
    assert not [i for i in rules if "eu-wide" in i]
    enc = one(plan, "aws:glue/dataCatalogEncryptionSettings:DataCatalogEncryptionSettings",
              "dev-warehouse-catalog-encryption").inputs["dataCatalogEncryptionSettings"]
    assert enc["encryptionAtRest"]["catalogEncryptionMode"] == "SSE-KMS"
    assert enc["connectionPasswordEncryption"]["returnConnectionPasswordEncrypted"] is True


def test_catalog_encryption_is_optional():
    def program() -> None:
        opts = _provider_opts()
        keys = kms.AwsKms("k", kms.AwsKmsArgs(env="x", account_id=ACCOUNT, region=REGION, purposes=("warehouse",)),
                          opts)
        athena.AthenaWarehouse("w", athena.AthenaWarehouseArgs(
            region=REGION, account_id=ACCOUNT, key=keys.key("warehouse"), workgroup_name="x",
            data_bucket_name="x-data-bucket", results_bucket_name="x-results-bucket",
            manage_catalog_encryption=False), opts)

    plan = run_program(program, project="mlinfra", stack="x")
    assert not plan.of_type("aws:glue/dataCatalogEncryptionSettings:DataCatalogEncryptionSettings")
    assert plan.of_type("aws:athena/workgroup:Workgroup")


# ----- monitoring ---------------------------------------------------------------------------------------
def test_prometheus_workspace_and_log_group_are_encrypted_with_the_logs_key():
    plan = dev_plan()
    logs_key = one(plan, KEY, "dev-kms-logs")
    ws = one(plan, "aws:amp/workspace:Workspace", "dev-monitoring-prometheus")
    assert ws.inputs["alias"] == "dev" and ws.inputs["kmsKeyArn"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    assert logs_key.urn in ws.dependencies
    group = one(plan, "aws:cloudwatch/logGroup:LogGroup", "dev-monitoring-platform-logs")
    assert group.inputs["name"] == "/mlinfra/dev/platform"
    assert group.inputs["retentionInDays"] == 90
    assert group.inputs["kmsKeyId"] == ws.inputs["kmsKeyArn"]
    assert group.inputs["deletionProtectionEnabled"] is False


def test_log_retention_must_be_a_cloudwatch_period():
    base = {"region": REGION, "key": _key(), "workspace_alias": "dev", "log_group_name": "/mlinfra/dev/platform"}
    assert monitoring.AwsMonitoringArgs(**base, log_retention_days=365).log_retention_days == 365
    with pytest.raises(ValidationError, match="nearest: 30"):
        monitoring.AwsMonitoringArgs(**base, log_retention_days=31)


# ----- grants -------------------------------------------------------------------------------------------
def _actions(stmts: list[dict[str, Any]]) -> set[str]:
    return {a for s in stmts for a in s["Action"]}


def _scoped(stmts: list[dict[str, Any]]) -> None:
    for s in stmts:
        assert s["Effect"] == "Allow"
        assert s["Resource"] and "*" not in s["Resource"], s
        assert all(r.startswith("arn:aws:") for r in s["Resource"]), s


def _kms(stmts: list[dict[str, Any]]) -> set[str]:
    return {a for s in stmts for a in s["Action"] if a.startswith("kms:")}


def test_bucket_grants_are_scoped_and_include_the_key():
    plan = dev_plan()
    raw = names.bucket_arn(names.bucket_name("dev", "raw", ACCOUNT, REGION))
    read = statements(plan, "grant-raw-read")
    _scoped(read)
    assert {r for s in read for r in s["Resource"] if r.startswith("arn:aws:s3")} == {raw, f"{raw}/*"}
    assert "s3:GetObject" in _actions(read) and "s3:PutObject" not in _actions(read)
    assert _kms(read) == {"kms:Decrypt", "kms:DescribeKey"}
    write = statements(plan, "grant-models-write")
    _scoped(write)
    assert {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"} <= _actions(write)
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= _kms(write)
    admin = statements(plan, "grant-models-admin")
    _scoped(admin)
    assert "s3:PutObjectRetention" in _actions(admin)
    assert not {"s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutBucketPublicAccessBlock",
                "s3:PutEncryptionConfiguration"} & _actions(admin)


def test_topic_grants_are_scoped_and_include_the_key():
    plan = dev_plan()
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:dev-raw-events"
    publish = statements(plan, "grant-topic-publish")
    _scoped(publish)
    assert publish[0] == {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": [topic_arn]}
    assert _kms(publish) == {"kms:GenerateDataKey", "kms:Decrypt"}
    subscribe = statements(plan, "grant-topic-subscribe")
    _scoped(subscribe)
    queues = {r for s in subscribe for r in s["Resource"] if ":sqs:" in r}
    assert queues == {f"arn:aws:sqs:{REGION}:{ACCOUNT}:dev-raw-events-{q}" for q in ("ingest", "audit")}
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes"} <= _actions(subscribe)
    assert _kms(subscribe) == {"kms:Decrypt", "kms:DescribeKey"}
    admin = statements(plan, "grant-topic-admin")
    _scoped(admin)
    assert f"arn:aws:sqs:{REGION}:{ACCOUNT}:dev-raw-events-ingest-dlq" in {r for s in admin for r in s["Resource"]}
    assert "sqs:StartMessageMoveTask" in _actions(admin)


def _allowed(stmts: list[dict[str, Any]], resource: str) -> set[str]:
    return {a for s in stmts if resource in s["Resource"] for a in s["Action"]}


def test_topic_admin_can_redrive_dead_letters_to_their_queue_only():
    admin = statements(dev_plan(), "grant-topic-admin")
    sqs = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dev-raw-events"
    # The redrive source (the dead-letter queue): start, watch, cancel, and the receive/delete it performs.
    assert {"sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks", "sqs:CancelMessageMoveTask",
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= _allowed(admin, f"{sqs}-ingest-dlq")
    # The destination: the queue the dead letters came from.
    assert "sqs:SendMessage" in _allowed(admin, f"{sqs}-ingest")
    # Nowhere else: not the dead-letter queue itself, not a queue without one, never a wildcard.
    assert "sqs:SendMessage" not in _allowed(admin, f"{sqs}-ingest-dlq")
    assert "sqs:SendMessage" not in _allowed(admin, f"{sqs}-audit")
    send = [s for s in admin if "sqs:SendMessage" in s["Action"]]
    assert send == [{"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [f"{sqs}-ingest"]}]
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= _kms(admin)


def test_dataset_grants_are_scoped_to_one_database_and_prefix():
    plan = dev_plan()
    data = names.bucket_arn(names.bucket_name("dev", "warehouse", ACCOUNT, REGION))
    results = names.bucket_arn(names.bucket_name("dev", "athena-results", ACCOUNT, REGION))
    glue = f"arn:aws:glue:{REGION}:{ACCOUNT}"
    for access in ("read", "write", "admin"):
        stmts = statements(plan, f"grant-features-{access}")
        _scoped(stmts)
        resources = {r for s in stmts for r in s["Resource"]}
        assert {f"{glue}:catalog", f"{glue}:database/dev_features", f"{glue}:table/dev_features/*"} <= resources
        assert not [r for r in resources if "eu_wide" in r or "eu-wide" in r]
        # Only the grantee's workgroup and results prefix: not the environment's, not another team's.
        workgroups = {r for r in resources if ":athena:" in r}
        assert workgroups == {f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/dev-vision"}
        objects = {r for r in resources if r.startswith(f"{data}/") or r.startswith(f"{results}/")}
        assert objects == {f"{data}/features/*", f"{results}/vision/*"}
        results_listing = [s for s in stmts if "s3:ListBucket" in s["Action"] and s["Resource"] == [results]]
        assert results_listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["vision/", "vision/*"]}}
        listing = [s for s in stmts if "s3:ListBucket" in s["Action"] and s["Resource"] == [data]]
        assert listing and listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["features/", "features/*"]}}
        assert {"kms:Decrypt", "kms:GenerateDataKey"} <= _kms(stmts)
        assert "athena:StartQueryExecution" in _actions(stmts)
        writes_data = any("s3:PutObject" in s["Action"] and s["Resource"] == [f"{data}/features/*"] for s in stmts)
        assert writes_data is (access != "read")
        assert ("glue:CreateTable" in _actions(stmts)) is (access != "read")
    with pytest.raises(KeyError, match="no dataset 'nope'"):
        run_program(lambda: _warehouse_grant("nope", "vision"), project="mlinfra", stack="x")
    with pytest.raises(KeyError, match=r"no workgroup for team 'nope'; add it to AthenaWarehouseArgs\.teams"):
        run_program(lambda: _warehouse_grant("features", "nope"), project="mlinfra", stack="x")


def _warehouse_grant(dataset: str, grantee: str) -> None:
    opts = _provider_opts()
    keys = kms.AwsKms("k", kms.AwsKmsArgs(env="x", account_id=ACCOUNT, region=REGION, purposes=("warehouse",)), opts)
    wh = athena.AthenaWarehouse("w", athena.AthenaWarehouseArgs(
        region=REGION, account_id=ACCOUNT, key=keys.key("warehouse"), workgroup_name="x", teams=["vision"],
        datasets=[athena.AthenaDatasetArgs(name="features", database_name="x_features")],
        data_bucket_name="x-data-bucket", results_bucket_name="x-results-bucket"), opts)
    wh.read_statements(dataset, grantee=grantee)


# ----- a team role holding many grants stays far below IAM's inline policy limit --------------------------
# Access levels per bucket, topic and dataset: a prod-like team, and one using every level (the most distinct
# action sets, so the least merging).
TYPICAL = (("read", "write", "write"), ("subscribe", "publish"), ("read", "write", "read"))
EVERY_LEVEL = (("read", "write", "admin"), ("publish", "admin"), ("read", "write", "admin"))


def _busy_team(levels: tuple[tuple[str, ...], ...]) -> None:
    bucket_levels, topic_levels, dataset_levels = levels
    opts = _provider_opts()
    keys = kms.AwsKms("k", kms.AwsKmsArgs(env="prod", account_id=ACCOUNT, region=REGION), opts)
    buckets = [s3.S3Bucket(f"b{i}", s3.S3BucketArgs(
        bucket_name=names.bucket_name("prod", f"bucket{i}", ACCOUNT, REGION), region=REGION,
        key=keys.key("storage")), opts) for i in range(3)]
    topics = [events.SnsTopic(f"t{i}", events.SnsTopicArgs(
        topic_name=f"prod-topic{i}", region=REGION, account_id=ACCOUNT, key=keys.key("events"),
        subscriptions=[events.SqsSubscriptionArgs(name=s, queue_name=f"prod-topic{i}-{s}") for s in ("a", "b")],
    ), opts) for i in range(2)]
    warehouse = athena.AthenaWarehouse("w", athena.AthenaWarehouseArgs(
        region=REGION, account_id=ACCOUNT, key=keys.key("warehouse"), workgroup_name="prod", teams=["vision"],
        data_bucket_name=names.bucket_name("prod", "warehouse", ACCOUNT, REGION),
        results_bucket_name=names.bucket_name("prod", "query-results", ACCOUNT, REGION),
        datasets=[athena.AthenaDatasetArgs(name=d, database_name=f"prod_{d}") for d in ("a", "b", "c")]), opts)
    grants: list[permissions.Statement] = []
    for bucket, level in zip(buckets, bucket_levels, strict=True):
        grants += getattr(bucket, f"{level}_statements")()
    for topic, level in zip(topics, topic_levels, strict=True):
        grants += getattr(topic, f"{level}_statements")()
    for dataset, level in zip(("a", "b", "c"), dataset_levels, strict=True):
        grants += getattr(warehouse, f"{level}_statements")(dataset, grantee="vision")
    _policy("uncompacted", grants, opts)  # the same grants as given, for comparison
    iam.TeamRole("vision", iam.TeamRoleArgs(env="prod", team="vision", statements=grants), opts)


def _triples(stmts: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """Every (effect+condition, action, resource) a policy allows."""
    return {(s["Effect"] + json.dumps(s.get("Condition"), sort_keys=True), a, r)
            for s in stmts for a in _as(s["Action"]) for r in _as(s["Resource"])}


def _as(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize(("levels", "limit"), [(TYPICAL, 6000), (EVERY_LEVEL, 7500)])
def test_team_policy_with_many_grants_is_compact_and_keeps_every_permission(levels: Any, limit: int):
    plan = run_program(lambda: _busy_team(levels), project="mlinfra", stack="prod")
    text = one(plan, "aws:iam/rolePolicy:RolePolicy", "vision-policy").inputs["policy"]
    policy = json.loads(text)["Statement"]
    assert len(text) < limit < iam.MAX_INLINE_POLICY, len(text)
    # No statement twice, and no two statements that could still be one.
    assert len({json.dumps(s, sort_keys=True) for s in policy}) == len(policy)
    mergeable = [(s["Effect"], frozenset(_as(s["Action"])), json.dumps(s.get("Condition"), sort_keys=True))
                 for s in policy]
    assert len(set(mergeable)) == len(mergeable)
    # Merging loses nothing and adds nothing: the same actions on the same resources under the same conditions.
    given = statements(plan, "uncompacted")
    assert len(json.dumps(given, separators=(",", ":"))) > 1.5 * len(text)
    assert _triples(policy) == _triples(given)
    # The statements every dataset grant repeats (workgroup, results prefix, key) are kept once.
    assert len([s for s in policy if any(":athena:" in r for r in _as(s["Resource"]))]) == 1
    assert len([r for s in policy for r in _as(s["Resource"]) if r.endswith("/vision/*")]) == 1


def test_statement_builder_refuses_wildcard_resources():
    with pytest.raises(ValueError, match="never granted"):
        permissions.allow(permissions.S3_OBJECT_READ, ["*"])
    with pytest.raises(ValueError, match="never granted"):
        permissions.allow(permissions.SNS_PUBLISH, [])


# ----- names --------------------------------------------------------------------------------------------
def test_names_fit_aws_limits_deterministically():
    long = names.bucket_name("environment-name-quite-long", "bucket-name-also-long", ACCOUNT, "ap-southeast-2")
    assert len(long) <= 63 and long == long.lower()
    assert long == names.bucket_name("environment-name-quite-long", "bucket-name-also-long", ACCOUNT, "ap-southeast-2")
    assert long != names.bucket_name("environment-name-quite-long", "bucket-name-also-lonh", ACCOUNT, "ap-southeast-2")
    assert long.endswith(f"-{ACCOUNT}-ap-southeast-2")
    assert names.bucket_name("Dev", "Raw", ACCOUNT, REGION) == f"dev-raw-{ACCOUNT}-{REGION}"
    q = names.queue_name("e" * 40, "t" * 40, "s" * 40, suffix="-dlq")
    assert len(q) <= 80 and q.endswith("-dlq")
    assert len(names.iam_name("x" * 50, "y" * 50)) == 64
    assert names.glue_database_name("ml-dev", "eu-wide") == "ml_dev_eu_wide"
    assert names.kms_alias("ml-dev", "eks-secrets") == "alias/ml-dev-eks-secrets"


# ----- style contract -----------------------------------------------------------------------------------
def test_topic_warehouse_and_monitoring_args_validate_locally():
    topic = {"topic_name": "dev-raw-events", "region": REGION, "account_id": ACCOUNT}
    assert events.SnsTopicArgs(**topic, key=_key()).region == REGION
    with pytest.raises(ValidationError, match="events key created in the topic's region"):
        events.SnsTopicArgs(**topic, key=_key("us-east-1"))
    wh = {"region": REGION, "account_id": ACCOUNT, "key": _key(), "workgroup_name": "dev",
          "data_bucket_name": "d-bucket", "results_bucket_name": "r-bucket"}
    ds = athena.AthenaDatasetArgs(name="features", database_name="dev_features")
    assert len(athena.AthenaWarehouseArgs(**wh, datasets=[ds]).datasets) == 1
    with pytest.raises(ValidationError, match="duplicate dataset names"):
        athena.AthenaWarehouseArgs(**wh, datasets=[ds, ds])
    with pytest.raises(ValidationError, match="'lock_retention' needs 'retention_days'"):
        s3.S3BucketArgs(bucket_name="dev-raw-bucket", region=REGION, key=_key(), lock_retention=True)
    mon = {"workspace_alias": "dev", "log_group_name": "/mlinfra/dev/platform"}
    with pytest.raises(ValidationError, match="logs key created in that region"):
        monitoring.AwsMonitoringArgs(**mon, region=REGION, key=_key("us-east-1"))
