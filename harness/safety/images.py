"""Errors a broken or hostile image raises when read (truncated, not an image, a decompression bomb)."""
from __future__ import annotations

from PIL import Image

# PIL: OSError (truncated / unidentified), SyntaxError (broken chunks), DecompressionBombError (an image
# whose pixel count would exhaust memory), ValueError (odd modes or sizes).
IMAGE_ERRORS: tuple[type[BaseException], ...] = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def require_regular_file(path) -> None:
    """Refuse a FIFO, device or socket (or a symlink to one, such as /dev/zero) before opening it: reading one
    would wait forever or never end."""
    import os
    import stat

    from harness.errors import HarnessError
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise HarnessError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise HarnessError(f"{path} is not a regular file (a FIFO, device or folder, or a symlink to one); "
                           "remove it from the data folder")
