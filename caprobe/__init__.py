"""caprobe: a desktop probe for EPICS Channel Access process variables."""

__version__ = "0.1.0"
