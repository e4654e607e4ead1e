"""The learning stage: the classifiers, their seeded training, the autoencoders and the
intrinsic dimension.

* :mod:`neuralhull.learn.models`: the classifiers (:class:`~neuralhull.learn.models.ModelSpec`,
  ``build_model``) and the shared trunk that trains several widths together;
* :mod:`neuralhull.learn.training`: seeded, deterministic training with resumable
  checkpoints, saving and verified loading of the weights, and the extraction of the last
  hidden layer (the representation the rest of the workflow studies);
* :mod:`neuralhull.learn.autoencoder`: one autoencoder per latent size on those
  activations, fitted together in one batched model;
* :mod:`neuralhull.learn.intrinsic`: the intrinsic dimension chosen from the autoencoders'
  fits, and the TwoNN estimate beside it.

Import from the modules: this file imports nothing, so that ``intrinsic`` (NumPy only)
loads without torch in the steps that need no network.
"""
