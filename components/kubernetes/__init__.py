"""The shared in-cluster layer, written once against pulumi-kubernetes and used on GKE, EKS and on-prem:
team tenancy, GPU/TPU scheduling (Kueue), training, serving, monitoring, and the Helm charts they install."""
