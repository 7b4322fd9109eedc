"""Per-model findings of the report, on hand-made marts rows."""
import polars as pl

from quantbench_assets.lib.reporting.report_findings import model_findings


def test_the_base_rungs_kld_is_named_base_not_printed_as_a_number():
    # The base rung compared with its own compressed cache gives compression noise, even slightly
    # negative (-5e-08 on the demo's SmolLM2 F16): the findings must not present it as a KLD.
    shift = pl.DataFrame({"variant": ["m__F16", "m__Q8_0", "m__Q2_K"], "is_base": [True, False, False],
                          "kld_mean": [-5.04e-08, 0.00407, 0.416]})
    lines = model_findings("m", None, shift, None)
    kld_line = next(line for line in lines if line.startswith("- KL divergence vs the base rung"))
    assert "F16 (base)" in kld_line and "-5.04e-08" not in kld_line
    assert "Q8_0 0.00407" in kld_line and "Q2_K 0.416" in kld_line
    assert any("Cliff at Q2_K" in line for line in lines)
