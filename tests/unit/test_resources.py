"""Resource amounts (core.resources): parsing a job's `resources` and a worker's
`--resources`, formatting them back, and the arithmetic a worker does with them."""

from __future__ import annotations

import pytest

from queuectl import errors
from queuectl.core import resources as r

G = 1024**3


@pytest.mark.parametrize(("value", "expected"), [
    ({"cpu": 8, "memory": "16G"}, {"cpu": 8000, "memory": 16 * G}),
    ({"gpu": 1, "memory": "40G"}, {"gpu": 1, "memory": 40 * G}),
    ({"licence": 1}, {"licence": 1}),
    ({"cpu": 0.5}, {"cpu": 500}),
    ({"cpu": "0.25"}, {"cpu": 250}),
    ({"memory": 1048576}, {"memory": 1024**2}),
    ({"memory": "512M"}, {"memory": 512 * 1024**2}),
    ({"memory": "1.5G"}, {"memory": 3 * G // 2}),
    ({"memory": "2GiB"}, {"memory": 2 * G}),
    ({"memory": "2Gi"}, {"memory": 2 * G}),
    ({"memory": "1t"}, {"memory": 1024 * G}),
    ({"memory": "64K"}, {"memory": 64 * 1024}),
    ({"gpu": 2.0}, {"gpu": 2}),
    ({"gpu": 0, "cpu": 1}, {"cpu": 1000}),  # 0 is the same as leaving it out
    ({}, {}),
])
def test_a_job_s_resources_in_base_units(value, expected):
    assert r.parse_job(value) == expected


@pytest.mark.parametrize(("value", "needle"), [
    ([1], "must be an object"),
    ("cpu=1", "must be an object"),
    ({"cpu": -1}, "cpu must be a non-negative number"),
    ({"cpu": 0.0005}, "at most three decimal places"),
    ({"cpu": True}, "cpu must be a number, got true"),
    ({"cpu": None}, "cpu must be a number"),
    ({"cpu": float("nan")}, "cpu must be a number"),
    ({"cpu": float("inf")}, "cpu must be"),
    ({"cpu": 10**7}, "cpu must be at most 1000000"),
    ({"gpu": 1.5}, "gpu must be a whole number"),
    ({"gpu": "two"}, "gpu must be a whole number"),
    ({"gpu": "\u0661"}, "gpu must be a whole number"),  # an Arabic-Indic digit one
    ({"memory": "16X"}, "memory must be bytes or a number with K, M, G or T"),
    ({"memory": "16i"}, "memory must be bytes"),
    ({"memory": "1.5"}, "whole bytes"),
    ({"memory": "-1G"}, "memory must be bytes"),
    ({"memory": "1e9"}, "memory must be bytes"),
    ({"memory": "2000000P"}, "memory must be bytes"),
    ({"memory": 2**61}, "memory must be at most 1048576T"),
    ({"GPU": 1}, "resource names are lowercase"),
    ({"1gpu": 1}, "resource names are lowercase"),
    ({"g-pu": 1}, "resource names are lowercase"),
    ({"x" * 64: 1}, "resource names are lowercase"),
    ({f"r{i}": 1 for i in range(17)}, "at most 16"),
])
def test_bad_resources_are_one_line_naming_the_field(value, needle):
    with pytest.raises(errors.InvalidJob) as caught:
        r.parse_job(value, "job 3: ")
    message = str(caught.value)
    assert message.startswith("job 3: field 'resources'") and needle in message
    assert "\n" not in message


def test_a_worker_s_offer():
    assert r.parse_offer("cpu=16,memory=64G,gpu=2,licence=5") == {
        "cpu": 16000, "memory": 64 * G, "gpu": 2, "licence": 5}
    assert r.parse_offer(" cpu = 0.5 , gpu=0") == {"cpu": 500, "gpu": 0}


@pytest.mark.parametrize(("text", "needle"), [
    ("", "expected NAME=AMOUNT"),
    ("cpu", "expected NAME=AMOUNT"),
    ("cpu=", "expected NAME=AMOUNT"),
    ("=4", "expected NAME=AMOUNT"),
    ("cpu=4,cpu=2", "cpu is given twice"),
    ("cpu=4,", "expected NAME=AMOUNT"),
    ("memory=lots", "memory must be bytes"),
    ("Gpu=1", "resource names are lowercase"),
])
def test_a_bad_offer_is_a_usage_error(text, needle):
    with pytest.raises(errors.UsageError) as caught:
        r.parse_offer(text)
    assert str(caught.value).startswith("invalid --resources: ") and needle in str(caught.value)


def test_amounts_are_written_back_as_people_write_them():
    amounts = r.parse_job({"licence": 5, "memory": "16G", "gpu": 2, "cpu": 0.5, "a": 1})
    assert r.format_amounts(amounts) == "cpu=0.5,memory=16G,gpu=2,a=1,licence=5"
    assert r.to_json(amounts) == {"cpu": 0.5, "memory": 16 * G, "gpu": 2, "a": 1,
                                  "licence": 5}
    assert r.to_json({"cpu": 8000}) == {"cpu": 8}
    assert r.format_amount("memory", 1536) == "1536"  # 1.5K: not a whole number of K
    assert r.format_amount("memory", 3 * G // 2) == "1536M"
    assert r.format_amounts({}) == "-"
    for text in ("cpu=0.125,memory=1536M,gpu=3", "cpu=12,memory=7", "licence=2"):
        assert r.format_amounts(r.parse_offer(text)) == text


def test_what_fits_and_what_is_left():
    free = r.parse_offer("cpu=4,memory=8G,gpu=2")
    assert r.fits(r.parse_job({"cpu": 4}), free)
    assert not r.fits(r.parse_job({"cpu": 4.001}), free)
    assert not r.fits(r.parse_job({"licence": 1}), free)  # a name not offered is 0
    assert r.fits({}, {})
    left = r.subtract(free, r.parse_job({"cpu": 1.5, "gpu": 1}))
    assert left == {"cpu": 2500, "memory": 8 * G, "gpu": 1}
    assert r.add(left, r.parse_job({"cpu": 1.5, "gpu": 1})) == free
    with pytest.raises(ValueError, match="does not fit"):
        r.subtract(left, {"gpu": 2})


def test_why_a_job_fits_nowhere():
    need = r.parse_job({"gpu": 4})
    offers = [r.parse_offer("cpu=8,gpu=2"), r.parse_offer("cpu=64,gpu=1")]
    assert r.shortfall(need, offers) == "needs gpu=4; the largest live worker offers gpu=2"
    assert r.shortfall(need, []) == "needs gpu=4; no live worker"
    assert r.shortfall(need, [*offers, r.parse_offer("gpu=4")]) is None
    both = r.parse_job({"cpu": 16, "memory": "1T"})
    assert r.shortfall(both, [r.parse_offer("cpu=8,memory=64G")]) == (
        "needs cpu=16,memory=1T; the largest live worker offers cpu=8,memory=64G")


def test_gpus_are_assigned_lowest_free_first():
    assert r.pick_gpus(2, range(4), held=[0, 2]) == [1, 3]
    assert r.pick_gpus(0, range(2), held=[]) == []
    with pytest.raises(ValueError, match="3 GPUs wanted, 2 free"):
        r.pick_gpus(3, range(4), held=[1, 3])
