"""The run-level seam: where a run goes (written next)."""
