"""The typed stack config: one :class:`StackConfig` per environment, the only source of truth.

Cloud-neutral sections (storage, events, warehouse, clusters, node pools, training, serving, monitoring,
iam) say *what* is needed; the target decides *how*. Every field is documented; the JSON Schema is
generated from these models (``mlinfra schema``).
"""

from mlinfra.stacks.config.access import ExtensionConfig, IamConfig, PoliciesConfig, TeamConfig, Waiver
from mlinfra.stacks.config.base import ConfigIssues, StrictModel, format_loc
from mlinfra.stacks.config.compute import (
    AcceleratorConfig,
    ClusterConfig,
    MonitoringConfig,
    NodePoolConfig,
    QueueConfig,
    ServingConfig,
    SystemPoolConfig,
    Taint,
    TrainingConfig,
)
from mlinfra.stacks.config.data import (
    BucketConfig,
    BucketNotification,
    DatasetConfig,
    DeadLetterConfig,
    EventsConfig,
    LifecycleRule,
    StorageConfig,
    SubscriptionConfig,
    TopicConfig,
    WarehouseConfig,
)
from mlinfra.stacks.config.platform import BackendConfig, ChartOverride, HelmConfig, NamingConfig
from mlinfra.stacks.config.stack import StackConfig
from mlinfra.stacks.config.target import (
    AuthorizedNetwork,
    KmsConfig,
    NetworkConfig,
    ResidencyConfig,
    TargetConfig,
)

__all__ = [
    "AcceleratorConfig",
    "AuthorizedNetwork",
    "BackendConfig",
    "BucketConfig",
    "BucketNotification",
    "ChartOverride",
    "ClusterConfig",
    "ConfigIssues",
    "DatasetConfig",
    "DeadLetterConfig",
    "EventsConfig",
    "ExtensionConfig",
    "HelmConfig",
    "IamConfig",
    "KmsConfig",
    "LifecycleRule",
    "MonitoringConfig",
    "NamingConfig",
    "NetworkConfig",
    "NodePoolConfig",
    "PoliciesConfig",
    "QueueConfig",
    "ResidencyConfig",
    "ServingConfig",
    "StackConfig",
    "StorageConfig",
    "StrictModel",
    "SubscriptionConfig",
    "SystemPoolConfig",
    "Taint",
    "TargetConfig",
    "TeamConfig",
    "TopicConfig",
    "TrainingConfig",
    "Waiver",
    "WarehouseConfig",
    "format_loc",
]
