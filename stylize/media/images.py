"""Images: decoding anything PIL opens into RGB (within the pixel limit), sizes, the one image
processor (ImageProcessor: PIL image -> tensor -> PIL image or frame), encoding and atomic
saving. Images are PIL RGB images; frames, what the stabiliser and video encoders take, are HxWx3
uint8 arrays.
"""
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from stylize.errors import ImageTooLarge, StylizeError
from stylize.files import atomic_write

# The pixel limit: no image is decoded above this many pixels, and by default none is worked on
# above it either (a request's max_pixels, --max-pixels, sets the working limit; one above this
# lifts both; the server sets a lower working limit, max_side^2). Tiles make 64 MP feasible on a
# CPU, at minutes per image; beyond it memory, not time, runs out. It also stops decompression
# bombs: the check is ours, per call, on the header's size before any pixel is decoded; PIL's own
# (a global warning filter would be needed to turn its warning into an error, and filters race
# between threads) is switched off.
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


def scaled_size(width, height, side, even=False):
    """(width, height) with the shorter side scaled to `side` (0 keeps the size); `even` rounds
    both sides to even numbers, as the common video encoders' 4:2:0 chroma needs."""
    scale = side / min(width, height) if side else 1.0
    if even:
        return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
    return max(1, round(width * scale)), max(1, round(height * scale))


def size_limit(max_pixels=None, side=0, option="size"):
    """open_image's check_size, from the header, before any pixel is decoded: refuse an image over
    MAX_PIXELS as decoded, and, given a request's `max_pixels`, over that as worked on (shorter side
    scaled to `side`; 0 keeps it). A `max_pixels` above MAX_PIXELS lifts the decoding limit too."""
    def check(width, height, name):
        decodable = MAX_PIXELS if max_pixels is None else max(MAX_PIXELS, max_pixels)
        if width * height > decodable:
            raise ImageTooLarge(f"image too large: {name} is {width}x{height}, over the limit of {decodable:,} pixels")
        w, h = scaled_size(width, height, side)
        if max_pixels is not None and w * h > max_pixels:
            raise ImageTooLarge(f"{name} ({width}x{height}) would be worked on at {w}x{h} with {option} {side}, "
                                f"over the limit of {max_pixels:,} pixels")
    return check


def open_image(source, name=None, check_size=None):
    """Decode a path or bytes into an upright RGB PIL image, or raise a StylizeError saying why.

    check_size(width, height, name) runs on the header's size before the pixels are decoded
    (default: size_limit(), the pixel limit as decoded; requests pass their own).
    """
    name = name if name is not None else str(source)
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        (check_size or size_limit())(*img.size, name)
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


def resize_shorter(img, size, even=False):
    """Scale so the shorter side is `size` pixels (0 keeps the image as it is) with PIL's bicubic
    filter: the one resize of stills, video frames and the stream. even: see scaled_size."""
    target = scaled_size(*img.size, size, even)
    return img if target == img.size else img.resize(target, Image.Resampling.BICUBIC)


def center_crop(img, size):
    w, h = img.size
    size = min(size or min(w, h), w, h)
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def prepare(img, size=0, crop=False, even=False):
    img = resize_shorter(img, size, even)
    return center_crop(img, size) if crop else img


class ImageProcessor:
    """A picture's way to the model and back, the same for stills, video frames and the stream
    (as diffusers' VaeImageProcessor): `preprocess` turns a PIL image into the (3, H, W) tensor in
    [0, 1] the model works on (shorter side scaled to `size`, 0 keeping it; a centre square with
    `crop`; both sides even with `even`, as video encoders need); `postprocess` turns a result
    back into a PIL image, or with frame=True an HxWx3 uint8 array (for video encoders and the
    stabiliser)."""

    def __init__(self, size=0, crop=False, even=False):
        self.size, self.crop, self.even = size, crop, even

    def output_size(self, width, height):
        """(width, height) a picture of that size is worked on at."""
        w, h = scaled_size(width, height, self.size, self.even)
        side = min(self.size or min(w, h), w, h)
        return (side, side) if self.crop else (w, h)

    def resize(self, image):
        return prepare(image, self.size, self.crop, self.even)

    def preprocess(self, image):
        return to_tensor(self.resize(image))

    @staticmethod
    def postprocess(tensor, frame=False):
        return to_frame(tensor) if frame else to_image(tensor)


def to_tensor(img):
    """PIL RGB image or HxWx3 uint8 frame -> float (3, H, W) in [0, 1]."""
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(255)


def to_frame(tensor):
    """float (3, H, W) in [0, 1] -> HxWx3 uint8 frame."""
    return tensor.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def to_image(tensor):
    """float (3, H, W) in [0, 1] -> PIL RGB."""
    return Image.fromarray(to_frame(tensor))


def encode_image(img, fmt, quality=95):
    """PIL image (or HxWx3 uint8 frame) -> bytes in `fmt` (png, jpg/jpeg, webp)."""
    img = img if isinstance(img, Image.Image) else Image.fromarray(img)
    buf = io.BytesIO()
    img.save(buf, format=SAVE_FORMATS[fmt], **({"quality": quality} if fmt != "png" else {}))
    return buf.getvalue()


def save_image(img, path):
    """Save a PIL image (or HxWx3 uint8 frame) atomically, in the format the file name's extension says."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in SAVE_FORMATS:
        raise StylizeError(f"cannot write {path}: unknown image extension (use .png, .jpg or .webp)")
    data = encode_image(img, fmt)
    try:
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    except OSError as e:
        raise StylizeError(f"cannot write {path}: {e.strerror or e}") from None


def is_image_file(path):
    """An image by its extension (what list_images lists)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def list_images(folder):
    """Image files in a folder and its subfolders, sorted, by extension."""
    return sorted(p for p in Path(folder).rglob("*") if is_image_file(p))


def has_images(folder):
    """Whether list_images(folder) would list anything (it stops at the first)."""
    return any(is_image_file(p) for p in Path(folder).rglob("*"))
