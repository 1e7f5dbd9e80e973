"""The four process KPIs and their rollups."""
