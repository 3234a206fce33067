"""Fine-tuning the CNN and the grid together through Eq. 3 (the paper's Hyp+FT).

- :mod:`.network`: :class:`HypercolumnNet`, the CNN with the grid as trainable
  heads, running inference's conv trick and Eq. 3;
- :mod:`.loss`: the composite log-likelihood of the interpolated probability;
- :mod:`.training`: the training loop, checkpoints and the exported grid.
"""
