import io

import pytest
import torch
from conftest import gradient_image
from PIL import Image

import stylize.media.images
from stylize.errors import StylizeError
from stylize.media.images import open_image, resize_shorter, save_image, to_image, to_tensor


def test_tensor_round_trip_is_exact():
    img = gradient_image((17, 9))
    t = to_tensor(img)
    assert t.shape == (3, 9, 17) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    assert to_image(t).tobytes() == img.tobytes()


@pytest.mark.parametrize("mode", ["CMYK", "L", "LA", "RGBA", "P", "I;16"])
def test_odd_modes_open_as_rgb(tmp_path, mode):
    img = gradient_image((20, 10), mode="RGB")
    img = img.convert("L").convert(mode) if mode == "I;16" else img.convert(mode)
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    img.save(path)
    out = open_image(path)
    assert out.mode == "RGB" and out.size == (20, 10)


def test_sixteen_bit_keeps_its_range(tmp_path):
    img = Image.new("I;16", (4, 4))
    img.putpixel((0, 0), 65535)
    img.save(tmp_path / "deep.png")
    out = open_image(tmp_path / "deep.png")
    assert out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((1, 1)) == (0, 0, 0)


def test_transparency_is_composited_over_white(tmp_path):
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    img.putpixel((0, 0), (255, 0, 0, 255))
    img.save(tmp_path / "a.png")
    out = open_image(tmp_path / "a.png")
    assert out.getpixel((0, 0)) == (255, 0, 0) and out.getpixel((3, 3)) == (255, 255, 255)
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 0, 0, 0, 255, 0])
    pal.putpixel((0, 0), 1)
    pal.save(tmp_path / "p.png", transparency=0)
    out = open_image(tmp_path / "p.png")
    assert out.getpixel((0, 0)) == (0, 255, 0) and out.getpixel((2, 2)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    img = gradient_image((30, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert open_image(tmp_path / "r.jpg").size == (10, 30)


def jpeg_bytes():
    buf = io.BytesIO()
    gradient_image((64, 64)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("data, message", [
    (b"", "not an image"),
    (b"hello, I am text", "not an image"),
    (jpeg_bytes()[:300], "cannot decode image"),
])
def test_bad_files_raise_clear_errors(tmp_path, data, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(data)
    with pytest.raises(StylizeError, match=message):
        open_image(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(StylizeError, match="file not found"):
        open_image(tmp_path / "missing.png")
    with pytest.raises(StylizeError, match="got a folder"):
        open_image(tmp_path)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    gradient_image((100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(stylize.media.images, "MAX_PIXELS", 1000)
    with pytest.raises(StylizeError, match="image too large"):
        open_image(tmp_path / "big.png")


def test_open_from_bytes():
    assert open_image(jpeg_bytes(), name="upload").size == (64, 64)


def test_resize_shorter_side():
    assert resize_shorter(gradient_image((80, 40)), 20).size == (40, 20)
    assert resize_shorter(gradient_image((80, 40)), 0).size == (80, 40)


def test_save_image_is_atomic_and_checks_the_extension(tmp_path):
    save_image(gradient_image(), tmp_path / "out.webp")
    assert Image.open(tmp_path / "out.webp").format == "WEBP"
    with pytest.raises(StylizeError, match="unknown image extension"):
        save_image(gradient_image(), tmp_path / "out.gifx")
    with pytest.raises(StylizeError, match="cannot write"):
        save_image(gradient_image(), tmp_path / "no" / "such" / "dir.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.webp"]
