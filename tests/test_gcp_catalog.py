"""The machine catalog through the whole program: a neutral accelerator in the config becomes the right GKE
machine type, guest accelerators, taints and placement on the node pool."""

from __future__ import annotations

from typing import Any

import pytest

from mlinfra.components.platform import MlPlatform
from mlinfra.stacks.config import StackConfig
from mlinfra.stacks.offline import run_program

POOL = "gcp:container/nodePool:NodePool"


def pool_inputs(pool: dict[str, Any]) -> list[dict[str, Any]]:
    """Node pool inputs the program creates for one configured pool (several for multi-slice TPUs)."""
    config = StackConfig.model_validate({
        "name": "cat",
        "target": {"cloud": "gcp", "project": "acme-cat", "region": "us-central1", "zones": ["us-central1-a"]},
        "node_pools": [{"name": "p", "min_nodes": 0, "max_nodes": 2, **pool}],
    })
    plan = run_program(lambda: MlPlatform("env", config), project="mlinfra", stack="cat")
    return [r.inputs for r in plan.of_type(POOL) if r.name.startswith("cat-main-p")]


@pytest.mark.parametrize(("accelerator", "machine", "gke_type", "count"), [
    ({"type": "nvidia-t4", "count": 2}, "n1-standard-8", "nvidia-tesla-t4", 2),
    ({"type": "nvidia-t4", "count": 1}, "n1-standard-8", "nvidia-tesla-t4", 1),
    ({"type": "nvidia-a100-40gb", "count": 8}, "a2-highgpu-8g", "nvidia-tesla-a100", 8),
    ({"type": "nvidia-a100-80gb", "count": 1}, "a2-ultragpu-1g", "nvidia-a100-80gb", 1),
    ({"type": "nvidia-a100-80gb", "count": 8}, "a2-ultragpu-8g", "nvidia-a100-80gb", 8),
    ({"type": "nvidia-h100-80gb", "count": 8}, "a3-highgpu-8g", "nvidia-h100-80gb", 8),
    ({"type": "nvidia-l4", "count": 4}, "g2-standard-48", "nvidia-l4", 4),
])
def test_gpu_pools_get_the_catalog_machine_and_guest_accelerators(accelerator: dict[str, Any], machine: str,
                                                                  gke_type: str, count: int) -> None:
    (pool,) = pool_inputs({"accelerator": accelerator, "vcpus": 8})
    nc = pool["nodeConfig"]
    assert nc["machineType"] == machine
    assert nc["guestAccelerators"] == [{"type": gke_type, "count": count,
                                        "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}]
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in nc["taints"]
    assert "placementPolicy" not in pool


def test_t4_host_size_follows_vcpus_and_machine_class() -> None:
    (pool,) = pool_inputs({"accelerator": {"type": "nvidia-t4", "count": 4}, "vcpus": 16,
                           "machine_class": "memory"})
    assert pool["nodeConfig"]["machineType"] == "n1-highmem-16"


@pytest.mark.parametrize(("accelerator", "machine"), [
    ({"type": "tpu-v5p", "topology": "2x2x1"}, "ct5p-hightpu-4t"),
    ({"type": "tpu-v6e", "topology": "2x4"}, "ct6e-standard-8t"),
    ({"type": "tpu-v5e", "topology": "2x2"}, "ct5lp-hightpu-4t"),
])
def test_single_host_tpu_slices(accelerator: dict[str, Any], machine: str) -> None:
    (pool,) = pool_inputs({"accelerator": accelerator})
    nc = pool["nodeConfig"]
    assert nc["machineType"] == machine
    assert "placementPolicy" not in pool  # one host: no COMPACT placement
    assert "guestAccelerators" not in nc  # TPUs come with the machine type
    assert pool["nodeLocations"] == ["us-central1-a"]
    assert {"key": "google.com/tpu", "value": "present", "effect": "NO_SCHEDULE"} in nc["taints"]
    assert pool["autoscaling"]["totalMaxNodeCount"] == 2


def test_multi_host_v5p_slice_is_one_compact_pool_per_slice() -> None:
    pools = pool_inputs({"accelerator": {"type": "tpu-v5p", "topology": "2x2x2"}, "max_nodes": 4})
    assert [p["name"] for p in pools] == ["p", "p-s1"]
    for p in pools:
        assert p["nodeConfig"]["machineType"] == "ct5p-hightpu-4t"
        assert p["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "2x2x2"}
        assert p["autoscaling"]["totalMaxNodeCount"] == 2  # 8 chips / 4 per host


def test_cpu_pools_by_machine_class() -> None:
    assert pool_inputs({"vcpus": 16})[0]["nodeConfig"]["machineType"] == "n2-standard-16"
    assert pool_inputs({"vcpus": 16, "machine_class": "memory"})[0]["nodeConfig"]["machineType"] == "n2-highmem-16"
    assert pool_inputs({"vcpus": 16, "machine_class": "compute"})[0]["nodeConfig"]["machineType"] == "c2-standard-16"
