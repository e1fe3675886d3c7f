"""The one place where a request's rules live: stylize.pipelines.request.check_inputs, and the job planner."""
from pathlib import Path

import pytest

from stylize.errors import ImageTooLarge, StylizeError
from stylize.media.images import size_limit
from stylize.pipelines.jobs import batches, plan_jobs
from stylize.pipelines.request import StyleRequest, check_inputs, parse_blend


def request(**fields):
    return StyleRequest(**{"contents": ("photo.jpg",), "styles": ("a.jpg", "b.jpg"), **fields})


@pytest.mark.parametrize("fields, message", [
    ({"alpha": float("nan")}, "alpha must be a finite number"),
    ({"alpha": float("inf")}, "alpha must be a finite number"),
    ({"alpha": 1.5}, "alpha must be between 0 and 1"),
    ({"style_weights": "nan,1"}, "style weights must be a finite number"),
    ({"style_weights": "inf,inf"}, "style weights must be a finite number"),
    ({"style_weights": "1"}, "got 1 style weights for 2"),
    ({"style_weights": "0,0"}, "not all zero"),
    ({"style_weights": "1,-1"}, "non-negative"),
    ({"style_weights": "1,x"}, "comma-separated numbers"),
    ({"masks": ("m.png",)}, "got 1 masks for 2"),
    ({"masks": ("m.png", "n.png"), "style_weights": "1,1"}, "either masks or style weights"),
    ({"styles": (), "style_name": "starry:nan"}, "finite number"),
    ({"styles": (), "style_name": "starry:0.5,wave:0.2"}, "must sum to 1"),
    ({"styles": (), "style_name": "starry", "preserve_color": True}, "need style images"),
    ({"styles": ()}, "either style images or a bank style"),
    ({"model": "tiny"}, "unknown model"),
    ({"content_size": -1}, "content_size must be 0 or more"),
    ({"max_pixels": 0}, "max pixels must be more than 0"),
])
def test_every_rule_is_one_clear_error(fields, message):
    with pytest.raises(StylizeError, match=message):
        check_inputs(request(**fields))


def test_server_limits():
    with pytest.raises(StylizeError, match="max side 256"):
        check_inputs(request(content_size=4096), max_side=256)
    with pytest.raises(StylizeError, match="between 1 and"):
        check_inputs(request(style_size=0), max_side=256)
    with pytest.raises(StylizeError, match="too many style images: 2"):
        check_inputs(request(), max_styles=1)


def test_a_style_is_read_at_its_models_side_unless_the_request_says():
    assert check_inputs(request()).style_size == 512  # quality
    assert check_inputs(request(model="fast")).style_size == 320
    assert check_inputs(request(model="fast", style_size=512)).style_size == 512
    assert check_inputs(request(style_size=0)).style_size == 0  # keeps the painting's size
    assert check_inputs(request(content_size=256), max_side=256).style_size == 256  # a server's limit caps the default
    with pytest.raises(StylizeError, match="style_size must be between 1 and the server's max side 256"):
        check_inputs(request(content_size=256, style_size=300), max_side=256)  # but not what a client asked for


def test_checked_request_has_normalised_weights_and_a_parsed_blend():
    assert check_inputs(request(style_weights="3,1")).style_weights == (0.75, 0.25)
    checked = check_inputs(request(styles=(), style_name="starry:0.25, wave:0.75"))
    assert checked.blend == (("starry", 0.25), ("wave", 0.75))
    assert parse_blend("starry") == (("starry", 1.0),)


def test_size_limit_counts_the_resized_image():
    check = size_limit(1_000_000, 512, "style size")
    check(512, 512, "ok.png")  # 0.26 MP
    with pytest.raises(ImageTooLarge, match=r"style.png \(8000x100\) would be worked on at 40960x512"):
        check(8000, 100, "style.png")  # a thin strip blows up when its shorter side becomes 512
    size_limit(1_000_000, 0, "content size")(1000, 1000, "keeps.png")  # 0 keeps the size
    with pytest.raises(ImageTooLarge):
        size_limit(64_000_000, 100_000, "content size")(64, 48, "photo.png")


def test_max_pixels_above_the_default_lifts_the_decoding_limit_too():
    with pytest.raises(ImageTooLarge, match=r"image too large: big.png is 9000x8000, over the limit of 64,000,000"):
        size_limit()(9000, 8000, "big.png")
    size_limit(100_000_000, 0)(9000, 8000, "big.png")  # --max-pixels 100000000 lets it through, decoded and worked
    size_limit(65_536, 32)(8000, 6000, "photo.png")  # a server's working limit does not lower the decoding one


def test_plan_names_outputs_and_batches_consecutive_jobs_of_one_style():
    plain = check_inputs(request(contents=("x/p1.jpg", "x/p2.jpg")))
    plan = plan_jobs(plain, Path("out"), "png")
    assert [str(j.output) for j in plan.jobs] == ["out/p1_stylized_a.png", "out/p2_stylized_a.png",
                                                  "out/p1_stylized_b.png", "out/p2_stylized_b.png"]
    assert [len(run) for run in batches(plan.jobs, 8, batchable=True)] == [2, 2]
    assert [len(run) for run in batches(plan.jobs, 8, batchable=False)] == [1, 1, 1, 1]
    combined = plan_jobs(check_inputs(request(style_weights="1,1")), None, "jpg")
    assert [str(j.output) for j in combined.jobs] == ["output/photo_stylized_a+b.jpg"]
    bank = plan_jobs(check_inputs(request(styles=(), style_name="starry:0.5,wave:0.5")), Path("r.png"))
    assert [str(j.output) for j in bank.jobs] == ["r.png"]
    with pytest.raises(StylizeError, match="is a file name, but this run makes several images"):
        plan_jobs(plain, Path("one.png"))
