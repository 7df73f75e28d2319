"""The GCP target layer: L2 components (one per module) and ``build_gcp``, which maps a StackConfig onto them."""
