"""Reusable network blocks shared by the methods: generators, discriminators, losses, pools.

Each block is in its own small file; methods compose them and never copy them.
"""
from harness.nets.gan_loss import GANLoss
from harness.nets.image_pool import ImagePool
from harness.nets.init import init_weights
from harness.nets.norm import norm_layer
from harness.nets.patchgan import PatchDiscriminator
from harness.nets.resnet import ResnetBlock, ResnetGenerator
from harness.nets.unet import UnetGenerator, unet_depth_for

__all__ = ["GANLoss", "ImagePool", "init_weights", "norm_layer", "PatchDiscriminator", "ResnetBlock",
           "ResnetGenerator", "UnetGenerator", "unet_depth_for"]
