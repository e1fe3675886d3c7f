"""StyleAugment: shapes, devices and dtypes kept, p and alpha honoured, determinism under a
seed, per-image styles as the pipeline makes them, banks, DataLoader workers."""
import io

import pytest
import torch
from conftest import gradient_image
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from stylize.augment import StyleAugment
from stylize.errors import StylizeError
from stylize.media.images import to_tensor
from stylize.pipelines.stylizer import Stylizer


@pytest.fixture(scope="module")
def style_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("styles")
    for i in range(3):
        gradient_image((48, 48), seed=200 + i).save(folder / f"p{i}.png")
    return folder


@pytest.fixture(scope="module")
def augment(style_dir, fast_file):
    return StyleAugment(style_dir, weights=fast_file, p=0.5, seed=0, device="cpu", style_size=48)


def images(count=6, size=(44, 36)):
    return torch.stack([to_tensor(gradient_image(size, seed=i)) for i in range(count)])


def test_shapes_and_dtype_are_kept(augment):
    batch = images()
    out = augment(batch)
    assert out.shape == batch.shape and out.dtype == batch.dtype and out.device == batch.device
    assert 0 <= out.min() and out.max() <= 1
    single = augment(batch[0])
    assert single.shape == batch[0].shape
    assert augment(batch.double()).dtype == torch.float64


def test_p_chooses_which_images_change(style_dir, fast_file):
    batch = images(8)
    never = StyleAugment(style_dir, weights=fast_file, p=0.0, seed=1, device="cpu", style_size=48)
    assert torch.equal(never(batch), batch)
    always = StyleAugment(style_dir, weights=fast_file, p=1.0, seed=1, device="cpu", style_size=48)
    changed = (always(batch) - batch).abs().flatten(1).amax(1)
    assert (changed > 0.05).all()
    half = StyleAugment(style_dir, weights=fast_file, p=0.5, seed=1, device="cpu", style_size=48)
    chosen, _, _ = StyleAugment(style_dir, weights=fast_file, p=0.5, seed=1, device="cpu", style_size=48).draw(8)
    kept = (half(batch) - batch).abs().flatten(1).amax(1) == 0
    assert 0 < kept.sum() < 8 and torch.equal(kept, ~chosen)


def test_the_same_seed_repaints_the_same_way(style_dir, fast_file):
    batch = images()
    a = StyleAugment(style_dir, weights=fast_file, seed=5, device="cpu", style_size=48)
    b = StyleAugment(style_dir, weights=fast_file, seed=5, device="cpu", style_size=48)
    first = a(batch)
    assert torch.equal(first, b(batch))
    assert not torch.equal(first, a(batch))  # the next call draws again


def test_each_image_gets_its_own_style_and_strength(style_dir, fast_file):
    """The batch with a style row and alpha per image equals each image stylised alone."""
    aug = StyleAugment(style_dir, weights=fast_file, p=1.0, alpha=(0.3, 0.9), seed=2, device="cpu", style_size=48)
    batch = images(4)
    _, styles, alphas = StyleAugment(style_dir, weights=fast_file, p=1.0, alpha=(0.3, 0.9), seed=2,
                                          device="cpu", style_size=48).draw(4)
    out = aug(batch)
    assert len(set(styles.tolist())) > 1 and len(set(alphas.tolist())) == 4
    engine = aug.engine
    for i in range(4):
        alone = engine.stylize_tensor(batch[i], aug.styles.row(int(styles[i])), alpha=float(alphas[i]))
        torch.testing.assert_close(out[i], alone, atol=1e-5, rtol=0)


def test_pool_from_a_bank(decoder_file, fast_file, tmp_path):
    from stylize.models.bank import StyleBank, save_bank

    stylizer = Stylizer.from_files("quality", decoder_file, device="cpu", precision="fp32")
    stats = [stylizer.prepare_style(gradient_image((40, 40), seed=s), 40) for s in (1, 2)]
    levels = stylizer.engine.model.reads
    path = tmp_path / "bank.safetensors"
    save_bank(path, StyleBank.from_stats(["one", "two"], stats, levels), {"note": "test"})
    aug = StyleAugment(["two"], model="quality", weights=decoder_file, bank=path, p=1.0, alpha=1.0, device="cpu",
                       precision="fp32")
    assert aug.num_styles == 1
    out = aug(images(2))
    expected = stylizer.engine.stylize_tensor(images(2), stats[1])
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)
    fast = StyleAugment(["two"], model="fast", weights=fast_file, bank=path, p=1.0, alpha=1.0, device="cpu")
    torch.testing.assert_close(fast(images(2)), fast.engine.stylize_tensor(images(2), stats[1]), atol=1e-4, rtol=0)


def test_an_attention_models_pool_from_a_bank_paints_from_the_kept_paintings(tmp_path):
    from stylize.models.bank import StyleBank, painting, save_bank

    stylizer = Stylizer.from_files("quality", device="cpu", precision="fp32")  # the shipped attention decoder
    paintings = [gradient_image((48, 40), seed=s) for s in (1, 2)]
    stats = [stylizer.prepare_style(p, 40) for p in paintings]
    path = tmp_path / "bank.safetensors"
    save_bank(path, StyleBank.from_stats(["one", "two"], stats, range(4), paintings=[painting(p) for p in paintings]))
    aug = StyleAugment(["two"], model="quality", bank=path, p=1.0, alpha=1.0, style_size=40, device="cpu",
                       precision="fp32")
    kept = stylizer.prepare_style(Image.open(io.BytesIO(painting(paintings[1]))), 40)
    torch.testing.assert_close(aug(images(1)), stylizer.engine.stylize_tensor(images(1), kept), atol=1e-4, rtol=0)


class Pictures(Dataset):
    def __init__(self, transform):
        self.transform = transform

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return self.transform(to_tensor(gradient_image((40, 32), seed=i)))


def test_inside_dataloader_workers(style_dir, fast_file):
    aug = StyleAugment(style_dir, weights=fast_file, p=1.0, device="cpu", style_size=48)
    torch.manual_seed(0)  # DataLoader seeds each worker's global generator from this
    batches = list(DataLoader(Pictures(aug), batch_size=3, num_workers=2))
    assert [tuple(b.shape) for b in batches] == [(3, 3, 32, 40)] * 2
    plain = torch.stack([to_tensor(gradient_image((40, 32), seed=i)) for i in range(6)])
    assert ((torch.cat(batches) - plain).abs().flatten(1).amax(1) > 0.05).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_batch_stays_on_the_gpu(augment):
    batch = images().cuda()
    out = augment(batch)
    assert out.device == batch.device and out.shape == batch.shape


@pytest.mark.parametrize("value, message", [
    (torch.rand(2, 4, 8, 8), "takes a \\(3, H, W\\) or \\(B, 3, H, W\\) tensor"),
    ((torch.rand(3, 8, 8) * 255).byte(), "float images"),
    ("not a tensor", "tensor, got str"),
])
def test_bad_input(augment, value, message):
    with pytest.raises(StylizeError, match=message):
        augment(value)


def test_bad_settings(style_dir, fast_file, tmp_path):
    with pytest.raises(StylizeError, match="p must be between 0 and 1"):
        StyleAugment(style_dir, weights=fast_file, p=1.5)
    with pytest.raises(StylizeError, match="reversed"):
        StyleAugment(style_dir, weights=fast_file, alpha=(0.9, 0.2))
    (tmp_path / "empty").mkdir()
    with pytest.raises(StylizeError, match="at least one style image"):
        StyleAugment(tmp_path / "empty", weights=fast_file)
