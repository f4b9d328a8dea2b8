"""The year in review: what it shows (report_data), the page with its SVG charts
(report, svg_charts), the PNG charts for Dagster's metadata (charts, which imports
matplotlib: import it only where PNGs are drawn), and the metrics reshaped for them
(insights)."""
