"""The theory branch: how often a new sample falls inside the hull, and ridgeless risk.

How often does a new sample fall inside the convex hull of a training set, and what does
interpolation cost a least-squares fit?

The workflow's theory rules (``workflow/rules/theory.smk``) reproduce the evidence and the
theory that Balestriero, Pesenti & LeCun (2021, "Learning in high dimension always amounts
to extrapolation") and Hastie, Montanari, Rosset & Tibshirani (2019) lean on; each
experiment is split into independent jobs whose tables one summary job collects. This
subpackage owns the science of those jobs, one module per piece:

* :mod:`neuralhull.theory.formulas`: the closed forms (Wendel's and Kabluchko &
  Zaporozhets' hull probabilities, the isotropic and random-ReLU-features ridgeless risk);
* :mod:`neuralhull.theory.samplers`: the random samples (Gaussian, a curve, a low-rank
  Gaussian);
* :mod:`neuralhull.theory.hull_probability`: Monte Carlo of the hull probability on a grid
  of N and d beside the exact value (experiment ``hull_probability``);
* :mod:`neuralhull.theory.real_dimension`: real images seen in about k dimensions
  (experiment ``real_dimension``);
* :mod:`neuralhull.theory.embedding`: CNNs with a k-unit bottleneck and their embeddings
  (experiment ``embedding``);
* :mod:`neuralhull.theory.counts`: test samples inside a training hull, the measurement of
  the last two experiments;
* :mod:`neuralhull.theory.double_descent`: simulated ridgeless risk over gamma = p / n
  (experiment ``double_descent``);
* :mod:`neuralhull.theory.summary` and :mod:`neuralhull.theory.figures`: each
  experiment's summary table and figure.

The hull oracle is :mod:`neuralhull.hull`, whose undecided answers are counted, never
guessed. What the tables hold: ``docs/theory.md``.
"""
