"""The neutral accelerator vocabulary and what each target provides for it.

A config names an accelerator neutrally (``nvidia-l4``, ``tpu-v5e``); each target maps it to its own machine
shapes. Pure data with small lookups, no Pulumi import: config validation uses it to reject what a target
cannot provide (naming the nearest equivalent) before anything runs, and the target components use it to
choose machine types. Facts come from the providers' machine-type documentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Cloud = Literal["gcp", "aws", "onprem"]

NVIDIA_GPUS: Final[tuple[str, ...]] = (
    "nvidia-t4", "nvidia-l4", "nvidia-a10g", "nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100-80gb",
)
TPUS: Final[tuple[str, ...]] = ("tpu-v5e", "tpu-v5p", "tpu-v6e")
AWS_CHIPS: Final[tuple[str, ...]] = ("aws-trainium", "aws-inferentia2")
ACCELERATORS: Final[tuple[str, ...]] = NVIDIA_GPUS + TPUS + AWS_CHIPS

# Kubernetes extended resource each accelerator family is scheduled by.
RESOURCE_NAME: Final[dict[str, str]] = {
    **{a: "nvidia.com/gpu" for a in NVIDIA_GPUS},
    **{a: "google.com/tpu" for a in TPUS},
    **{a: "aws.amazon.com/neuron" for a in AWS_CHIPS},
}


@dataclass(frozen=True)
class GpuShape:
    """One GCP machine type and how many accelerators it carries."""

    machine_type: str
    count: int


# --- GCP ------------------------------------------------------------------------------------------------
# GKE accelerator type per neutral GPU, and the machine types that carry N of them.
GKE_GPU_TYPE: Final[dict[str, str]] = {
    "nvidia-t4": "nvidia-tesla-t4",
    "nvidia-l4": "nvidia-l4",
    "nvidia-a100-40gb": "nvidia-tesla-a100",
    "nvidia-a100-80gb": "nvidia-a100-80gb",
    "nvidia-h100-80gb": "nvidia-h100-80gb",
}

# Accelerator-optimised families have the GPU count fixed by the machine type.
GCP_GPU_MACHINES: Final[dict[str, dict[int, str]]] = {
    "nvidia-l4": {1: "g2-standard-8", 2: "g2-standard-24", 4: "g2-standard-48", 8: "g2-standard-96"},
    "nvidia-a100-40gb": {1: "a2-highgpu-1g", 2: "a2-highgpu-2g", 4: "a2-highgpu-4g", 8: "a2-highgpu-8g",
                         16: "a2-megagpu-16g"},
    "nvidia-a100-80gb": {1: "a2-ultragpu-1g", 2: "a2-ultragpu-2g", 4: "a2-ultragpu-4g", 8: "a2-ultragpu-8g"},
    "nvidia-h100-80gb": {1: "a3-highgpu-1g", 2: "a3-highgpu-2g", 4: "a3-highgpu-4g", 8: "a3-highgpu-8g"},
}
# T4 attaches to N1 machines; the count is free within these values.
GCP_T4_COUNTS: Final[tuple[int, ...]] = (1, 2, 4)
GCP_MACHINE_PREFIX: Final[dict[str, str]] = {
    "nvidia-t4": "n1-", "nvidia-l4": "g2-", "nvidia-a100-40gb": "a2-", "nvidia-a100-80gb": "a2-ultragpu",
    "nvidia-h100-80gb": "a3-",
}


@dataclass(frozen=True)
class TpuGeneration:
    """A Cloud TPU generation on GKE: machine types by chips per host and the valid topologies."""

    gke_accelerator: str
    machine_by_chips: dict[int, str]
    topologies: tuple[str, ...]
    multi_host_chips_per_host: int


GCP_TPUS: Final[dict[str, TpuGeneration]] = {
    "tpu-v5e": TpuGeneration(
        gke_accelerator="tpu-v5-lite-podslice",
        machine_by_chips={1: "ct5lp-hightpu-1t", 4: "ct5lp-hightpu-4t", 8: "ct5lp-hightpu-8t"},
        topologies=("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
        multi_host_chips_per_host=4,
    ),
    "tpu-v5p": TpuGeneration(
        gke_accelerator="tpu-v5p-slice",
        machine_by_chips={4: "ct5p-hightpu-4t"},
        topologies=("2x2x1", "2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8", "4x8x8", "8x8x8"),
        multi_host_chips_per_host=4,
    ),
    "tpu-v6e": TpuGeneration(
        gke_accelerator="tpu-v6e-slice",
        machine_by_chips={1: "ct6e-standard-1t", 4: "ct6e-standard-4t", 8: "ct6e-standard-8t"},
        topologies=("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
        multi_host_chips_per_host=4,
    ),
}


@dataclass(frozen=True)
class TpuSlice:
    """How a TPU topology lands on GKE: machine type, hosts (nodes) and chips per host."""

    machine_type: str
    hosts: int
    chips_per_host: int

    @property
    def multi_host(self) -> bool:
        """True when the slice spans more than one VM (needs COMPACT placement)."""
        return self.hosts > 1


def topology_chips(topology: str) -> int:
    """Number of chips in a topology such as ``2x4`` or ``2x2x2``."""
    total = 1
    for part in topology.split("x"):
        total *= int(part)
    return total


def gcp_tpu_slice(accelerator: str, topology: str) -> TpuSlice:
    """Resolve a TPU generation + topology to GKE machine type and host count.

    Raises ``ValueError`` with the valid topologies when the pair is not offered.
    """
    gen = GCP_TPUS[accelerator]
    if topology not in gen.topologies:
        raise ValueError(f"{accelerator} does not offer topology {topology!r}; valid: {', '.join(gen.topologies)}")
    chips = topology_chips(topology)
    if chips in gen.machine_by_chips:
        return TpuSlice(gen.machine_by_chips[chips], hosts=1, chips_per_host=chips)
    per_host = gen.multi_host_chips_per_host
    return TpuSlice(gen.machine_by_chips[per_host], hosts=chips // per_host, chips_per_host=per_host)


# --- AWS (used by validation now; by the AWS target later) -------------------------------------------------
AWS_INSTANCES: Final[dict[str, dict[int, str]]] = {
    "nvidia-t4": {1: "g4dn.xlarge", 4: "g4dn.12xlarge", 8: "g4dn.metal"},
    "nvidia-l4": {1: "g6.xlarge", 4: "g6.12xlarge", 8: "g6.48xlarge"},
    "nvidia-a10g": {1: "g5.xlarge", 4: "g5.12xlarge", 8: "g5.48xlarge"},
    "nvidia-a100-40gb": {8: "p4d.24xlarge"},
    "nvidia-a100-80gb": {8: "p4de.24xlarge"},
    "nvidia-h100-80gb": {8: "p5.48xlarge"},
    "aws-trainium": {1: "trn1.2xlarge", 16: "trn1.32xlarge"},
    "aws-inferentia2": {1: "inf2.xlarge", 6: "inf2.24xlarge", 12: "inf2.48xlarge"},
}

# What each target offers, and the suggestion given when it does not.
OFFERED: Final[dict[str, frozenset[str]]] = {
    "gcp": frozenset(GKE_GPU_TYPE) | frozenset(GCP_TPUS),
    "aws": frozenset(AWS_INSTANCES),
    "onprem": frozenset(NVIDIA_GPUS),
}
NEAREST: Final[dict[tuple[str, str], str]] = {
    ("gcp", "nvidia-a10g"): "nvidia-l4 (g2) is the closest inference GPU on GCP",
    ("gcp", "aws-trainium"): "tpu-v5p or tpu-v5e for training on GCP",
    ("gcp", "aws-inferentia2"): "nvidia-l4 or tpu-v5e for inference on GCP",
    ("aws", "tpu-v5e"): "aws-inferentia2 (or aws-trainium) is the AWS equivalent; nvidia-l4 for GPUs",
    ("aws", "tpu-v5p"): "aws-trainium is the AWS equivalent for large-scale training",
    ("aws", "tpu-v6e"): "aws-trainium is the AWS equivalent for large-scale training",
    ("onprem", "tpu-v5e"): "TPUs exist only on GCP; use an NVIDIA GPU on-prem",
    ("onprem", "tpu-v5p"): "TPUs exist only on GCP; use an NVIDIA GPU on-prem",
    ("onprem", "tpu-v6e"): "TPUs exist only on GCP; use an NVIDIA GPU on-prem",
    ("onprem", "aws-trainium"): "Neuron chips exist only on AWS; use an NVIDIA GPU on-prem",
    ("onprem", "aws-inferentia2"): "Neuron chips exist only on AWS; use an NVIDIA GPU on-prem",
}


def valid_counts(cloud: str, accelerator: str) -> tuple[int, ...]:
    """Accelerator counts per node a target offers for a neutral accelerator (empty if not offered)."""
    if accelerator not in OFFERED.get(cloud, frozenset()):
        return ()
    if cloud == "gcp":
        if accelerator == "nvidia-t4":
            return GCP_T4_COUNTS
        return tuple(GCP_GPU_MACHINES.get(accelerator, {}))
    if cloud == "aws":
        return tuple(AWS_INSTANCES[accelerator])
    return (1, 2, 4, 8)


def gcp_gpu_machine_type(accelerator: str, count: int, vcpus: int) -> str:
    """The GCP machine type for ``count`` GPUs of ``accelerator`` (T4 uses N1 sized by ``vcpus``)."""
    if accelerator == "nvidia-t4":
        return f"n1-standard-{max(vcpus, 4)}"
    return GCP_GPU_MACHINES[accelerator][count]
