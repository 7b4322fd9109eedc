"""The charts' in-place previews for the Dagster asset page: markdown images short enough for the UI
to render inline (Dagster 1.13 shows markdown metadata in place only under 1,000 characters), whose
SVG parses and draws one line per model, or one cell per rung."""
from urllib.parse import unquote
from xml.etree import ElementTree

import polars as pl
import pytest

from quantbench_assets.lib.reporting import charts
from quantbench_tests.test_reports import LADDER

SVG = "{http://www.w3.org/2000/svg}"


def parse(md: str) -> ElementTree.Element:
    prefix = "data:image/svg+xml;utf8,"
    assert md.startswith("![") and prefix in md and md.endswith(")")
    return ElementTree.fromstring(unquote(md.split(prefix, 1)[1][:-1]))


def ladder_of(n_models: int) -> pl.DataFrame:
    return pl.concat([LADDER.with_columns(pl.lit(f"model-{k}").alias("model"), pl.col("accuracy") - k / 100)
                      for k in range(n_models)])


@pytest.mark.parametrize("name", ["accuracy_vs_size", "speed_vs_size"])
def test_a_line_preview_fits_the_inline_limit_and_draws_one_line_per_model(name):
    md = charts.preview_markdown(name, ladder_of(3))
    assert md is not None and len(md) < charts.MD_INLINE_LIMIT
    svg = parse(md)
    lines = svg.findall(f"{SVG}polyline")
    assert len(lines) == 3 and all(len(line.get("points").split()) == 4 for line in lines)
    assert [t.text for t in svg.findall(f"{SVG}text")] == ["model-0", "model-1", "model-2"]


def test_the_lines_follow_the_data():
    svg = parse(charts.preview_markdown("speed_vs_size", LADDER))
    points = [tuple(map(int, p.split(","))) for p in svg.find(f"{SVG}polyline").get("points").split()]
    xs, ys = zip(*points)
    assert list(xs) == sorted(xs)  # by size
    assert list(ys) == sorted(ys)  # bigger is slower: the line falls (SVG y grows downwards)


def test_the_heatmap_preview_has_one_cell_per_rung_in_its_tier_colour():
    svg = parse(charts.preview_markdown("tier_heatmap", LADDER))
    fills = [r.get("fill") for r in svg.findall(f"{SVG}rect")]
    assert fills == [charts.TIER_COLOURS[t] for t in LADDER["tier"]]


def test_too_many_models_drop_the_legend_then_the_preview_rather_than_overflow():
    for n in (1, 4, 8, 30):
        md = charts.preview_markdown("accuracy_vs_size", ladder_of(n))
        assert md is None or len(md) < charts.MD_INLINE_LIMIT
    assert charts.preview_markdown("accuracy_vs_size", ladder_of(30)) is None
    assert charts.preview_markdown("accuracy_vs_size", LADDER.drop("accuracy")) is None
