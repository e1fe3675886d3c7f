"""Video files: timing, rotation and audio kept; trimming; clear errors; temporal stability."""
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from conftest import gradient_image, make_video
from PIL import Image

from stylize.cli.main import main
from stylize.media.images import scaled_size
from stylize.media.temporal import FlowStabiliser, low_pass, pan_error, pan_frames
from stylize.media.video import probe
from stylize.pipelines.engine import Engine
from stylize.pipelines.frames import FrameStylizer


def audio_payloads(path):
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def run_video(source, output, style, *options):
    return main(["video", str(source), "--style", str(style), "--output", str(output), "--size", "32",
                 "--device", "cpu", *options])


@pytest.mark.parametrize("fps, audio, rotation", [(Fraction(25, 2), True, 90), (Fraction(7), False, 0),
                                                  (Fraction(30000, 1001), True, 270)])
def test_video_keeps_frames_rate_duration_rotation_and_audio(tmp_path, images, fps, audio, rotation):
    source = make_video(tmp_path / "in.mp4", frames=9, fps=fps, audio=audio, rotation=rotation)
    output = tmp_path / "out.mp4"
    assert run_video(source, output, images / "style.png") == 0
    before, after = probe(source), probe(output)
    assert after.frames == before.frames == 9
    assert after.fps == pytest.approx(float(fps), rel=1e-3)
    assert after.duration == pytest.approx(before.duration, abs=1 / float(fps))
    assert after.rotation == rotation
    assert (after.width, after.height) == scaled_size(64, 48, 32, even=True) == (42, 32)
    # The audio is copied packet for packet, not re-encoded.
    assert audio_payloads(output) == audio_payloads(source)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_video_start_and_duration_trim(tmp_path, images):
    source = make_video(tmp_path / "in.mp4", frames=20, fps=Fraction(10))
    output = tmp_path / "cut.mkv"
    assert run_video(source, output, images / "style.png", "--start", "0.5", "--duration", "0.8",
                     "--temporal", "none") == 0
    with av.open(str(output)) as container:
        times = [f.time for f in container.decode(video=0)]
    assert len(times) == 8 and probe(output).duration == pytest.approx(0.8, abs=0.12)
    assert times[0] == pytest.approx(0.0, abs=1e-3) and times[-1] == pytest.approx(0.7, abs=1e-3)
    assert 0 < len(audio_payloads(output)) < len(audio_payloads(source))


def test_bad_videos_and_options_are_one_line_errors(tmp_path, images, capsys):
    source = make_video(tmp_path / "in.mp4", frames=4)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(source.read_bytes()[:2000])
    (tmp_path / "text.mp4").write_text("not a video")
    cases = [
        (truncated, [], "cannot read"),
        (tmp_path / "text.mp4", [], "cannot read"),
        (tmp_path / "missing.mp4", [], "video not found"),
        (images / "content.png", [], "is an image, not a video"),
        (source, ["--duration", "0"], "duration must be more than 0"),
        (source, ["--start", "-1"], "start must be 0 or more"),
        (source, ["--start", "nan"], "must be a finite number"),
        (source, ["--start", "5"], "no frames of"),
        (source, ["--alpha", "2"], "alpha must be between 0 and 1"),
        (source, ["--size", "20000"], "over the limit of 64,000,000 pixels"),
    ]
    for video, options, message in cases:
        output = tmp_path / "out.mp4"
        assert run_video(video, output, images / "style.png", *options) == 2, message
        err = capsys.readouterr().err.strip().splitlines()
        assert message in err[-1] and err[-1].startswith("error:") and "Traceback" not in "".join(err)
        assert not output.exists()
    assert run_video(source, tmp_path / "out.avi", images / "style.png") == 2
    assert "give a video file name ending in .mp4" in capsys.readouterr().err
    assert main(["video", str(source), "--style", f"{images / 'style.png'},{images / 'style2.jpg'}",
                 "--output", str(tmp_path / "o.mp4")]) == 2
    assert "a video takes one style" in capsys.readouterr().err
    assert run_video(source, source, images / "style.png") == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.fixture(scope="module")
def fast_engine():
    """The shipped fast model: stability is a property of the trained network, not a random one."""
    return Engine.load("fast", device="cpu", precision="fp32")


def test_pan_error_is_zero_for_a_stable_result_and_lower_with_the_stabiliser(fast_engine):
    photo = np.array(gradient_image((40, 32), seed=7).resize((118, 96), Image.BICUBIC))  # smooth, like a photo
    frames = pan_frames(photo, window=96, step=2, count=12)
    assert pan_error(frames, 2) == 0.0  # the frames themselves move exactly with the picture
    style = fast_engine.style_stats(to_style(gradient_image((64, 64), seed=8)))
    pictures = [Image.fromarray(frame) for frame in frames]
    independent = FrameStylizer(fast_engine, style, temporal="none")(pictures)
    stabilised = FrameStylizer(fast_engine, style, temporal="flow")(pictures)
    assert pan_error(stabilised, 2) < 0.8 * pan_error(independent, 2)
    # The first frame has nothing to carry forward: it is the network's own result.
    assert np.array_equal(stabilised[0], independent[0])


def test_the_low_pass_of_the_detail_restore_is_close_to_a_full_size_gaussian_blur():
    image = np.array(gradient_image((40, 32), seed=3).resize((171, 128), Image.BICUBIC)).astype(np.float32)
    image += np.random.default_rng(0).normal(0, 20, image.shape).astype(np.float32)  # detail to keep apart
    blurred, exact = low_pass(image, 8.0), cv2.GaussianBlur(image, (0, 0), 8.0)
    assert blurred.shape == image.shape and blurred.dtype == np.float32
    assert np.abs(blurred - exact).mean() < 0.1 * np.abs(image - exact).mean()


def to_style(img):
    from stylize.media.images import to_tensor
    return to_tensor(img)


def test_the_stabiliser_does_not_ghost_across_a_cut():
    picture = np.array(gradient_image((64, 64), seed=1)) // 4
    first, cut = picture + 180, picture  # a bright shot, then a dark one: no colour in common
    stabiliser = FlowStabiliser()
    stabiliser(first, first)
    assert np.abs(stabiliser(cut, cut).astype(int) - cut).max() <= 1
