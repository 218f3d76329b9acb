"""Agent domain: slot arithmetic, GPU share placement, MPS limits, the Container aggregate."""
