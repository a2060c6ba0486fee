"""Domain randomisation: per-scene device and artefacts, drawn within their documented ranges."""

import numpy as np
import pytest

from backscatter.synth.domain import DomainRanges
from backscatter.synth.render import render_scene

RANGES = DomainRanges()


@pytest.mark.parametrize("seed", [3, 11])
def test_domain_keeps_the_scene_content_and_changes_the_device(seed: int) -> None:
    plain = render_scene(seed, size=(192, 192))
    rand = render_scene(seed, size=(192, 192), domain=RANGES)
    assert plain.family == rand.family
    assert [a.class_id for a in plain.annotations] == [a.class_id for a in rand.annotations]
    assert "domain" in rand.params and "domain" not in plain.params
    assert not np.array_equal(plain.pixels, rand.pixels)


def test_draws_stay_within_their_ranges_and_vary() -> None:
    seen = [render_scene(s, size=(128, 128), domain=RANGES) for s in range(24)]
    d = [r.params["domain"] for r in seen]
    for key in ("energy_kev", "standoff_cm", "counts_per_signal", "offset_full_scale"):
        lo, hi = getattr(RANGES, key) if key != "offset_full_scale" else RANGES.offset_full_scale
        values = [x[key] for x in d]
        assert lo - 1e-6 <= min(values) and max(values) <= hi + 1e-2
        assert len(set(values)) > 10
    bits = {r.bits_stored for r in seen}
    assert len(bits) >= 3 and bits <= set(RANGES.bits)
    for r in seen:  # values fit the drawn bit depth, offset included
        assert int(r.pixels.max()) <= 2**r.bits_stored - 1
        assert r.pixels.min() >= 0


def test_gain_setting_puts_the_99th_percentile_where_drawn() -> None:
    for s in range(6):
        r = render_scene(s, size=(256, 256), domain=RANGES)
        d = r.params["domain"]
        fs = 2**r.bits_stored - 1
        p99 = np.percentile(r.pixels.astype(np.float64), 99) / fs - d["offset_full_scale"]
        target = min(d["p99_full_scale"], 1.0 - d["offset_full_scale"])
        assert p99 == pytest.approx(target, rel=0.35, abs=0.03)


def test_ranges_refuse_impossible_bit_depths() -> None:
    with pytest.raises(ValueError, match="bits"):
        DomainRanges(bits=(4,), bits_weights=(1.0,))
