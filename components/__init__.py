"""Building blocks: :class:`~mlinfra.components.platform.MlPlatform` (L3) composed from one-purpose
components (L2), one folder per target (``gcp/``) and one component per module."""
