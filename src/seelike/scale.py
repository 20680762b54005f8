"""Deprecated: chapter 8's measures moved to the modules named for their concept.

# shim until the chapters move; remove after.

    scale.same_layer_cka, same_layer_values, select_layers, FRACTIONS → comparisons.*
    scale.normalised_depth(n)                → activations.block_depth(n)
    scale.probe_by_depth, readout_curve, READOUTS, PAPER_PROBE_MODELS → probes.*
    scale.paper_scale                        → probes.paper_scale
    scale.local_heads_per_block              → attention.local_heads_per_block
"""

from __future__ import annotations

from .activations import block_depth as normalised_depth
from .attention import local_heads_per_block
from .comparisons import FRACTIONS, same_layer_cka, same_layer_values, select_layers
from .probes import PAPER_PROBE_MODELS, READOUTS, paper_scale, probe_by_depth, readout_curve

__all__ = [
    "FRACTIONS",
    "PAPER_PROBE_MODELS",
    "READOUTS",
    "local_heads_per_block",
    "normalised_depth",
    "paper_scale",
    "probe_by_depth",
    "readout_curve",
    "same_layer_cka",
    "same_layer_values",
    "select_layers",
]
