"""ASGIT guidance at the registered defaults: maps that vary in space, stored maps that line up with the
image they are used on, a generator whose output depends on the map, one-process memory, and the
batch views that carry each crop's offset and flip."""
from __future__ import annotations

import io
import random

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from harness.data.datasets import Augment, TrainSet, load_image, to_tensor, view_record
from harness.data.prepare import prepare_data
from harness.errors import UsageError
from harness.registry import METHODS, SCHEDULES, TASKS
from harness.tasks import ImageSpec
from harness.training.method import MethodContext
from methods.asgit.memory import AttentionMemory



def make(name: str, size: int = 32, **overrides):
    cls = METHODS.get(name)
    tiny = {"ngf": 8, "ndf": 8} if "sup" in name else {"ngf": 8, "ndf": 8, "n_blocks": 1}
    context = MethodContext(size, 3, cls.settings[0], SCHEDULES.get("smoke"), ("a", "b"), 3)
    return cls(cls.config_class(**{**tiny, **overrides}), context)


def blob_image(n: int = 2, size: int = 32) -> torch.Tensor:
    """Images with a bright square in a dark field: content a discriminator's activations follow."""
    x = torch.full((n, 3, size, size), -0.8)
    x[:, :, 4:16, 8:20] = 0.9
    return x + 0.05 * torch.randn_like(x)


@pytest.mark.parametrize("name", ["asgit-tam-rhp", "asgit-tam-alpha", "asgit-sup-tam"])
def test_tam_maps_vary_in_space_at_the_defaults(name):
    torch.manual_seed(0)
    method = make(name)
    d = method.D["A2B"] if "sup" in name else method.D_B
    with torch.no_grad():
        inputs = torch.cat([blob_image(), blob_image()], 1) if "sup" in name else blob_image()
        _, raw = d(inputs, with_map=True)
    stored = method.finish(raw)
    # M = Avg(A) unnormalised averages 256 sigmoids to ~0.5 everywhere (std ~0.005): no guidance.
    assert stored.flatten(1).std(1).min() > 0.1


def _content_map(image: torch.Tensor, view: tuple[int, int, bool], crop: int) -> torch.Tensor:
    x, y, flip = view
    c = image[y:y + crop, x:x + crop]
    return F.avg_pool2d((c.flip(-1) if flip else c)[None, None], 8)[0]


def test_stored_map_read_back_lines_up_with_the_content_under_flip_and_shift():
    memory = make("asgit-pha-rhp", size=64).memory  # the default frame
    full = torch.zeros(72, 72)
    full[8:40, 16:32] = 1.0
    full[48:64, 40:64] = 0.5
    pairs = [((0, 0, False), (8, 8, True)), ((3, 5, False), (7, 1, True)), ((8, 0, True), (0, 8, False)),
             ((0, 0, False), (0, 0, True))]
    for written, later in pairs:
        memory.maps.clear()
        memory.write("A", ["img"], _content_map(full, written, 64)[None], view_record(written, 72)[None])
        read = memory.read("A", ["img"], views=view_record(later, 72)[None])[0]
        error = (read - _content_map(full, later, 64)).abs().mean()
        # A crop-frame memory replays the written map as is: mean error 0.34 on these pairs.
        assert error < 0.12, (written, later, float(error))


def test_view_pastes_are_exact_on_cell_offsets_and_partial_cells_keep_the_old_map():
    memory = AttentionMemory(2, "ones", "image", crop_size=16)
    first = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    memory.write("A", ["i"], first[None], view_record((0, 0, False), 24)[None])
    assert memory.maps["A"]["i"].shape == (1, 3, 3)
    read = memory.read("A", ["i"], views=view_record((0, 0, False), 24)[None])[0]
    assert torch.allclose(read, first, atol=1e-5)
    flipped = memory.read("A", ["i"], views=view_record((0, 0, True), 24)[None])[0]
    assert torch.allclose(flipped, first.flip(-1), atol=1e-5)
    memory.write("A", ["i"], torch.zeros(1, 1, 2, 2), view_record((8, 8, False), 24)[None])
    stored = memory.maps["A"]["i"][0]
    assert stored[0, 0] == pytest.approx(1.0) and stored[1:, 1:].abs().max() < 1e-6  # only covered cells changed
    assert memory.summary()["read_hit_share"] == 1.0


@pytest.mark.parametrize("name", ["asgit-pha-rhp", "asgit-tam-rhp", "asgit-pha-alpha"])
def test_generator_output_follows_the_map_at_the_defaults(name):
    torch.manual_seed(0)
    # Train mode: an untrained TAM's BatchNorm running statistics (eval) make its map flat to float
    # precision; the generators have no running statistics, so both modes give the same G.
    method = make(name, size=64)
    maps = torch.rand(2, 1, 8, 8)
    # The injected weights carry the map's layout (the learned g at its init: correlation ~0.1).
    weights = method.transfer(maps, 64)
    upsampled = F.interpolate(maps, size=(64, 64), mode="bilinear", align_corners=False)
    assert torch.corrcoef(torch.stack([weights.flatten(), upsampled.flatten()]))[0, 1] > 0.9
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        moved = (method.guided_output(x, maps, "A2B") - method.guided_output(x, maps.flip(-1), "A2B")).abs()
        # The test path uses a map too (the all-ones placeholder alone would give G(x ⊕ 1)).
        tested = (method.translate(x, "A2B") - method.guided_output(x, torch.ones_like(maps), "A2B")).abs()
    assert moved.mean() * 127.5 > 1.0 and tested.mean() * 127.5 > 0.5  # grey levels


def test_alpha_unguided_channel_is_in_the_transfer_blocks_range():
    torch.manual_seed(0)
    method = make("asgit-pha-alpha", transfer_block="learned")
    x = torch.rand(1, 3, 32, 32)
    channel = method.reconstruction_input(x, "A2B")[:, 3]
    assert torch.allclose(channel, method.transfer(torch.ones(1, 1, 4, 4), 32)[:, 0])
    assert channel.max() < 1.0
    literal = make("asgit-pha-alpha", transfer_block="learned", alpha_unguided="ones")
    assert (literal.reconstruction_input(x, "A2B")[:, 3] == 1).all()


def test_memory_variants_refuse_several_processes(monkeypatch):
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 2)
    with pytest.raises(UsageError, match="one process"):
        make("asgit-pha-rhp")
    with pytest.raises(UsageError, match="one process"):
        make("asgit-sup-pha")
    assert make("asgit-pha-alpha", attn_source="online").memory is None  # no memory, nothing to refuse


def test_memory_state_loads_with_weights_only():
    memory = AttentionMemory(2, "ones", "image", crop_size=16)
    memory.write("A", ["i"], torch.rand(1, 1, 2, 2), view_record((3, 1, True), 24)[None])
    memory.read("B", ["j"])
    buffer = io.BytesIO()
    torch.save(memory.state_dict(), buffer)
    buffer.seek(0)
    restored = AttentionMemory(2, "ones", "image", crop_size=16)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(restored.maps["A"]["i"], memory.maps["A"]["i"]) and restored.stats == memory.stats


def test_training_items_carry_the_view_that_reproduces_their_crop():
    prepared = prepare_data(TASKS.get("demo"))
    spec = ImageSpec(load_size=40, crop_size=32, flip=True)
    dataset = TrainSet(prepared.split, spec, paired=False)
    for seed in range(6):
        item = dataset[(0, 1, seed)]
        rng = random.Random(seed)
        augment = Augment(spec)
        params_a, params_b = augment.params(rng), augment.params(rng)
        # The images are what they were without views: same parameters, same stream.
        assert torch.equal(item["A"], augment(load_image(dataset.a[0]), params_a))
        x, y, flip, load = item["B_view"].tolist()
        assert (x, y, bool(flip), load) == (*params_b[:2], params_b[2], 40)
        resized = load_image(dataset.b[1]).resize((40, 40), Image.BICUBIC).crop((x, y, x + 32, y + 32))
        again = to_tensor(resized.transpose(Image.FLIP_LEFT_RIGHT) if flip else resized)  # crop + flip it names
        assert torch.equal(again, item["B"])
