"""ASGIT (Lin et al., WACV 2021): attention-based spatial guidance for image-to-image translation.

The discriminator's spatial attention (post-hoc from activations, PHA, or from a trainable branch,
TAM) is turned by a transfer block into a weight map that is injected into the generator's input
(residual Hadamard product, RHP, or an extra alpha channel) the next time it sees the same image.

- `attention.py`: PHA / TAM discriminators and map post-processing.
- `transfer.py`: the transfer block g and the RHP / Alpha injections.
- `memory.py`: per-image attention memory keyed by (domain, image id), checkpointed.
- `options.py`: every paper-vs-reference-code choice as a recorded config field.
- `unsupervised.py`: CycleGAN backbone (`asgit-{pha,tam}-{rhp,alpha}`).
- `supervised.py`: pix2pix backbone with a learned transfer block (`asgit-sup-{pha,tam}`).
"""
