"""Errors a broken or hostile image raises when read (truncated, not an image, a decompression bomb)."""
from __future__ import annotations

from PIL import Image

# PIL: OSError (truncated / unidentified), SyntaxError (broken chunks), DecompressionBombError (an image
# whose pixel count would exhaust memory), ValueError (odd modes or sizes).
IMAGE_ERRORS: tuple[type[BaseException], ...] = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)

