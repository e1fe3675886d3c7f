"""FrameStylizer: frames go through the same image processor as stills, then the stabiliser."""
import numpy as np
import pytest
from conftest import gradient_image

from stylize.media.images import ImageProcessor
from stylize.pipelines.frames import FrameStylizer
from stylize.pipelines.stylizer import Stylizer


@pytest.fixture(scope="module")
def shipped():
    return Stylizer.from_files("fast", device="cpu", precision="fp32")


def test_a_frame_is_resized_and_painted_as_the_same_photo_sent_as_a_still(shipped):
    photo, size = gradient_image((97, 71), 1), 40
    style = shipped.prepare_style(gradient_image((48, 48), 2), 48)
    frame = FrameStylizer(shipped.engine, style, alpha=0.8, size=size, temporal="none", even=False)([photo])[0]
    still = shipped.transfer(photo, style, alpha=0.8, content_size=size)
    assert np.array_equal(frame, np.asarray(still))


def test_video_frames_are_worked_on_at_even_sizes():
    frames = FrameStylizer(engine=None, style=None, size=45, temporal="none")
    assert frames.output_size(97, 71) == (62, 44)  # 61.5 x 45 rounded to even sides
    assert ImageProcessor(45, even=True).resize(gradient_image((97, 71), 1)).size == (62, 44)
    assert ImageProcessor(45).resize(gradient_image((97, 71), 1)).size == (61, 45)
