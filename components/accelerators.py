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


# GCP machine sizes (vCPUs) per family, from the machine-family documentation.
N1_SIZES: Final[tuple[int, ...]] = (2, 4, 8, 16, 32, 64, 96)
N2_SIZES: Final[tuple[int, ...]] = (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)
C2_SIZES: Final[tuple[int, ...]] = (4, 8, 16, 30, 60)
N1_CLASS: Final[dict[str, str]] = {"general": "standard", "memory": "highmem", "compute": "highcpu"}
T4_MAX_VCPUS_BELOW_4_GPUS: Final[int] = 48  # N1 hosts above 48 vCPUs need 4 T4s


def gcp_machine_type(machine_class: str, vcpus: int, accelerator: str | None = None, count: int = 1,
                     topology: str | None = None) -> str:
    """The GCP machine type mlinfra chooses for a pool, or ``ValueError`` saying what to change.

    CPU pools: general → n2-standard-N, memory → n2-highmem-N, compute → the smallest c2-standard with at
    least N vCPUs. T4 pools: n1-{standard|highmem|highcpu}-N. L4/A100/H100: the accelerator-optimised
    shape carrying ``count`` GPUs. TPUs: the slice's machine type.
    """
    if accelerator is None:
        if machine_class == "compute":
            size = next((c for c in C2_SIZES if c >= vcpus), None)
            if size is None:
                raise ValueError(f"the compute class offers at most {C2_SIZES[-1]} vCPUs on GCP (c2-standard-60)")
            return f"c2-standard-{size}"
        if vcpus not in N2_SIZES:
            raise ValueError(f"n2 machines come with {', '.join(map(str, N2_SIZES))} vCPUs, not {vcpus}")
        return f"n2-{'highmem' if machine_class == 'memory' else 'standard'}-{vcpus}"
    if accelerator in GCP_TPUS:
        return gcp_tpu_slice(accelerator, topology or "").machine_type
    if accelerator == "nvidia-t4":
        if vcpus not in N1_SIZES:
            raise ValueError(f"T4 hosts (n1) come with {', '.join(map(str, N1_SIZES))} vCPUs, not {vcpus}")
        if vcpus > T4_MAX_VCPUS_BELOW_4_GPUS and count < 4:
            raise ValueError(f"n1 hosts with more than {T4_MAX_VCPUS_BELOW_4_GPUS} vCPUs need 4 T4s")
        return f"n1-{N1_CLASS[machine_class]}-{vcpus}"
    shapes = GCP_GPU_MACHINES.get(accelerator)
    if shapes is None:
        raise ValueError(f"{accelerator} is not offered on GCP")
    if count not in shapes:
        raise ValueError(f"{accelerator} comes {', '.join(map(str, shapes))} per machine on GCP, not {count}")
    return shapes[count]


# --- AWS instance types --------------------------------------------------------------------------------
AWS_CPU_FAMILY: Final[dict[str, str]] = {"general": "m6i", "compute": "c6i", "memory": "r6i"}
AWS_SIZE_BY_VCPUS: Final[dict[int, str]] = {
    2: "large", 4: "xlarge", 8: "2xlarge", 16: "4xlarge", 32: "8xlarge", 48: "12xlarge", 64: "16xlarge",
    96: "24xlarge",
}
# EKS-optimised AMI type per accelerator family (Amazon Linux 2023).
AWS_AMI_TYPE: Final[dict[str, str]] = {
    **{a: "AL2023_x86_64_NVIDIA" for a in NVIDIA_GPUS},
    **{a: "AL2023_x86_64_NEURON" for a in AWS_CHIPS},
}
AWS_DEFAULT_AMI_TYPE: Final[str] = "AL2023_x86_64_STANDARD"


def aws_instance_type(machine_class: str, vcpus: int, accelerator: str | None = None, count: int = 1) -> str:
    """The EC2 instance type mlinfra chooses for a pool, or ``ValueError`` saying what to change.

    CPU pools: general → m6i, compute → c6i, memory → r6i, sized by vCPUs. Accelerator pools: the
    instance carrying ``count`` devices (g4dn/g6/g5/p4d/p4de/p5/trn1/inf2).
    """
    if accelerator is None:
        size = AWS_SIZE_BY_VCPUS.get(vcpus)
        if size is None:
            raise ValueError(f"EC2 sizes come with {', '.join(map(str, AWS_SIZE_BY_VCPUS))} vCPUs, not {vcpus}")
        return f"{AWS_CPU_FAMILY[machine_class]}.{size}"
    shapes = AWS_INSTANCES.get(accelerator)
    if shapes is None:
        raise ValueError(f"{accelerator} is not offered on AWS")
    if count not in shapes:
        raise ValueError(f"{accelerator} comes {', '.join(map(str, shapes))} per instance on AWS, not {count}")
    return shapes[count]
