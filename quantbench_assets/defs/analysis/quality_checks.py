"""Great Expectations suites on the dbt marts, as Dagster asset checks on the marts' asset keys.

dbt's own tests cover keys and grains; these cover what a key test cannot see: accuracies outside
[0, 1], intervals that miss their estimate, a model with no or two baselines, a tier the seed does
not define. The tier set is read from the seed in the warehouse, so a new tier needs no code change.
"""

import dagster as dg

from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.analysis.expectations import MARTS, validate_mart

from ..resources import WarehouseResource

TIERS_SQL = "select tier from seeds.quality_tier_thresholds order by rank"


def read_mart(duckdb: WarehouseResource, mart: str):
    """The mart as pandas and the seed's tier names; None for the mart when it was never built."""
    with duckdb.connect(read_only=True) as con:
        if not warehouse.table_exists(con, "marts", mart):
            return None, []
        tiers = [r[0] for r in con.execute(TIERS_SQL).fetchall()] if warehouse.table_exists(
            con, "seeds", "quality_tier_thresholds") else []
        return con.execute(f'select * from marts."{mart}"').df(), tiers


def mart_check(mart: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["marts", mart]), name=f"great_expectations_{mart}", blocking=True,
        description=f"Great Expectations suite for {mart} (lib.mart_expectations).",
    )
    def _check(duckdb: WarehouseResource) -> dg.AssetCheckResult:
        df, tiers = read_mart(duckdb, mart)
        if df is None:
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                       metadata={"reason": f"marts.{mart} does not exist"})
        result = validate_mart(mart, df, tiers)
        return dg.AssetCheckResult(
            passed=result.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows_validated": result.rows,
                "failed_expectations": len(result.failures),
                "failures": dg.MetadataValue.json(result.failures),
                "allowed_tiers": dg.MetadataValue.json(tiers),
            },
        )

    return _check


MART_CHECKS = [mart_check(mart) for mart in MARTS]


@dg.definitions
def quality_check_definitions() -> dg.Definitions:
    return dg.Definitions(asset_checks=MART_CHECKS)
