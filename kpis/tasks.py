"""Celery entry points of the KPIs: thin and idempotent."""

from celery import shared_task

from kpis.services import kpi_rollup_dirty


@shared_task(name="kpis.tasks.kpi_rollup", ignore_result=True)
def kpi_rollup_dirty_task() -> dict:
    """Periodic (beat, every ``KPI_ROLLUP_SECONDS``): recompute the periods whose records changed
    and the current ones. A repeat run finds nothing dirty but the current periods."""
    return kpi_rollup_dirty()
