"""Image files <-> tensors: decoding anything PIL opens into RGB, resizing, and atomic saving."""
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from stylize.errors import ImageTooLarge, StylizeError
from stylize.models.weights import atomic_write

# Decompression bombs: refuse images above this many pixels (a 4096x4096 photo is 16.8 MP). The
# check is ours, per call, on the header's size before any pixel is decoded; PIL's own (a global
# warning filter would be needed to turn its warning into an error, and filters race between
# threads) is switched off.
MAX_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = None
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
SAVE_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


def _to_rgb(img):
    """Any PIL mode to RGB: transparency over white, 16-bit and float scaled to 8 bits."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # PIL's own I->L conversion clips at 255; scale by the actual range instead.
        data = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or data.max() > 255 else 255.0
        img = Image.fromarray((data / top * 255).round().clip(0, 255).astype(np.uint8), mode="L")
    if img.mode in ("P", "LA", "RGBA", "PA") or "transparency" in img.info:
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def open_image(source, name=None, check_size=None):
    """Decode a path or bytes into an upright RGB PIL image, or raise a StylizeError saying why.

    check_size(width, height, name), if given, runs on the header's size before the pixels are
    decoded (a working-size limit: see stylize.pipelines.request.working_size_check).
    """
    name = name if name is not None else str(source)
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise ImageTooLarge(f"image too large: {name} is {w}x{h}, more than {MAX_PIXELS:,} pixels")
        if check_size is not None:
            check_size(w, h, name)
        img.load()
        img = ImageOps.exif_transpose(img)
        return _to_rgb(img)
    except FileNotFoundError:
        raise StylizeError(f"file not found: {name}") from None
    except IsADirectoryError:
        raise StylizeError(f"expected an image file, got a folder: {name}") from None
    except UnidentifiedImageError:
        raise StylizeError(f"not an image (or an unsupported format): {name}") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise StylizeError(f"cannot decode image {name}: {e}") from None


def resize_shorter(img, size):
    """Scale so the shorter side is `size` pixels (0 keeps the image as it is)."""
    if not size or min(img.size) == size:
        return img
    w, h = img.size
    scale = size / min(w, h)
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)


def center_crop(img, size):
    w, h = img.size
    size = min(size or min(w, h), w, h)
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def prepare(img, size=0, crop=False):
    img = resize_shorter(img, size)
    return center_crop(img, size) if crop else img


def to_tensor(img):
    """PIL RGB -> float (3, H, W) in [0, 1]."""
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(255)


def to_image(tensor):
    """float (3, H, W) in [0, 1] -> PIL RGB."""
    return Image.fromarray(tensor.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())


def encode_image(img, fmt):
    """PIL image -> bytes in `fmt` (png, jpg/jpeg, webp)."""
    buf = io.BytesIO()
    img.save(buf, format=SAVE_FORMATS[fmt], **({"quality": 95} if fmt != "png" else {}))
    return buf.getvalue()


def save_image(img, path):
    """Save atomically, in the format the file name's extension says."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in SAVE_FORMATS:
        raise StylizeError(f"cannot write {path}: unknown image extension (use .png, .jpg or .webp)")
    data = encode_image(img, fmt)
    try:
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    except OSError as e:
        raise StylizeError(f"cannot write {path}: {e.strerror or e}") from None


def list_images(folder):
    """Image files in a folder and its subfolders, sorted, by extension."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
