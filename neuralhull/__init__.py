"""neuralhull: where do test samples sit relative to the training set?

The library behind the workflow: datasets, models, training, autoencoders,
convex-hull membership, proximity measures, analysis, theory and plots.
"""

__version__ = "0.1.0"
