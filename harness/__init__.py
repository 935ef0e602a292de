"""A benchmark harness for image-to-image translation GANs.

The pipeline runs one way: data -> split -> train -> evaluate -> result -> leaderboard.
"""
__version__ = "0.1.0"
