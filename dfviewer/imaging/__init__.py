"""The image layer below io, display, core and phantom: numpy only (no Qt, no torch)."""
